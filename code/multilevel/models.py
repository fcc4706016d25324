"""Fitting and summarising linear multilevel models.

- :func:`icc` and :func:`design_effect`: what grouping does to the information in the data;
- :func:`fit_ols`: least squares with naive or cluster-robust standard errors;
- :func:`fit_random_intercept`: an exact, fast (RE)ML fit of the random-intercept model,
  for simulations that refit it thousands of times;
- :func:`fit_mixed`: statsmodels' ``MixedLM`` with a deliberate choice of optimiser and
  checks that the fit is finite and converged, for everything else;
- :func:`lr_test`: likelihood-ratio tests between nested mixed models fitted by ML.

Every estimate these functions return is checked against R's lme4 in ``tests/``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import optimize, stats
from statsmodels.regression.linear_model import RegressionResultsWrapper
from statsmodels.regression.mixed_linear_model import MixedLMResultsWrapper, _smw_solver
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from multilevel._checks import (
    MultilevelInputError,
    as_list,
    check_model_data,
    require_columns,
    require_complete,
    require_dataframe,
    require_groups,
)


def icc(sigma_group: float, sigma_residual: float) -> float:
    """Intraclass correlation: the share of the error *variance* that lies between groups.

    ``icc = sigma_group**2 / (sigma_group**2 + sigma_residual**2)``. It is also the
    correlation between two observations from the same group.

    Examples
    --------
    >>> round(icc(0.7, 0.2), 4)
    0.9245
    """
    for name, value in (("sigma_group", sigma_group), ("sigma_residual", sigma_residual)):
        if not np.isfinite(value) or value < 0:
            raise MultilevelInputError(f"`{name}` must be a finite standard deviation >= 0.")
    total = sigma_group**2 + sigma_residual**2
    if total == 0:
        raise MultilevelInputError("both standard deviations are 0: the ICC is undefined.")
    return float(sigma_group**2 / total)


def design_effect(group_size: float, icc_value: float) -> float:
    """Kish's design effect ``1 + (m - 1) * icc`` for groups of size ``m``.

    The factor by which clustering inflates the variance of a mean (or of the
    slope of a group-level covariate) relative to independent observations.
    Its square root is how much naive standard errors are too small.

    Examples
    --------
    >>> round(design_effect(20, 0.1), 6)
    2.9
    """
    if not np.isfinite(group_size) or group_size < 1:
        raise MultilevelInputError(f"`group_size` must be >= 1, got {group_size!r}.")
    if not 0 <= icc_value <= 1:
        raise MultilevelInputError(f"`icc_value` must lie in [0, 1], got {icc_value!r}.")
    return float(1 + (group_size - 1) * icc_value)


def fit_ols(
    data: pd.DataFrame,
    response: str,
    covariates: str | list[str],
    cluster: str | None = None,
) -> RegressionResultsWrapper:
    """Least squares of ``response`` on ``covariates`` (plus an intercept).

    Without ``cluster`` the standard errors assume independent, equal-variance
    errors. With ``cluster`` they are cluster-robust (CR1, as Stata's
    ``vce(cluster)`` and R's ``sandwich::vcovCL``): errors may be correlated in
    any way within a cluster, and are independent across clusters.

    Returns statsmodels' results object (``params``, ``bse``, ``conf_int()``, ...).

    Examples
    --------
    >>> from multilevel.simulate import simulate_clustered
    >>> df = simulate_clustered(seed=1)
    >>> naive = fit_ols(df, "y", "x")
    >>> robust = fit_ols(df, "y", "x", cluster="group")
    >>> bool(robust.bse["x"] > naive.bse["x"])
    True
    """
    covariates = as_list(covariates)
    frame = check_model_data(data, response, covariates, cluster,
                             min_groups=2 if cluster else 1)
    exog = pd.DataFrame({"Intercept": 1.0, **{c: frame[c] for c in covariates}})
    model = sm.OLS(frame[response], exog)
    if cluster is None:
        return model.fit()
    codes = pd.factorize(frame[cluster])[0]
    return model.fit(cov_type="cluster", cov_kwds={"groups": codes})


@dataclass(frozen=True)
class RandomInterceptFit:
    """Result of :func:`fit_random_intercept`.

    Attributes
    ----------
    params, bse
        Fixed effects and their standard errors (conditional on the variance
        estimates, as lme4 and statsmodels report them).
    sigma_group, sigma_residual
        Estimated standard deviations of the group effects and of the residual.
    loglik
        Maximised (restricted) log-likelihood, on lme4's scale.
    group_effects
        Predicted group effects (BLUPs), indexed by group.
    reml
        Whether the variance components were estimated by REML.
    """

    params: pd.Series
    bse: pd.Series
    sigma_group: float
    sigma_residual: float
    loglik: float
    group_effects: pd.Series
    reml: bool
    nobs: int
    n_groups: int

    @property
    def icc(self) -> float:
        """Estimated intraclass correlation."""
        return icc(self.sigma_group, self.sigma_residual)


def _group_sums(codes: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Column sums of ``values`` within each group (rows of the result are groups)."""
    out = np.zeros((n_groups,) + values.shape[1:])
    np.add.at(out, codes, values)
    return out


def fit_random_intercept(
    data: pd.DataFrame,
    response: str,
    covariates: str | list[str],
    group: str,
    reml: bool = True,
) -> RandomInterceptFit:
    """Fit ``y_ij = x_ij' beta + u_j + e_ij`` with ``u_j ~ N(0, s_u^2)`` exactly and fast.

    The variance ratio ``lambda = s_u / s_e`` is the only parameter that needs
    numerical optimisation: given it, the generalised least-squares estimate of
    ``beta`` and the residual variance have closed forms, and every quantity is a
    sum over groups (each group's covariance matrix is ``s_e^2 (I + lambda^2 11')``,
    whose inverse is known). The profiled (restricted) log-likelihood is maximised
    over ``lambda`` with a bounded scalar search. Results equal lme4's ``lmer``
    (see the tests), in about a millisecond for a few thousand rows, which makes
    Monte Carlo studies with thousands of fits practical. An intercept is added.

    Parameters
    ----------
    data
        One row per observation.
    response, covariates, group
        Column names: the outcome, the covariate(s), and the grouping factor.
    reml
        Restricted maximum likelihood (the default, as in lmer) or plain ML.

    Examples
    --------
    >>> from multilevel.simulate import simulate_students
    >>> fit = fit_random_intercept(simulate_students(seed=1), "score", "hours", "student")
    >>> print(f"{fit.params['hours']:.2f}")
    0.77
    """
    covariates = as_list(covariates)
    frame = check_model_data(data, response, covariates, group, min_groups=2)
    codes, labels = pd.factorize(frame[group], sort=True)
    n_groups = len(labels)
    X = np.column_stack([np.ones(len(frame))] + [frame[c].to_numpy(float) for c in covariates])
    y = frame[response].to_numpy(float)
    n, p = X.shape
    if np.linalg.matrix_rank(X) < p:
        raise MultilevelInputError(
            f"the covariates {covariates} are collinear with each other or with the intercept; "
            "drop one of them."
        )
    sizes = np.bincount(codes, minlength=n_groups).astype(float)
    sum_x = _group_sums(codes, X, n_groups)  # (groups, p)
    sum_y = _group_sums(codes, y, n_groups)  # (groups,)
    xtx, xty, yty = X.T @ X, X.T @ y, y @ y
    dof = n - p if reml else n

    def profile(lam: float) -> tuple[float, np.ndarray, float, np.ndarray]:
        # Group j's V^-1 is (I - c_j 11') / s_e^2 with c_j = lam^2 / (1 + m_j lam^2).
        shrink = lam**2 / (1.0 + sizes * lam**2)
        xhx = xtx - (sum_x * shrink[:, None]).T @ sum_x
        xhy = xty - (sum_x * shrink[:, None]).T @ sum_y
        yhy = yty - np.sum(shrink * sum_y**2)
        beta = np.linalg.solve(xhx, xhy)
        quad = yhy - xhy @ beta
        sigma2 = quad / dof
        logdet_h = np.sum(np.log1p(sizes * lam**2))
        deviance = dof * (1.0 + np.log(2 * np.pi * sigma2)) + logdet_h
        if reml:
            deviance += np.linalg.slogdet(xhx)[1]
        return float(deviance), beta, float(sigma2), xhx

    # The ratio rarely exceeds 100; search on a log scale and compare with the boundary at 0.
    search = optimize.minimize_scalar(
        lambda log_lam: profile(np.exp(log_lam))[0], bounds=(-12.0, 6.0), method="bounded",
        options={"xatol": 1e-10},
    )
    lam = float(np.exp(search.x))
    if profile(0.0)[0] <= profile(lam)[0]:
        lam = 0.0
    deviance, beta, sigma2, xhx = profile(lam)
    cov_beta = sigma2 * np.linalg.inv(xhx)
    names = ["Intercept"] + covariates
    residual_sums = sum_y - sum_x @ beta
    effects = lam**2 / (1.0 + sizes * lam**2) * residual_sums
    return RandomInterceptFit(
        params=pd.Series(beta, index=names),
        bse=pd.Series(np.sqrt(np.diag(cov_beta)), index=names),
        sigma_group=float(lam * np.sqrt(sigma2)),
        sigma_residual=float(np.sqrt(sigma2)),
        loglik=-0.5 * deviance,
        group_effects=pd.Series(effects, index=pd.Index(labels, name=group)),
        reml=reml,
        nobs=n,
        n_groups=n_groups,
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
        """Number of estimated parameters: fixed effects, covariance parameters, residual."""
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
        vc_names = getattr(self.result.model, "_vc_names", None) or []
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
        """A compact text summary in the spirit of ``print(lmer_fit)``."""
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
    """``scale * (X' V^-1 X)^-1``, summed over groups with statsmodels' own solver.

    Mirrors ``MixedLM.get_fe_params``, which solves the same systems for the estimates.
    """
    model = result.model
    cov_re = np.asarray(result.cov_re_unscaled)
    cov_re_inv = np.linalg.pinv(cov_re) if cov_re.size else np.empty((0, 0))
    vcomp = np.asarray(result.vcomp) / result.scale
    xtvx = 0.0
    for group_ix, _ in enumerate(model.group_labels):
        vc_var = model._expand_vcomp(vcomp, group_ix)
        vc_inv = np.where(vc_var > 1e-10, 1 / np.where(vc_var > 1e-10, vc_var, 1), 0.0)
        solver = _smw_solver(1.0, model._aex_r[group_ix], model._aex_r2[group_ix],
                             cov_re_inv, vc_inv)
        exog = model.exog_li[group_ix]
        xtvx = xtvx + exog.T @ solver(exog)
    return result.scale * np.linalg.inv(xtvx)


_HARMLESS = ("MLE may be on the boundary", "covariance is singular")


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
    if not methods:
        raise MultilevelInputError("`methods` must name at least one optimiser, e.g. ('powell',).")
    model = smf.mixedlm(formula, data, groups=data[group], re_formula=re_formula,
                        vc_formula=vc_formula, missing="raise")
    attempts, fits, notes = [], {}, []
    for method in methods:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = model.fit(reml=reml, method=method)
            except (np.linalg.LinAlgError, ValueError) as error:
                attempts.append({"method": method, "loglik": np.nan, "converged": False,
                                 "error": str(error)})
                continue
        messages = [str(w.message) for w in caught
                    if issubclass(w.category, (ConvergenceWarning, UserWarning, RuntimeWarning))]
        finite = np.isfinite(result.llf) and np.all(np.isfinite(result.fe_params))
        attempts.append({"method": method, "loglik": float(result.llf),
                         "converged": bool(result.converged and finite), "error": ""})
        if finite:
            fits[method] = result
            notes += [f"{method}: {m}" for m in messages]
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


def lr_test(restricted: MixedFit, full: MixedFit) -> pd.Series:
    """Likelihood-ratio test of a restricted model against a fuller one, both fitted by ML.

    Returns the statistic ``2 (loglik_full - loglik_restricted)``, its degrees of
    freedom (the difference in parameter counts) and the chi-squared p-value. When
    the restriction sets a variance to zero the p-value is conservative (the null
    lies on the boundary; halving it is the usual correction for one variance).

    Examples
    --------
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


def fe_dummies(groups: pd.Series | np.ndarray | list, prefix: str = "") -> pd.DataFrame:
    """One 0/1 column per group, in sorted label order, like R's ``simcf::makeFEdummies``.

    Used with no intercept, these columns give every group its own intercept.
    Columns are named ``prefix + label`` and appear in the sorted order of the
    labels, so column ``k`` always belongs to the ``k``-th group.

    Examples
    --------
    >>> fe_dummies(["b", "a", "b"]).to_numpy().tolist()
    [[0, 1], [1, 0], [0, 1]]
    """
    labels = pd.Series(np.asarray(groups))
    if labels.isna().any():
        raise MultilevelInputError("group labels contain missing values; drop those rows first.")
    levels = np.sort(labels.unique())
    codes = pd.Categorical(labels, categories=levels).codes
    matrix = (codes[:, None] == np.arange(len(levels))[None, :]).astype(int)
    return pd.DataFrame(matrix, columns=[f"{prefix}{level}" for level in levels])


@dataclass(frozen=True)
class FixedEffectsFit:
    """Result of :func:`fit_fixed_effects`.

    Attributes
    ----------
    params, bse
        Slopes of the covariates and their standard errors (classical, with the
        degrees of freedom used up by the group intercepts subtracted).
    cov_params
        Covariance matrix of the slopes.
    group_effects
        Each group's intercept, ``mean(y) - mean(x)' beta`` within the group.
    sigma
        Residual standard deviation.
    df_resid
        ``n - k - G``: observations minus slopes minus group intercepts.
    """

    params: pd.Series
    bse: pd.Series
    cov_params: pd.DataFrame
    group_effects: pd.Series
    sigma: float
    df_resid: int
    nobs: int
    n_groups: int
    method: str


def _constant_within_groups(frame: pd.DataFrame, column: str, group: str) -> bool:
    spread = frame.groupby(group, observed=True)[column].agg(lambda v: v.max() - v.min())
    scale = max(float(frame[column].abs().max()), 1.0)
    return bool((spread <= 1e-12 * scale).all())


def fit_fixed_effects(
    data: pd.DataFrame,
    response: str,
    covariates: str | list[str],
    group: str,
    method: str = "within",
) -> FixedEffectsFit:
    """Least squares with one intercept per group (fixed effects).

    ``method="within"`` subtracts each group's means from the response and the
    covariates and regresses the deviations (the *within* estimator);
    ``method="dummies"`` regresses on the covariates and one dummy per group with
    no overall intercept. Both give the same slopes and standard errors; the
    within form never builds the n-by-G dummy matrix, so it stays fast with
    thousands of groups.

    A covariate that is constant within every group is perfectly collinear with
    the group dummies, and its effect cannot be estimated: this function raises
    an error naming it rather than dropping it silently.

    Examples
    --------
    >>> from multilevel.simulate import simulate_kansas
    >>> fit = fit_fixed_effects(simulate_kansas(seed=1), "rep_share", "income", "state")
    >>> bool(fit.params["income"] > 0)
    True
    """
    covariates = as_list(covariates)
    if not covariates:
        raise MultilevelInputError("name at least one covariate; the group intercepts are added.")
    if method not in ("within", "dummies"):
        raise MultilevelInputError(f"`method` must be 'within' or 'dummies', got {method!r}.")
    frame = check_model_data(data, response, covariates, group, min_groups=2)
    for column in covariates:
        if _constant_within_groups(frame, column, group):
            raise MultilevelInputError(
                f"covariate {column!r} does not vary within any {group!r}: it is perfectly "
                "collinear with the group fixed effects, so its effect cannot be estimated. "
                f"Drop {column!r}, or model it as a group-level predictor in a random-effects model."
            )
    y = frame[response].to_numpy(float)
    X = frame[covariates].to_numpy(float)
    codes, labels = pd.factorize(frame[group], sort=True)
    n, k, n_groups = len(y), len(covariates), len(labels)
    if n - k - n_groups <= 0:
        raise MultilevelInputError(
            f"{n} observations cannot identify {k} slopes and {n_groups} group intercepts."
        )
    if method == "within":
        counts = np.bincount(codes, minlength=n_groups)
        y_means = np.bincount(codes, weights=y, minlength=n_groups) / counts
        x_means = np.column_stack(
            [np.bincount(codes, weights=X[:, j], minlength=n_groups) / counts for j in range(k)]
        )
        design, target = X - x_means[codes], y - y_means[codes]
    else:
        design = np.column_stack([X, fe_dummies(frame[group]).to_numpy(float)])
        target = y
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise MultilevelInputError(
            f"the covariates {covariates} are collinear once group intercepts are included; "
            "drop one of them."
        )
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    resid = target - design @ coef
    df_resid = n - k - n_groups
    sigma2 = float(resid @ resid / df_resid)
    cov = sigma2 * np.linalg.inv(design.T @ design)[:k, :k]
    slopes = coef[:k]
    intercepts = (
        y_means - x_means @ slopes if method == "within" else coef[k:]
    )
    return FixedEffectsFit(
        params=pd.Series(slopes, index=covariates),
        bse=pd.Series(np.sqrt(np.diag(cov)), index=covariates),
        cov_params=pd.DataFrame(cov, index=covariates, columns=covariates),
        group_effects=pd.Series(intercepts, index=pd.Index(labels, name=group)),
        sigma=float(np.sqrt(sigma2)),
        df_resid=df_resid,
        nobs=n,
        n_groups=n_groups,
        method=method,
    )
