"""Exact linear mixed models by lme4's profiled likelihood (Bates et al. 2015).

The fixed effects and the residual variance are profiled out, so only the
relative covariance parameters are optimised numerically, and every likelihood
evaluation works on per-group sums. The results equal lme4's ``lmer`` (see the
tests) in a fraction of MixedLM's time:

- :func:`fit_random_intercept`: one random intercept; fast enough for Monte Carlo studies;
- :func:`fit_variance_components`: random intercepts for several nested or crossed factors;
- :func:`fit_mixed_profiled`: correlated random intercepts and slopes for one grouping factor;
- :func:`conditional_effects`: predicted random effects with their conditional SDs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from multilevel._checks import (
    MultilevelInputError,
    as_list,
    check_model_data,
    require_columns,
    require_complete,
    require_dataframe,
    require_groups,
)
from multilevel.models.clustering import icc
from multilevel.models.mixedlm import MixedFit, _mixedlm_result_at
from scipy import linalg, optimize, sparse


def quasi_demeaning_theta(
    sigma_group: float, sigma_residual: float, group_size: float | np.ndarray
) -> float | np.ndarray:
    """The random-effects estimator's quasi-demeaning weight for groups of size ``m``.

    ``theta = 1 - sqrt(s_e^2 / (s_e^2 + m s_u^2))``. The random-effects (GLS)
    estimator equals least squares of ``y_ij - theta_j * mean_j(y)`` on
    ``x_ij - theta_j * mean_j(x)``: with ``theta = 0`` it is pooled least squares,
    with ``theta = 1`` the fixed-effects (within) estimator. Large groups and a
    large group variance relative to the residual variance push ``theta`` towards 1.

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


@dataclass(frozen=True)
class RandomInterceptFit:
    """Result of :func:`fit_random_intercept`.

    Attributes
    ----------
    params, bse
        Fixed effects and their standard errors (conditional on the variance
        estimates, as lme4 and statsmodels report them).
    cov_params
        Covariance matrix of the fixed effects, ``s_e^2 (X' V^-1 X)^-1`` at the
        estimated variances (lme4's ``vcov``), as :func:`hausman_test` and
        :func:`wald_test` need it.
    sigma_group, sigma_residual
        Estimated standard deviations of the group effects and of the residual.
    loglik
        Maximised (restricted) log-likelihood, on lme4's scale.
    group_effects
        Predicted group effects (BLUPs), indexed by group.
    theta
        Each group's quasi-demeaning weight (:func:`quasi_demeaning_theta`): the
        estimator equals least squares after subtracting ``theta_j`` times the
        group means, between pooled least squares (0) and fixed effects (1).
    reml
        Whether the variance components were estimated by REML.
    """

    params: pd.Series
    bse: pd.Series
    cov_params: pd.DataFrame
    sigma_group: float
    sigma_residual: float
    loglik: float
    group_effects: pd.Series
    theta: pd.Series
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

    In panel econometrics this is the random-effects (GLS) estimator: the same
    coefficients come from least squares on quasi-demeaned data,
    ``y_ij - theta_j mean_j(y)`` on ``x_ij - theta_j mean_j(x)``, with the weights
    ``theta`` reported in the result, and the full covariance matrix
    (``cov_params``) supports :func:`hausman_test` and :func:`wald_test`.

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
    >>> print(f"{fit.params['hours']:.2f}, theta = {fit.theta.iloc[0]:.2f}")
    0.77, theta = 0.85
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
    group_index = pd.Index(labels, name=group)
    return RandomInterceptFit(
        params=pd.Series(beta, index=names),
        bse=pd.Series(np.sqrt(np.diag(cov_beta)), index=names),
        cov_params=pd.DataFrame(cov_beta, index=names, columns=names),
        sigma_group=float(lam * np.sqrt(sigma2)),
        sigma_residual=float(np.sqrt(sigma2)),
        loglik=-0.5 * deviance,
        group_effects=pd.Series(effects, index=group_index),
        theta=pd.Series(1.0 - 1.0 / np.sqrt(1.0 + sizes * lam**2), index=group_index),
        reml=reml,
        nobs=n,
        n_groups=n_groups,
    )


@dataclass(frozen=True)
class VarianceComponentsFit:
    """Result of :func:`fit_variance_components`.

    Attributes
    ----------
    params, bse
        Fixed effects and their standard errors (``sigma^2 (X' V^-1 X)^-1`` at the
        estimated variances, as lme4 reports them).
    variances
        Estimated variance of each grouping factor's intercepts, then ``Residual``.
    loglik
        Maximised (restricted) log-likelihood, on lme4's scale.
    effects
        Predicted intercepts (conditional modes, BLUPs) of each factor's units:
        factor name -> Series indexed by unit label.
    reml
        Whether the variances were estimated by REML.
    n_units
        Number of units of each grouping factor.
    """

    params: pd.Series
    bse: pd.Series
    variances: pd.Series
    loglik: float
    effects: dict[str, pd.Series]
    reml: bool
    nobs: int
    n_units: dict[str, int]

    @property
    def shares(self) -> pd.Series:
        """Each variance as a share of their sum (factors and residual)."""
        return self.variances / self.variances.sum()


def fit_variance_components(
    data: pd.DataFrame,
    response: str,
    covariates: str | list[str] | None,
    factors: str | list[str],
    reml: bool = True,
) -> VarianceComponentsFit:
    """Fit a linear model with random intercepts for several grouping factors, exactly and fast.

    The model is ``y = X beta + sum_k Z_k b_k + e`` with ``b_k ~ N(0, s_k^2 I)`` for
    each factor ``k`` and ``e ~ N(0, s^2 I)``. The factors may be nested (classes in
    schools: ``["sch", "tch"]``) or crossed (primary and secondary schools); the
    function does not need to know which. It evaluates the (restricted) likelihood
    the way lme4 does (Bates et al. 2015, section 3), by penalised least squares
    with the relative standard deviations ``theta_k = s_k / s`` as the only
    parameters optimised numerically: for given ``theta``, a factorisation of
    ``Lambda Z'Z Lambda + I`` gives ``beta``, ``s^2`` and the log-determinant in
    closed form. ``Z'Z`` is diagonal within a factor, so the factor with the most
    units is eliminated directly and only the other factors' block needs a
    Cholesky factorisation; the cross-products are formed once, so an evaluation
    costs the same whatever the number of rows. ``theta`` is found by L-BFGS-B
    from two starting points, each polished by Nelder-Mead. Results equal
    ``lmer(y ~ x + (1 | f1) + (1 | f2), REML = ...)`` (see the tests). An
    intercept is added.

    Units are identified by their labels: for a nested factor whose labels repeat
    across higher units (class 1 of school a and class 1 of school b), build a
    unique label first, e.g. ``school + "/" + class``.

    Parameters
    ----------
    data
        One row per observation.
    response, covariates
        Numeric columns: the outcome and the covariate(s) (``None`` or ``[]`` for
        an intercept-only model). Code categorical covariates as 0/1 columns.
    factors
        Grouping columns, one random intercept each.
    reml
        Restricted maximum likelihood (the default, as in lmer) or plain ML.

    Examples
    --------
    Pupils in classes (``tch``) in schools (``sch``), Tennessee STAR kindergarten:

    >>> from multilevel.data import load_star_kindergarten
    >>> fit = fit_variance_components(load_star_kindergarten(), "math", None, ["sch", "tch"])
    >>> print(", ".join(f"{k} {v:.1f}" for k, v in fit.variances.items()))
    sch 384.6, tch 288.5, Residual 1610.8
    """
    covariates, factors = as_list(covariates), as_list(factors)
    if not factors:
        raise MultilevelInputError("`factors` must name at least one grouping column.")
    if len(set(factors)) < len(factors):
        raise MultilevelInputError(f"`factors` names a column twice: {factors}.")
    frame = check_model_data(data, response, covariates)
    require_columns(data, factors)
    require_complete(data, factors)
    for factor in factors:
        require_groups(data, factor, min_groups=2)
    n = len(frame)
    X = np.column_stack([np.ones(n)] + [frame[c].to_numpy(float) for c in covariates])
    y = frame[response].to_numpy(float)
    p = X.shape[1]
    if np.linalg.matrix_rank(X) < p:
        raise MultilevelInputError(
            f"the covariates {covariates} are collinear with each other or with the intercept; "
            "drop one of them."
        )
    # Z'Z is diagonal within a factor (each row belongs to one unit of it), so the factor
    # with the most units is eliminated first and only the other factors' block is dense:
    # A = Lambda Z'Z Lambda + I = [[a1 (diagonal), A12], [A12', A22]].
    codes = {f: pd.factorize(data[f], sort=True) for f in factors}
    big = max(factors, key=lambda f: len(codes[f][1]))
    rest = [f for f in factors if f != big]
    XY = np.column_stack([X, y])
    Z1 = _indicators(codes[big][0], len(codes[big][1]))
    counts1 = np.asarray(Z1.sum(axis=0)).ravel()
    w1_raw = np.asarray(Z1.T @ XY)
    if rest:
        Z2 = sparse.hstack([_indicators(codes[f][0], len(codes[f][1])) for f in rest],
                           format="csc")
        cross = (Z1.T @ Z2).toarray()
        d2 = (Z2.T @ Z2).toarray()
        w2_raw = np.asarray(Z2.T @ XY)
        term2 = np.repeat(np.arange(1, len(factors)), [len(codes[f][1]) for f in rest])
        identity2 = np.eye(len(term2))
    gram = XY.T @ XY
    dof = n - p if reml else n

    def solve(theta: np.ndarray) -> dict:
        # theta[0] belongs to `big`, theta[1:] to `rest`, in that order.
        a1 = theta[0] ** 2 * counts1 + 1.0
        w1 = theta[0] * w1_raw
        g = w1.T @ (w1 / a1[:, None])
        logdet = np.sum(np.log(a1))
        parts = {"a1": a1}
        if rest:
            lam2 = theta[term2]
            a12 = theta[0] * cross * lam2[None, :]
            a12_scaled = a12 / a1[:, None]
            schur = lam2[:, None] * d2 * lam2[None, :] + identity2 - a12.T @ a12_scaled
            chol = linalg.cholesky(schur, lower=True)
            w2 = lam2[:, None] * w2_raw - a12_scaled.T @ w1
            v = linalg.solve_triangular(chol, w2, lower=True)
            g = g + v.T @ v
            logdet += 2 * np.sum(np.log(np.diag(chol)))
            parts.update(lam2=lam2, a12=a12, chol=chol)
        xvx = gram[:p, :p] - g[:p, :p]
        rhs = gram[:p, p] - g[:p, p]
        beta = np.linalg.solve(xvx, rhs)
        pwrss = max(gram[p, p] - g[p, p] - rhs @ beta, 1e-300)
        deviance = logdet + dof * (1 + np.log(2 * np.pi * pwrss / dof))
        if reml:
            deviance += np.linalg.slogdet(xvx)[1]
        return {"deviance": float(deviance), "beta": beta, "sigma2": pwrss / dof, "xvx": xvx,
                **parts}

    k = len(factors)
    best = None
    for start in (np.ones(k), np.full(k, 0.1)):
        run = optimize.minimize(lambda t: solve(t)["deviance"], start, method="L-BFGS-B",
                                bounds=[(0.0, None)] * k)
        # Polish with a derivative-free search (finite differences are rough near the optimum).
        run = optimize.minimize(lambda t: solve(np.abs(t))["deviance"], run.x, method="Nelder-Mead",
                                options={"xatol": 1e-7, "fatol": 1e-8, "maxiter": 1000})
        theta = np.abs(run.x)
        if best is None or solve(theta)["deviance"] < solve(best)["deviance"]:
            best = theta
    fit = solve(best)
    beta, sigma2 = fit["beta"], fit["sigma2"]
    # Conditional modes b = Lambda u, where A u = Lambda Z'(y - X beta).
    resid1 = best[0] * (w1_raw[:, :p] @ -beta + w1_raw[:, p])
    u1_part = resid1 / fit["a1"]
    modes = {}
    if rest:
        resid2 = fit["lam2"] * (w2_raw[:, :p] @ -beta + w2_raw[:, p])
        rhs2 = resid2 - fit["a12"].T @ u1_part
        u2 = linalg.cho_solve((fit["chol"], True), rhs2)
        u1 = (resid1 - fit["a12"] @ u2) / fit["a1"]
        b2, start = fit["lam2"] * u2, 0
        for f in rest:
            size = len(codes[f][1])
            modes[f] = b2[start:start + size]
            start += size
    else:
        u1 = u1_part
    modes[big] = best[0] * u1
    theta_of = dict(zip([big] + rest, best))
    names = ["Intercept"] + covariates
    cov_beta = sigma2 * np.linalg.inv(fit["xvx"])
    effects = {
        f: pd.Series(modes[f], index=pd.Index(codes[f][1], name=f)) for f in factors
    }
    variances = pd.Series([theta_of[f] ** 2 * sigma2 for f in factors] + [sigma2],
                          index=factors + ["Residual"], name="variance")
    return VarianceComponentsFit(
        params=pd.Series(beta, index=names),
        bse=pd.Series(np.sqrt(np.diag(cov_beta)), index=names),
        variances=variances,
        loglik=-0.5 * fit["deviance"],
        effects=effects,
        reml=reml,
        nobs=n,
        n_units={f: len(codes[f][1]) for f in factors},
    )


def _indicators(codes: np.ndarray, n_units: int) -> sparse.csc_array:
    """Sparse n-by-units 0/1 matrix with a single 1 per row, in column ``codes[i]``."""
    return sparse.csc_array((np.ones(len(codes)), (np.arange(len(codes)), codes)),
                            shape=(len(codes), n_units))


def _relative_factor_solve(theta: np.ndarray, stats_: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per-group Cholesky solves of lme4's penalised system at ``theta``.

    With ``A_j = Lambda' Z_j'Z_j Lambda + I = L_j L_j'``, returns ``L_j^-1 Lambda' Z_j' [X_j y_j]``
    for every group (shape groups x q x (p + 1)) and the log-determinant ``sum_j log|A_j|``.
    Written out element by element for one or two random effects (the common cases, and
    several times faster than batched linear algebra on 2-by-2 blocks).
    """
    q, ztz, ztw = stats_["q"], stats_["ztz"], stats_["ztw"]
    if q == 1:
        t = theta[0]
        l11 = np.sqrt(1.0 + t * t * ztz[:, 0, 0])
        return (t / l11)[:, None, None] * ztw, 2.0 * np.sum(np.log(l11))
    if q == 2:
        t0, t1, t2 = theta
        m11, m12, m22 = ztz[:, 0, 0], ztz[:, 0, 1], ztz[:, 1, 1]
        a = 1.0 + m11 * t0 * t0 + 2.0 * m12 * t0 * t1 + m22 * t1 * t1
        b = t2 * (m12 * t0 + m22 * t1)
        c = 1.0 + m22 * t2 * t2
        l11 = np.sqrt(a)
        l21 = b / l11
        l22 = np.sqrt(c - l21 * l21)
        r1 = t0 * ztw[:, 0, :] + t1 * ztw[:, 1, :]
        r2 = t2 * ztw[:, 1, :]
        s1 = r1 / l11[:, None]
        s2 = (r2 - l21[:, None] * s1) / l22[:, None]
        return np.stack([s1, s2], axis=1), 2.0 * np.sum(np.log(l11) + np.log(l22))
    lam = np.zeros((q, q))
    lam[np.tril_indices(q)] = theta
    chol = np.linalg.cholesky(lam.T @ ztz @ lam + np.eye(q))
    solved = np.linalg.solve(chol, lam.T @ ztw)
    return solved, 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)))


def _profiled_deviance(
    theta: np.ndarray, stats_: dict, reml: bool
) -> tuple[float, dict]:
    """lme4's profiled deviance (-2 log-likelihood) at relative covariance factor ``theta``.

    ``theta`` holds the lower triangle (row by row) of ``Lambda``, with the random-effects
    covariance ``sigma^2 Lambda Lambda'``. Every group contributes through its sums
    ``Z'Z`` and ``Z'[X y]``, so one evaluation costs a few operations on arrays with one
    entry per group (Bates et al. 2015, section 3).
    """
    solved, logdet = _relative_factor_solve(theta, stats_)
    flat = solved.reshape(-1, solved.shape[-1])
    # [X y]' V^-1 [X y] up to sigma^2: its blocks give X'V^-1X, X'V^-1y and y'V^-1y at once.
    cross = stats_["wtw"] - flat.T @ flat
    p = cross.shape[0] - 1
    try:
        chol_x = np.linalg.cholesky(cross[:p, :p])
    except np.linalg.LinAlgError:
        return np.inf, {}
    beta = np.linalg.solve(chol_x.T, np.linalg.solve(chol_x, cross[:p, p]))
    pwrss = cross[p, p] - beta @ cross[:p, p]
    n = stats_["n"]
    dof = n - p if reml else n
    if not np.isfinite(logdet) or pwrss <= 0:
        return np.inf, {}
    deviance = logdet + dof * (1.0 + np.log(2.0 * np.pi * pwrss / dof))
    if reml:
        deviance += 2.0 * np.sum(np.log(np.diag(chol_x)))
    lam = np.zeros((stats_["q"], stats_["q"]))
    lam[np.tril_indices(stats_["q"])] = theta
    xtvx_inv = np.linalg.inv(cross[:p, :p])
    return float(deviance), {"lam": lam, "beta": beta, "sigma2": pwrss / dof,
                             "xtvx_inv": xtvx_inv}


def fit_mixed_profiled(
    data: pd.DataFrame,
    formula: str,
    group: str,
    re_formula: str | None = None,
    reml: bool = True,
    methods: tuple[str, ...] = ("SLSQP", "L-BFGS-B"),
) -> MixedFit:
    """Fit a linear mixed model with one grouping factor by lme4's profiled likelihood.

    Same models as :func:`fit_mixed` without ``vc_formula``: a random intercept, or
    correlated random intercepts and slopes (``re_formula="~ses"``). The fixed effects
    and the residual variance are profiled out, as lme4 does (Bates et al. 2015), so
    the optimiser searches only the ``q (q + 1) / 2`` entries of the relative
    covariance factor, and each evaluation works on per-group sums.

    Each optimiser in ``methods`` (scipy names) starts where lme4 starts (independent
    random effects with the residual's variance) and again from a tenth of that; a
    Nelder-Mead search then starts from the best of them, a derivative-free check that matters when the optimum is
    on the boundary. Gradient optimisers alone can stop early on these likelihoods
    while reporting success, which is why several are run. On High School and Beyond
    the result reproduces lmer at its optimum to about 1e-6 in every estimate, in a
    fraction of a second; statsmodels' own optimisers take seconds and stop earlier.

    The result is a :class:`MixedFit` holding a statsmodels ``MixedLMResults``
    evaluated at the optimum, so ``params``, ``bse`` (lme4's), ``variance_components``,
    ``random_effects``, ``loglik``, ``aic`` and :func:`lr_test` work as for
    :func:`fit_mixed`; statsmodels' standard errors of the variance parameters are
    not computed. A singular fit (a zero variance or a correlation of +-1) is a
    legitimate optimum and is reported in ``notes``.

    Examples
    --------
    >>> from multilevel.simulate import simulate_students
    >>> fit = fit_mixed_profiled(simulate_students(seed=1), "score ~ hours", group="student")
    >>> print(f"{fit.params['hours']:.2f}")
    0.77
    >>> fit.attempts.index.tolist()
    ['SLSQP', 'SLSQP (small start)', 'L-BFGS-B', 'L-BFGS-B (small start)', 'Nelder-Mead polish']
    """
    require_dataframe(data)
    require_columns(data, [group])
    require_complete(data, [group])
    require_groups(data, group, min_groups=2)
    if not methods:
        raise MultilevelInputError(
            "`methods` must name at least one scipy optimiser, e.g. ('SLSQP',)."
        )
    model = smf.mixedlm(formula, data, groups=data[group], re_formula=re_formula,
                        missing="raise")
    if model.k_vc:
        raise MultilevelInputError("fit_mixed_profiled does not fit variance components; "
                                   "use fit_mixed with vc_formula.")
    if np.linalg.matrix_rank(model.exog) < model.exog.shape[1]:
        raise MultilevelInputError(
            f"the fixed part of {formula!r} has collinear columns; drop one of them."
        )
    q = model.k_re
    w = np.column_stack([model.exog, model.endog])
    stats_ = {
        "q": q,
        "n": int(model.nobs),
        "ztz": np.stack([z.T @ z for z in model.exog_re_li]),
        "ztw": np.stack([z.T @ np.column_stack([x, y]) for z, x, y in
                         zip(model.exog_re_li, model.exog_li, model.endog_li)]),
        "wtw": w.T @ w,
    }
    rows, cols = np.tril_indices(q)
    start = (rows == cols).astype(float)
    bounds = [(0.0, None) if i == j else (None, None) for i, j in zip(rows, cols)]

    def objective(theta):
        return _profiled_deviance(theta, stats_, reml)[0]

    # Tolerances are on the deviance (-2 log-likelihood), of order 1e4 on real data.
    options = {
        "SLSQP": {"ftol": 1e-10, "maxiter": 1000},
        "L-BFGS-B": {"ftol": 1e-13, "gtol": 1e-8, "maxiter": 1000},
        "Nelder-Mead": {"xatol": 1e-8, "fatol": 1e-9, "maxfev": 4000},
        "Powell": {"xtol": 1e-8, "ftol": 1e-12, "maxfev": 4000},
    }
    attempts, runs = [], {}

    def attempt(label, method, theta0):
        try:
            run = optimize.minimize(objective, theta0, method=method, bounds=bounds,
                                    options=options.get(method, {}))
        except ValueError as error:
            attempts.append({"method": label, "loglik": np.nan, "converged": False,
                             "error": str(error)})
            return
        ok = bool(np.isfinite(run.fun))
        attempts.append({"method": label, "loglik": -0.5 * float(run.fun),
                         "converged": bool(run.success) and ok, "error": ""})
        if ok:
            runs[label] = run

    # Gradient optimisers started at lme4's start can step onto the boundary theta = 0 and
    # stop there when the optimum is a small positive variance; a second, small start
    # catches that case.
    for method in methods:
        attempt(method, method, start)
        attempt(f"{method} (small start)", method, 0.1 * start)
    converged = [a["method"] for a in attempts if a["converged"]]
    if not converged:
        raise RuntimeError(
            f"no optimiser reached a finite optimum with any of {list(methods)}:\n"
            f"{pd.DataFrame(attempts).set_index('method').to_string()}\n"
            "Try rescaling covariates or simplifying the random part."
        )
    best = max(converged, key=lambda label: -runs[label].fun)
    attempt("Nelder-Mead polish", "Nelder-Mead", runs[best].x)
    polish = runs.get("Nelder-Mead polish")
    if polish is not None and polish.fun < runs[best].fun:
        best = "Nelder-Mead polish"
    table = pd.DataFrame(attempts).set_index("method")
    lower = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
    theta = np.maximum(runs[best].x, lower)
    deviance, parts = _profiled_deviance(theta, stats_, reml)
    result = _mixedlm_result_at(model, parts, reml, loglik=-0.5 * deviance)
    notes = []
    if np.any(theta[rows == cols] < 1e-6):
        notes.append(f"{best}: singular fit (a random-effect variance is 0 or a correlation is "
                     "+-1); simplify the random part or report it as such.")
    return MixedFit(result=result, method=f"profiled ({best})", reml=reml, attempts=table,
                    notes=notes)


def conditional_effects(fit: MixedFit) -> pd.DataFrame:
    """Predicted random effects and their conditional standard deviations, per group and term.

    For group ``j`` with random-effects design ``Z_j``, residuals ``r_j = y_j - X_j beta``,
    random-effects covariance ``G`` and residual variance ``s2``, the conditional mode and
    conditional covariance of ``b_j`` given the data are

    ``b_j = G (Z_j'Z_j G + s2 I)^-1 Z_j' r_j`` and ``G - G (Z_j'Z_j G + s2 I)^-1 Z_j'Z_j G``,

    at the estimated ``beta``, ``G`` and ``s2``: what lme4's ``ranef(fit, condVar = TRUE)``
    reports. The form never inverts ``G``, so it also works for singular fits. The
    standard deviations feed a caterpillar plot (:func:`multilevel.plots.caterpillar`).

    Returns
    -------
    DataFrame indexed by (group, term) with columns ``estimate`` and ``std_error``;
    statsmodels names the random intercept ``Group``.

    Examples
    --------
    >>> from multilevel.simulate import simulate_students
    >>> fit = fit_mixed_profiled(simulate_students(seed=1), "score ~ hours", group="student")
    >>> effects = conditional_effects(fit)
    >>> effects.index.names, list(effects.columns)
    (FrozenList(['group', 'term']), ['estimate', 'std_error'])
    >>> bool((effects["std_error"] < fit.variance_components.loc["Group", "sd"]).all())
    True
    """
    if not isinstance(fit, MixedFit):
        raise MultilevelInputError(
            "`fit` must be a MixedFit from fit_mixed or fit_mixed_profiled, "
            f"got {type(fit).__name__}."
        )
    result, model = fit.result, fit.result.model
    if result.k_vc > 0:
        raise MultilevelInputError(
            "conditional_effects handles random intercepts and slopes (re_formula), not "
            "variance components (vc_formula)."
        )
    cov_re = np.asarray(result.cov_re)
    q, scale = cov_re.shape[0], float(result.scale)
    beta = np.asarray(result.fe_params)
    ztz = np.stack([z.T @ z for z in model.exog_re_li])
    ztr = np.stack([z.T @ (y - x @ beta) for z, x, y in
                    zip(model.exog_re_li, model.exog_li, model.endog_li)])
    inner = np.linalg.solve(ztz @ cov_re + scale * np.eye(q), np.concatenate(
        [ztr[..., None], ztz @ cov_re], axis=2))
    modes = (cov_re @ inner[..., 0][..., None])[..., 0]
    cond_cov = cov_re - cov_re @ inner[..., 1:]
    cond_sd = np.sqrt(np.clip(np.diagonal(cond_cov, axis1=1, axis2=2), 0.0, None))
    index = pd.MultiIndex.from_product(
        [list(model.group_labels), list(model.data.exog_re_names)], names=["group", "term"]
    )
    return pd.DataFrame({"estimate": modes.ravel(), "std_error": cond_sd.ravel()}, index=index)
