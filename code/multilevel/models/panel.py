"""Panel-data pieces that linearmodels, statsmodels and pandas do not provide.

The book gets its panel estimators from ``linearmodels`` (``PanelOLS(...,
entity_effects=True)``, ``BetweenOLS``, ``RandomEffects``), single-level least squares
from statsmodels and group dummies from ``pandas.get_dummies``. This module keeps what
they do not do, and each function's docstring says which gap it fills:

- :func:`hausman_test`: Hausman's test between *any* fixed-effects fit and *any*
  random-effects fit (a linearmodels result, a statsmodels result or a
  ``multilevel.MixedModelResult`` from ``multilevel.lmer``), with the
  covariance difference handled in its eigenvectors;
- :func:`quasi_demeaning_theta`: the random-effects quasi-demeaning weight from any
  variance estimates (e.g. lmer's REML ones) and any group sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from multilevel._checks import (
    MultilevelInputError,
    as_list,
)
from scipy import stats


def quasi_demeaning_theta(
    sigma_group: float, sigma_residual: float, group_size: float | np.ndarray
) -> float | np.ndarray:
    """The random-effects estimator's quasi-demeaning weight for groups of size ``m``.

    ``theta = 1 - sqrt(s_e^2 / (s_e^2 + m s_u^2))``. The random-effects (GLS)
    estimator equals least squares of ``y_ij - theta_j * mean_j(y)`` on
    ``x_ij - theta_j * mean_j(x)``: with ``theta = 0`` it is pooled least squares,
    with ``theta = 1`` the fixed-effects (within) estimator. Large groups and a
    large group variance relative to the residual variance push ``theta`` towards 1.

    Gap filled: linearmodels' ``RandomEffects`` reports ``theta`` only for its own fit,
    from its Swamy-Arora variance estimates; this computes it from any estimates (such
    as the REML standard deviations in ``multilevel.lmer(...).varcorr``) and group sizes.

    Parameters
    ----------
    sigma_group, sigma_residual
        Standard deviations of the group effects and of the residual.
    group_size
        Observations per group: a number, or an array of sizes (one per group).

    Returns
    -------
    float or numpy.ndarray
        A float for a scalar ``group_size``, else an array of the same shape.

    Examples
    --------
    >>> print(f"{quasi_demeaning_theta(0.7, 0.2, 5):.3f}")
    0.873
    >>> quasi_demeaning_theta(0.7, 0.2, [1, 5, 20]).round(3).tolist()
    [0.725, 0.873, 0.936]
    """
    for name, value in (("sigma_group", sigma_group), ("sigma_residual", sigma_residual)):
        if not np.isfinite(value) or value < 0:
            raise MultilevelInputError(f"`{name}` must be a finite standard deviation >= 0.")
    if sigma_residual == 0:
        raise MultilevelInputError(
            "`sigma_residual` is 0: every observation sits on its group's line and the weight is "
            "undefined. Check the model."
        )
    sizes = np.asarray(group_size, dtype=float)
    if not np.all(np.isfinite(sizes)) or np.any(sizes < 1):
        raise MultilevelInputError(f"`group_size` must be >= 1, got {group_size!r}.")
    theta = 1.0 - np.sqrt(sigma_residual**2 / (sigma_residual**2 + sizes * sigma_group**2))
    return float(theta) if theta.ndim == 0 else theta


_INTERCEPT_NAMES = ("Intercept", "const", "(Intercept)")
# Relative size below which an eigenvalue of V_FE - V_RE counts as not positive.
_EIGENVALUE_TOL = 1e-8


def _coefficients_and_covariance(fit: object, name: str) -> tuple[pd.Series, pd.DataFrame]:
    """Named coefficients and their covariance matrix from a fit, by duck typing.

    ``.params`` must be a named Series; the covariance is ``.cov`` (linearmodels) or
    ``.cov_params()`` (statsmodels, ``multilevel.MixedModelResult``).
    """
    params = getattr(fit, "params", None)
    cov = getattr(fit, "cov", None)  # linearmodels results
    if not isinstance(cov, pd.DataFrame):
        cov = getattr(fit, "cov_params", None)
        if callable(cov):  # statsmodels results, multilevel.MixedModelResult
            cov = cov()
    if isinstance(params, pd.Series) and isinstance(cov, pd.DataFrame):
        return params, cov
    raise MultilevelInputError(
        f"`{name}` must be a fitted model with named coefficients `.params` (a pandas Series) "
        "and their covariance, `.cov_params()` (statsmodels, multilevel.lmer) or `.cov` "
        f"(linearmodels); got {type(fit).__name__}."
    )


def _nobs(fit: object) -> int | None:
    value = getattr(fit, "nobs", None)
    try:
        return int(value) if value is not None and np.isfinite(value) else None
    except TypeError:
        return None


@dataclass(frozen=True)
class HausmanTest:
    """Result of :func:`hausman_test`.

    Attributes
    ----------
    statistic, df, p_value
        The chi-squared statistic, its degrees of freedom (the number of
        directions in which the covariance difference is positive) and p-value.
    comparison
        One row per compared coefficient: the fixed- and random-effects
        estimates, their difference, and the difference's standard error
        (``NaN`` where the estimated variance of the difference is not positive).
    eigenvalues
        Eigenvalues of ``V_FE - V_RE``, smallest first.
    positive_definite
        Whether ``V_FE - V_RE`` is positive definite. If not, ``df`` is smaller
        than the number of coefficients compared.
    """

    statistic: float
    df: int
    p_value: float
    comparison: pd.DataFrame
    eigenvalues: np.ndarray
    positive_definite: bool

    @property
    def n_dropped(self) -> int:
        """Directions left out because their variance was not positive."""
        return len(self.comparison) - self.df

    def summary(self) -> str:
        """One line in the style of a textbook report of the test.

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> fit = lambda b, v: SimpleNamespace(params=pd.Series({"x": b}),
        ...                                    cov=pd.DataFrame([[v]], ["x"], ["x"]))
        >>> hausman_test(fit(1.0, 0.5), fit(0.0, 0.25)).summary()
        'Hausman test: chi2(1) = 4.00, p = 0.0455'
        """
        line = f"Hausman test: chi2({self.df}) = {self.statistic:.2f}, p = {self.p_value:.3g}"
        if not self.positive_definite:
            line += (f" (V_FE - V_RE is not positive definite: {self.n_dropped} of "
                     f"{len(self.comparison)} directions dropped)")
        return line


def hausman_test(
    fixed: object,
    random: object,
    names: str | list[str] | None = None,
) -> HausmanTest:
    """Hausman's (1978) test of random effects against fixed effects.

    Gap filled: ``linearmodels`` has a Hausman test only as a method of its own
    ``RandomEffects`` results (Swamy-Arora variances), and statsmodels has none; the
    book compares fixed effects with lme4-style REML random effects
    (``multilevel.lmer``). This function takes any two fits that have named
    ``.params`` and a covariance matrix: ``.cov`` (linearmodels' ``PanelOLS``,
    ``RandomEffects``) or ``.cov_params()`` (statsmodels, ``multilevel.lmer``).

    Under the null hypothesis that the group effects are uncorrelated with the
    covariates, both estimators are consistent and random effects is efficient,
    so the variance of their difference ``q = b_FE - b_RE`` is ``V_FE - V_RE`` and

    ``H = q' (V_FE - V_RE)^- q``

    is chi-squared. If the group effects are correlated with the covariates,
    fixed effects stays consistent but random effects does not, and ``H`` grows.

    In finite samples the estimated ``V_FE - V_RE`` need not be positive
    definite. This function works in the eigenvectors of the difference: it
    keeps the directions whose eigenvalue is positive (greater than 1e-8
    times the largest absolute eigenvalue), uses the generalised inverse there,
    and counts those directions as the degrees of freedom. With a positive
    definite difference that is the usual formula; with a singular one it is
    the Moore-Penrose generalised-inverse form with ``df`` equal to the rank of
    the difference (see Hausman 1978 and Wooldridge 2010, ch. 10, on the test
    and on singular differences); a direction with a negative variance
    estimate carries no usable information and is dropped (a generalised inverse
    of an indefinite matrix could make ``H`` negative). The result says when this
    happened (``positive_definite``, ``n_dropped``). (``linearmodels``'
    ``RandomEffectsResults.hausman`` also uses a generalised inverse but keeps
    ``df`` at the number of coefficients; with a positive definite difference the
    two agree exactly.) The Mundlak regression test (each group's means of the
    covariates added to the random-effects model, and a Wald test that their
    coefficients are zero) is always well defined and is the usual alternative.

    Parameters
    ----------
    fixed
        The fixed-effects fit, e.g. ``PanelOLS(..., entity_effects=True).fit()``.
    random
        The random-effects fit, e.g. ``multilevel.lmer("y ~ x + (1 | g)", data)`` or
        linearmodels' ``RandomEffects(...).fit()``.
    names
        Coefficients to compare; by default every coefficient the two fits share,
        except the intercept. Coefficients of covariates that do not vary within
        groups cannot be compared: fixed effects cannot estimate them.

    Examples
    --------
    >>> import multilevel
    >>> from linearmodels.panel import PanelOLS
    >>> from multilevel.simulate import simulate_students
    >>> df = simulate_students(correlated=True, seed=1)
    >>> panel = df.assign(t=df.groupby("student").cumcount()).set_index(["student", "t"])
    >>> fe = PanelOLS(panel["score"], panel[["hours"]], entity_effects=True).fit()
    >>> re = multilevel.lmer("score ~ hours + (1 | student)", df)
    >>> test = hausman_test(fe, re)
    >>> test.df, bool(test.p_value < 0.001)
    (1, True)
    """
    b_fe, v_fe = _coefficients_and_covariance(fixed, "fixed")
    b_re, v_re = _coefficients_and_covariance(random, "random")
    n_fe, n_re = _nobs(fixed), _nobs(random)
    if n_fe is not None and n_re is not None and n_fe != n_re:
        raise MultilevelInputError(
            f"the two fits use different numbers of observations ({n_fe} and {n_re}); "
            "fit both models to the same rows."
        )
    shared = [t for t in b_fe.index if t in b_re.index and t not in _INTERCEPT_NAMES]
    names = shared if names is None else as_list(names)
    if not names:
        raise MultilevelInputError(
            "the two fits share no coefficient to compare; the fixed-effects fit estimates "
            f"{list(b_fe.index)} and the random-effects fit {list(b_re.index)}."
        )
    missing = [t for t in names if t not in b_fe.index or t not in b_re.index]
    if missing:
        raise MultilevelInputError(
            f"term(s) {missing} are not estimated by both fits (fixed effects: {list(b_fe.index)}; "
            f"random effects: {list(b_re.index)}). Only coefficients of covariates that vary "
            "within groups can be compared."
        )
    q = (b_fe[names] - b_re[names]).to_numpy(float)
    diff = v_fe.loc[names, names].to_numpy(float) - v_re.loc[names, names].to_numpy(float)
    diff = (diff + diff.T) / 2
    eigenvalues, vectors = np.linalg.eigh(diff)
    scale = float(np.max(np.abs(eigenvalues)))
    keep = (eigenvalues > _EIGENVALUE_TOL * scale if scale > 0
            else np.zeros_like(eigenvalues, dtype=bool))
    df = int(keep.sum())
    if df:
        z = vectors[:, keep].T @ q
        statistic = float(np.sum(z**2 / eigenvalues[keep]))
        p_value = float(stats.chi2.sf(statistic, df))
    else:
        statistic = p_value = float("nan")
    variances = np.diag(diff)
    comparison = pd.DataFrame(
        {
            "fixed": b_fe[names].to_numpy(float),
            "random": b_re[names].to_numpy(float),
            "difference": q,
            "std_error_difference": np.where(
                variances > 0, np.sqrt(np.clip(variances, 0, None)), np.nan
            ),
        },
        index=pd.Index(names, name="term"),
    )
    return HausmanTest(
        statistic=statistic,
        df=df,
        p_value=p_value,
        comparison=comparison,
        eigenvalues=eigenvalues,
        positive_definite=bool(df == len(names)),
    )
