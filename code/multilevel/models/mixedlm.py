"""Linear mixed models with statsmodels' ``MixedLM``, fitted deliberately.

statsmodels' default optimiser can stop short of the maximum and gradient
optimisers can return an infinite log-likelihood while reporting success, so
:func:`fit_mixed` and :func:`fit_crossed` try several optimisers, discard
non-finite runs and keep the best. :class:`MixedFit` reports standard errors as
lme4 does.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import linalg, sparse, stats
from statsmodels.regression.mixed_linear_model import MixedLMResultsWrapper
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from multilevel._checks import (
    MultilevelInputError,
    as_list,
    require_columns,
    require_complete,
    require_dataframe,
    require_groups,
)


@dataclass
class MixedFit:
    """A checked statsmodels ``MixedLM`` fit.

    Attributes
    ----------
    result
        The statsmodels results object of the best optimiser run.
    method
        The optimiser that gave the highest log-likelihood.
    reml
        Whether the fit is REML (log-likelihoods and AIC of REML fits with
        different fixed effects cannot be compared).
    attempts
        One row per optimiser tried: its log-likelihood and whether it converged.
    notes
        Warnings from statsmodels that were caught, kept for the reader to inspect.
    """

    result: MixedLMResultsWrapper
    method: str
    reml: bool
    attempts: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def params(self) -> pd.Series:
        """Fixed-effect estimates."""
        return self.result.fe_params

    @property
    def bse(self) -> pd.Series:
        """Standard errors of the fixed effects, as lme4 reports them.

        lme4 uses ``sigma^2 (X' V^-1 X)^-1`` at the estimated variance parameters.
        statsmodels' own ``result.bse_fe`` inverts the Hessian of the whole
        likelihood instead and differs slightly (by 2% on High School and Beyond).
        """
        return pd.Series(np.sqrt(np.diag(_gls_fixed_cov(self.result))), index=self.params.index)

    @property
    def loglik(self) -> float:
        """Maximised log-likelihood (restricted if REML), on lme4's scale."""
        return float(self.result.llf)

    @property
    def aic(self) -> float:
        """AIC; only defined for ML fits (``reml=False``)."""
        return float(self.result.aic) if not self.reml else float("nan")

    @property
    def bic(self) -> float:
        """BIC; only defined for ML fits (``reml=False``)."""
        return float(self.result.bic) if not self.reml else float("nan")

    @property
    def n_params(self) -> int:
        """Number of estimated parameters (fixed effects, covariance parameters and residual)."""
        k_re = self.result.cov_re.shape[0]
        return int(self.result.k_fe + k_re * (k_re + 1) // 2 + self.result.k_vc + 1)

    @property
    def fixed_effects(self) -> pd.DataFrame:
        """Estimates, standard errors, z, p and 95% intervals of the fixed effects."""
        est, se = self.params, self.bse
        z = est / se
        return pd.DataFrame(
            {
                "estimate": est,
                "std_error": se,
                "z": z,
                "p_value": 2 * stats.norm.sf(np.abs(z)),
                "ci_lower": est - 1.959964 * se,
                "ci_upper": est + 1.959964 * se,
            }
        )

    @property
    def variance_components(self) -> pd.DataFrame:
        """Variances and standard deviations of every random term and the residual.

        Rows: one per random effect (its variance on the diagonal of the random-effects
        covariance), one per correlation between random effects (``sd`` column holds the
        correlation), one per variance component, and ``Residual``.
        """
        rows = []
        cov = self.result.cov_re
        names = list(cov.index)
        for i, name in enumerate(names):
            rows.append({"term": name, "variance": cov.iloc[i, i], "sd": np.sqrt(cov.iloc[i, i])})
        for i in range(len(names)):
            for j in range(i):
                denom = np.sqrt(cov.iloc[i, i] * cov.iloc[j, j])
                cor = cov.iloc[i, j] / denom if denom > 0 else np.nan
                rows.append({"term": f"cor({names[j]}, {names[i]})", "variance": np.nan, "sd": cor})
        vc_names = list(self.result.model.exog_vc.names) if self.result.k_vc else []
        for name, value in zip(vc_names, np.atleast_1d(self.result.vcomp)):
            rows.append({"term": name, "variance": value, "sd": np.sqrt(value)})
        rows.append(
            {"term": "Residual", "variance": self.result.scale, "sd": np.sqrt(self.result.scale)}
        )
        return pd.DataFrame(rows).set_index("term")

    @property
    def random_effects(self) -> pd.DataFrame:
        """Predicted random effects (BLUPs), one row per group."""
        return pd.DataFrame(self.result.random_effects).T

    def summary(self) -> str:
        """A compact text summary in the spirit of ``print(lmer_fit)``.

        Examples
        --------
        >>> from multilevel.simulate import simulate_students
        >>> fit = fit_mixed(simulate_students(seed=1), "score ~ hours", group="student")
        >>> print(fit.summary().splitlines()[0])
        Linear mixed model fit by REML (statsmodels MixedLM, optimiser powell)
        """
        kind = "REML" if self.reml else "ML"
        lines = [
            f"Linear mixed model fit by {kind} (statsmodels MixedLM, optimiser {self.method})",
            f"  log-likelihood {self.loglik:.4f}; {self.result.nobs:.0f} observations, "
            f"{len(self.result.model.group_labels)} groups",
            "Random effects:",
            self.variance_components.to_string(float_format=lambda v: f"{v:.4f}"),
            "Fixed effects:",
            self.fixed_effects.iloc[:, :4].to_string(float_format=lambda v: f"{v:.4f}"),
        ]
        return "\n".join(lines)


def _gls_fixed_cov(result: MixedLMResultsWrapper) -> np.ndarray:
    """``scale * (X' V^-1 X)^-1``, lme4's covariance of the fixed effects, summed over groups.

    Within a group ``V = scale (I + Z Psi Z')``, with ``Psi`` the relative covariance of the
    random effects and variance components. The identity
    ``(I + Z Psi Z')^-1 = I - Z Psi (I + Z'Z Psi)^-1 Z'`` needs no inverse of ``Psi``, so
    singular fits (a zero variance, a correlation of +-1) are handled too.
    """
    model = result.model
    cov_re = np.asarray(result.cov_re_unscaled, dtype=float)
    vcomp = np.asarray(result.vcomp, dtype=float) / result.scale
    xtvx = 0.0
    for group_ix, _ in enumerate(model.group_labels):
        psi = linalg.block_diag(cov_re, np.diag(model._expand_vcomp(vcomp, group_ix)))
        z, ztz = model._aex_r[group_ix], model._aex_r2[group_ix]
        ztz = ztz.toarray() if sparse.issparse(ztz) else np.asarray(ztz)
        x = model.exog_li[group_ix]
        ztx = np.asarray(z.T @ x)
        inner = np.linalg.solve(np.eye(len(psi)) + ztz @ psi, ztx)
        xtvx = xtvx + x.T @ x - ztx.T @ psi @ inner
    return result.scale * np.linalg.inv(xtvx)


_HARMLESS = ("MLE may be on the boundary", "covariance is singular")


def _best_of_optimisers(
    model, reml: bool, methods: tuple[str, ...], options: dict[str, dict] | None = None
) -> MixedFit:
    """Fit ``model`` with each statsmodels optimiser in ``methods``; keep the best finite fit.

    A run that raises, returns a non-finite log-likelihood or does not converge is
    recorded in ``attempts`` and not used; warnings are kept as ``notes`` unless
    they only say that a variance sits on the boundary (a legitimate optimum).
    """
    if not methods:
        raise MultilevelInputError("`methods` must name at least one optimiser, e.g. ('powell',).")
    attempts, fits, notes = [], {}, []
    for method in methods:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = model.fit(reml=reml, method=method, **(options or {}).get(method, {}))
            except (np.linalg.LinAlgError, ValueError) as error:
                attempts.append({"method": method, "loglik": np.nan, "converged": False,
                                 "error": str(error)})
                continue
        finite = np.isfinite(result.llf) and np.all(np.isfinite(result.fe_params))
        attempts.append({"method": method, "loglik": float(result.llf),
                         "converged": bool(result.converged and finite), "error": ""})
        if finite:
            fits[method] = result
            notes += [f"{method}: {w.message}" for w in caught
                      if issubclass(w.category, (ConvergenceWarning, UserWarning, RuntimeWarning))]
    table = pd.DataFrame(attempts).set_index("method")
    usable = table[table["converged"]]
    if usable.empty:
        raise RuntimeError(
            f"MixedLM did not converge with any of {list(methods)}:\n{table.to_string()}\n"
            "Try rescaling covariates, simplifying the random part, or other optimisers."
        )
    best = usable["loglik"].idxmax()
    serious = [n for n in notes if n.startswith(best) and not any(h in n for h in _HARMLESS)]
    return MixedFit(result=fits[best], method=best, reml=reml, attempts=table, notes=serious)


def fit_mixed(
    data: pd.DataFrame,
    formula: str,
    group: str,
    re_formula: str | None = None,
    vc_formula: dict[str, str] | None = None,
    reml: bool = True,
    methods: tuple[str, ...] = ("powell", "nm"),
) -> MixedFit:
    """Fit a linear mixed model with statsmodels ``MixedLM``, choosing the optimiser deliberately.

    statsmodels' default optimiser can stop short of the maximum, and gradient
    optimisers can return an infinite log-likelihood while reporting success. So
    this function runs each optimiser in ``methods`` (derivative-free Powell and
    Nelder-Mead by default, which match lme4 to about 1e-5), discards runs with a
    non-finite log-likelihood, keeps the best, and raises if no run converged.

    Parameters
    ----------
    data
        One row per observation; every column the formulas use must be complete.
    formula
        Fixed part, e.g. ``"mAch ~ ses"``.
    group
        Grouping column for the random effects.
    re_formula
        Random part within ``group``: ``None`` or ``"1"`` for a random intercept,
        ``"~ses"`` for a correlated random intercept and slope.
    vc_formula
        Variance components nested in ``group`` (e.g. classes within schools,
        ``{"class": "0 + C(class)"}``) or crossed factors within one all-covering group.
    reml
        REML (lmer's default) or ML (needed for likelihood-ratio tests and AIC
        comparisons of models with different fixed effects).
    methods
        Optimisers to try, by statsmodels name.

    Examples
    --------
    >>> from multilevel.simulate import simulate_students
    >>> fit = fit_mixed(simulate_students(seed=1), "score ~ hours", group="student")
    >>> print(f"{fit.params['hours']:.2f}")
    0.77
    """
    require_dataframe(data)
    require_columns(data, [group])
    require_complete(data, [group])
    require_groups(data, group, min_groups=2)
    model = smf.mixedlm(formula, data, groups=data[group], re_formula=re_formula,
                        vc_formula=vc_formula, missing="raise")
    return _best_of_optimisers(model, reml, methods)


def fit_crossed(
    data: pd.DataFrame,
    formula: str,
    factors: str | list[str],
    reml: bool = True,
    methods: tuple[str, ...] = ("powell",),
) -> MixedFit:
    """Fit random intercepts for crossed (or any) grouping factors with statsmodels ``MixedLM``.

    ``MixedLM`` assumes that observations in different groups are independent, so
    two crossed classifications (pupils' primary and secondary schools) cannot be
    its ``groups``. The standard device is a single group holding every observation,
    with one variance component per factor (``vc_formula={"primary": "0 + C(primary)",
    ...}``); this function builds that model with sparse indicator matrices (dense
    ones make each likelihood evaluation several times slower) and fits it with
    tight tolerances, trying each optimiser in ``methods`` and keeping the best
    converged, finite fit. Each evaluation still works on the whole data set, so
    the fit takes seconds where lme4 takes a fraction of one;
    :func:`fit_variance_components` fits the same model exactly and fast.

    Parameters
    ----------
    data
        One row per observation.
    formula
        Fixed part, e.g. ``"attain ~ verbal + male"``.
    factors
        Grouping columns (names that are valid Python identifiers), one random
        intercept each.
    reml
        REML (lmer's default) or ML.
    methods
        statsmodels optimisers to try (``"powell"``, ``"nm"``, ``"lbfgs"``, ...).

    Returns
    -------
    MixedFit
        Read the variances with :func:`variance_shares`.

    Examples
    --------
    >>> import pandas as pd
    >>> from multilevel.simulate import simulate_students
    >>> df = simulate_students(seed=1)
    >>> crossed = fit_crossed(df, "score ~ hours", "student")
    >>> nested = fit_mixed(df, "score ~ hours", group="student")
    >>> print(f"same log-likelihood: {abs(crossed.loglik - nested.loglik) < 1e-4}")
    same log-likelihood: True
    """
    factors = as_list(factors)
    require_dataframe(data)
    if not factors:
        raise MultilevelInputError("`factors` must name at least one grouping column.")
    require_columns(data, factors)
    require_complete(data, factors)
    for factor in factors:
        if not factor.isidentifier():
            raise MultilevelInputError(
                f"factor name {factor!r} is not a valid Python name; rename the column, "
                "e.g. data.rename(columns={...})."
            )
        require_groups(data, factor, min_groups=2)
    frame = data.assign(_all_rows=1)
    model = smf.mixedlm(formula, frame, groups="_all_rows", use_sparse=True,
                        vc_formula={f: f"0 + C({f})" for f in factors}, missing="raise")
    tolerances = {"powell": {"xtol": 1e-6, "ftol": 1e-10}, "nm": {"xtol": 1e-6, "ftol": 1e-10}}
    return _best_of_optimisers(model, reml, methods, tolerances)


def _mixedlm_result_at(
    model, parts: dict, reml: bool, loglik: float
) -> MixedLMResultsWrapper:
    """A statsmodels ``MixedLMResults`` at given variance parameters (the tail of ``fit``).

    The covariance of the fixed effects is lme4's, ``sigma^2 (X'V^-1X)^-1``; the standard
    errors of the covariance parameters (statsmodels' ``bse_re``) are not computed and
    are NaN, as lme4 does not report them either. The log-likelihood is the profiled
    one: statsmodels' own ``loglike`` inverts the random-effects covariance and returns
    ``inf`` for a singular fit.
    """
    from statsmodels.regression.mixed_linear_model import MixedLMParams, MixedLMResults

    model.reml, model.cov_pen, model.fe_pen, model._freepat = reml, None, None, None
    model._cov_sing = 0
    cov_re_unscaled = parts["lam"] @ parts["lam"].T
    vcomp = np.empty(0)
    params = MixedLMParams.from_components(fe_params=parts["beta"], cov_re=cov_re_unscaled,
                                           vcomp=vcomp)
    scale = float(parts["sigma2"])
    packed = params.get_packed(use_sqrt=False, has_fe=True)
    k_fe = model.k_fe
    normalized_cov = np.full((len(packed), len(packed)), np.nan)
    normalized_cov[:k_fe, :k_fe] = parts["xtvx_inv"]
    results = MixedLMResults(model, packed, normalized_cov)
    results.params_object = params
    results.fe_params = parts["beta"]
    results.cov_re = scale * cov_re_unscaled
    results.cov_re_unscaled = cov_re_unscaled
    results.vcomp = vcomp
    results.scale = scale
    results.method = "REML" if reml else "ML"
    results.converged = True
    results.hist = None
    results.reml = reml
    results.cov_pen = None
    results.k_fe, results.k_re, results.k_re2 = model.k_fe, model.k_re, model.k_re2
    results.k_vc = model.k_vc
    results.use_sqrt = model.use_sqrt
    results.freepat = None
    # statsmodels' cached properties read from ``_cache``; seed it with the exact value.
    results._cache = {"llf": float(loglik)}
    return MixedLMResultsWrapper(results)
