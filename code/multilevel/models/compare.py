"""Comparing and summarising fitted linear mixed models: likelihood-ratio tests,
variance explained at each level, and the share of variance at each level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from multilevel._checks import (
    MultilevelInputError,
)
from multilevel.models.lmm import RandomInterceptFit, VarianceComponentsFit
from multilevel.models.mixedlm import MixedFit
from scipy import stats


def lr_test(restricted: MixedFit, full: MixedFit) -> pd.Series:
    """Likelihood-ratio test of a restricted model against a fuller one, both fitted by ML.

    Returns the statistic ``2 (loglik_full - loglik_restricted)``, its degrees of
    freedom (the difference in parameter counts) and the chi-squared p-value. When
    the restriction sets a variance to zero the p-value is conservative (the null
    lies on the boundary; halving it is the usual correction for one variance).

    Examples
    --------
    >>> from multilevel.models import fit_mixed
    >>> from multilevel.simulate import simulate_students
    >>> df = simulate_students(seed=1)
    >>> small = fit_mixed(df, "score ~ 1", group="student", reml=False)
    >>> big = fit_mixed(df, "score ~ hours", group="student", reml=False)
    >>> bool(lr_test(small, big)["p_value"] < 0.001)
    True
    """
    if restricted.reml or full.reml:
        raise MultilevelInputError(
            "likelihood-ratio tests need ML fits: refit both models with reml=False "
            "(REML likelihoods of models with different fixed effects are not comparable)."
        )
    if restricted.result.nobs != full.result.nobs:
        raise MultilevelInputError("the two models were fitted to different numbers of rows.")
    df = full.n_params - restricted.n_params
    if df <= 0:
        raise MultilevelInputError(
            "`full` must have more parameters than `restricted`; swap the arguments?"
        )
    statistic = 2.0 * (full.loglik - restricted.loglik)
    return pd.Series(
        {"statistic": statistic, "df": df, "p_value": float(stats.chi2.sf(max(statistic, 0), df))}
    )


def variance_explained(baseline: MixedFit, fitted: MixedFit) -> pd.DataFrame:
    """Proportional reduction in the level-1 and level-2 variances from ``baseline`` to ``fitted``.

    ``(variance_baseline - variance_fitted) / variance_baseline`` for the residual (level-1)
    variance and for the random-intercept (level-2) variance, usually against the empty
    model (Raudenbush & Bryk 2002, ch. 4). The level-2 figure compares intercept
    variances, which depend on where the covariates with random slopes are centred; and
    either figure can be negative, because adding a level-1 covariate can raise the
    estimated level-2 variance (Snijders & Bosker 2012, ch. 7).

    Returns
    -------
    DataFrame with rows ``level 1 (residual)`` and ``level 2 (intercept)`` and columns
    ``baseline``, ``fitted`` (the variances) and ``reduction``.

    Examples
    --------
    >>> from multilevel.models import fit_mixed_profiled
    >>> from multilevel.simulate import simulate_students
    >>> df = simulate_students(seed=1)
    >>> empty = fit_mixed_profiled(df, "score ~ 1", group="student", reml=False)
    >>> full = fit_mixed_profiled(df, "score ~ hours", group="student", reml=False)
    >>> print(f"{variance_explained(empty, full).loc['level 1 (residual)', 'reduction']:.2f}")
    0.54
    """
    for name, fit in (("baseline", baseline), ("fitted", fitted)):
        if not isinstance(fit, MixedFit):
            raise MultilevelInputError(f"`{name}` must be a MixedFit, got {type(fit).__name__}.")
        if list(fit.result.model.data.exog_re_names)[:1] != ["Group"]:
            raise MultilevelInputError(
                f"`{name}` has no random intercept: the level-2 variance is the intercept's."
            )
    if baseline.reml != fitted.reml:
        raise MultilevelInputError(
            "fit both models the same way (both ML or both REML) before comparing variances."
        )
    if baseline.result.nobs != fitted.result.nobs:
        raise MultilevelInputError("the two models were fitted to different numbers of rows.")
    rows = {}
    for label, term in (("level 1 (residual)", "Residual"), ("level 2 (intercept)", "Group")):
        before = float(baseline.variance_components.loc[term, "variance"])
        after = float(fitted.variance_components.loc[term, "variance"])
        rows[label] = {"baseline": before, "fitted": after,
                       "reduction": (before - after) / before if before > 0 else np.nan}
    return pd.DataFrame(rows).T


def variance_shares(
    fit: MixedFit | VarianceComponentsFit | RandomInterceptFit,
    names: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Variance of each random intercept and of the residual, and each one's share of the total.

    The share of a level is the correlation between two observations that share
    a unit of that level and nothing else (two pupils of the same school in
    different classes share only the school's part). It is defined for models
    whose random part is intercepts only; a model with random slopes has no
    single variance per level, and this function refuses it.

    Parameters
    ----------
    fit
        A fit from :func:`fit_mixed` (random intercept and/or variance components),
        :func:`fit_crossed`, :func:`fit_variance_components` or :func:`fit_random_intercept`.
    names
        Optional new labels for the rows, e.g. ``{"Group": "school"}`` (statsmodels
        calls the random intercept of ``fit_mixed``'s groups ``"Group"``).

    Returns
    -------
    pandas.DataFrame
        One row per level (``Residual`` last) with ``variance``, ``sd`` and ``share``.

    Examples
    --------
    >>> from multilevel.models import fit_random_intercept
    >>> from multilevel.simulate import simulate_students
    >>> fit = fit_random_intercept(simulate_students(seed=1), "score", "hours", "student")
    >>> shares = variance_shares(fit)
    >>> print(f"{shares['share'].sum():.1f}", shares.index.tolist())
    1.0 ['student', 'Residual']
    """
    if isinstance(fit, VarianceComponentsFit):
        variances = fit.variances.copy()
    elif isinstance(fit, RandomInterceptFit):
        group = fit.group_effects.index.name or "group"
        variances = pd.Series({group: fit.sigma_group**2, "Residual": fit.sigma_residual**2})
    elif isinstance(fit, MixedFit):
        cov = fit.result.cov_re
        if cov.shape[0] > 1:
            raise MultilevelInputError(
                "the model has random slopes: a level's variance then depends on the covariate, "
                "so there is no single share per level. Refit with random intercepts only."
            )
        entries = {name: float(cov.iloc[0, 0]) for name in cov.index}
        vc_names = list(fit.result.model.exog_vc.names)
        entries.update(zip(vc_names, np.atleast_1d(fit.result.vcomp).astype(float)))
        entries["Residual"] = float(fit.result.scale)
        variances = pd.Series(entries)
    else:
        raise MultilevelInputError(
            f"`fit` must come from fit_mixed, fit_crossed, fit_variance_components or "
            f"fit_random_intercept, got {type(fit).__name__}."
        )
    variances = variances.rename(index=names or {})
    table = pd.DataFrame({"variance": variances, "sd": np.sqrt(variances),
                          "share": variances / variances.sum()})
    table.index.name = "level"
    return table
