"""The one optimiser policy for every fit.

Where the deviance has an exact gradient (linear models with scalar terms, Laplace fits
with one term or with scalar terms and few random effects), a quasi-Newton method runs
on it. Elsewhere linear models use bobyqa, as lmer does (NLopt's,
``derivative_free=True``), and generalized ones L-BFGS-B on forward differences. Gradient runs start from lme4's start
and, unless they end well inside the parameter space, again from a tenth of it (a start
near zero reaches small positive variances that a run started at 1 can miss). When runs
disagree, or the answer is near the boundary, a bounded Nelder-Mead polish follows; an
interior linear optimum gets one Newton step; then lme4's boundary check sets a variance
parameter within 1e-5 of zero to zero when that is no worse. A single variance parameter
is found by Brent's method on its logarithm and compared with zero. Every step is kept
in ``attempts``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import nlopt
import numpy as np
from scipy import optimize

__all__ = ["INTERIOR", "OptimumResult", "deriv12", "minimize_deviance"]

BOUNDARY_TOL = 1e-5  # lme4's boundary.tol
NEWTON_MAX = 6  # parameters up to which the Newton polish's 1 + 2n^2 evaluations pay
INTERIOR = 0.05  # variance parameters all above this: one gradient run suffices
GRADIENT_TOL = 1e-4  # an exact deviance gradient this small marks an optimum


@dataclass
class OptimumResult:
    x: np.ndarray
    fun: float
    converged: bool
    attempts: list[dict]
    evaluations: int


def _newton_polish(fun, x: np.ndarray, value: float, lower: np.ndarray,
                   attempts: list[dict]) -> tuple[np.ndarray, float]:
    """One Newton step on lme4's ``deriv12`` differences, kept if it does not raise the deviance.

    Optimisers stop where the deviance's rounding noise (1e-11 at 46,000) hides further
    decrease: in a flat direction up to 1e-6 from the optimum, 1e-4 of a small variance
    (High School and Beyond's slope variance, 0.0087). Differences over steps of 1e-4
    stand far above the noise; one Newton step from there lands within ~1e-9.
    """
    _, gradient, hess = deriv12(fun, x)
    try:
        np.linalg.cholesky(hess)  # a minimum: the Hessian is positive definite
        step = np.linalg.solve(hess, gradient)
    except np.linalg.LinAlgError:
        return x, value
    trial = x - step
    if np.any(trial < lower) or not np.all(np.isfinite(trial)):
        return x, value
    trial_value = fun(trial)
    attempts.append({"method": "Newton step (deriv12)", "deviance": float(trial_value),
                     "success": bool(trial_value <= value + 1e-14 * abs(value))})
    return (trial, float(trial_value)) if attempts[-1]["success"] else (x, value)


def _minimize_scalar(fun, count) -> OptimumResult:
    """One variance parameter: Brent's method on log(theta), then the boundary theta = 0."""
    run = optimize.minimize_scalar(lambda log_t: fun(np.exp([log_t])), bounds=(-12.0, 6.0),
                                   method="bounded", options={"xatol": 1e-10})
    x, value = np.exp([run.x]), float(run.fun)
    attempts = [{"method": "Brent on log(theta)", "deviance": value, "success": bool(run.success)}]
    if (zero := fun(np.zeros(1))) <= value:
        x, value = np.zeros(1), zero
        attempts.append({"method": "boundary theta = 0", "deviance": zero, "success": True})
    return OptimumResult(x, float(fun(x)), bool(run.success), attempts, count())


def _bobyqa(fun: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray,
            max_evaluations: int) -> optimize.OptimizeResult:
    """NLopt's bobyqa, with tolerances tighter than ``nloptwrap``'s 1e-8.

    lme4's defaults stop where variance components still move in the fourth digit; the
    fixtures of the larger designs hold lme4's answers refitted with bobyqa's ``rhoend`` at
    1e-10, and these tolerances reach them.
    """
    best = {"fun": np.inf, "x": x0}

    def objective(x: np.ndarray, gradient: np.ndarray) -> float:
        value = fun(x)
        if value < best["fun"]:
            best.update(fun=value, x=x.copy())
        return value

    opt = nlopt.opt(nlopt.LN_BOBYQA, x0.size)
    opt.set_min_objective(objective)
    opt.set_lower_bounds(np.where(np.isfinite(lower), lower, -np.inf))
    opt.set_xtol_abs(1e-10)
    opt.set_ftol_abs(1e-12)
    opt.set_maxeval(max_evaluations)
    try:
        opt.optimize(np.maximum(x0, lower))
        success = opt.last_optimize_result() in (nlopt.SUCCESS, nlopt.FTOL_REACHED,
                                                 nlopt.XTOL_REACHED, nlopt.STOPVAL_REACHED)
    except nlopt.RoundoffLimited:  # progress stopped by rounding: the best point stands
        success = True
    return optimize.OptimizeResult(x=best["x"], fun=best["fun"], success=success)


def minimize_deviance(
    fun: Callable[[np.ndarray], float],
    start: np.ndarray,
    lower: np.ndarray,
    variance_mask: np.ndarray,
    starts: tuple[float, ...] = (1.0, 0.1),
    polish: bool = True,
    derivative_free: bool = False,
    value_and_gradient: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None,
    canonical: Callable[[np.ndarray], np.ndarray] | None = None,
    newton: bool = False,
) -> OptimumResult:
    """Minimise ``fun`` subject to ``x >= lower``; ``variance_mask`` marks the diagonal thetas.

    ``starts`` scale the variance parameters of ``start`` (other parameters are kept).
    Gradients are forward differences, which halve the cost of central ones (PIRLS).
    ``derivative_free`` replaces the gradient runs by one run of bobyqa from lme4's start,
    as lmer does: a few dozen evaluations where a gradient run needs hundreds.
    ``value_and_gradient``, where the deviance has an exact gradient, replaces the finite
    differences. With vector-valued terms, give ``canonical``: that run is unbounded (a
    bounded one stalls where a diagonal element of Lambda reaches zero with its column
    still non-zero) and ``canonical`` maps its answer back to the bounded form.
    ``newton`` adds one Newton step at an interior answer (see :func:`_newton_polish`).
    """
    evaluations = 0

    def counted(x: np.ndarray) -> float:
        nonlocal evaluations
        evaluations += 1
        value = fun(x)
        return value if np.isfinite(value) else 1e300

    if start.size == 1 and variance_mask[0]:
        return _minimize_scalar(counted, lambda: evaluations)
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    attempts, best = [], None
    if value_and_gradient is not None:
        # A large deviance's gradient cannot be resolved below its rounding noise (STAR: a
        # deviance of 60,594 and a gradient near 4e-5 at the optimum, where BFGS went on for
        # a hundred evaluations changing the deviance by 1e-9).
        gtol = max(1e-6, 1e-9 * abs(counted(start)))
    with warnings.catch_warnings():
        # Finite-difference noise near the optimum makes scipy talk; the result is judged
        # by the deviance and the polish below, not by these messages.
        warnings.simplefilter("ignore", RuntimeWarning)
        for factor in starts[:1] if derivative_free else starts:
            x0 = np.where(variance_mask, start * factor, start)
            if derivative_free:
                run = _bobyqa(counted, x0, lower, max_evaluations=100_000)
                label = "bobyqa (NLopt)"
            elif value_and_gradient is not None:
                # Variances only: L-BFGS-B within the bounds (its scaled steps need fewer
                # evaluations). Vector terms: unbounded BFGS, mapped back by ``canonical``.
                bounded = canonical is None
                method = "L-BFGS-B" if bounded else "BFGS"
                tolerance = {"ftol": 1e-15} if bounded else {"xrtol": 1e-12}
                run = optimize.minimize(value_and_gradient, x0, method=method, jac=True,
                                        bounds=bounds if bounded else None,
                                        options={"gtol": gtol, "maxiter": 1000, **tolerance})
                run.x = run.x if bounded else canonical(run.x)
                # Both stop with a line-search failure where they can no longer lower the
                # deviance; with a vanishing gradient that point is the optimum.
                run.success = run.success or bool(np.max(np.abs(run.jac)) < GRADIENT_TOL)
                evaluations += run.nfev
                label = f"{method}, exact gradient (start x{factor:g})"
            else:
                run = optimize.minimize(counted, x0, method="L-BFGS-B", bounds=bounds,
                                        jac="2-point",
                                        options={"ftol": 1e-12, "gtol": 1e-7, "maxiter": 500})
                label = f"L-BFGS-B (start x{factor:g})"
            attempts.append({"method": label, "deviance": float(run.fun),
                             "success": bool(run.success)})
            if best is None or run.fun < best.fun:
                best = run
            if run.success and np.all(np.asarray(run.x)[variance_mask] > INTERIOR):
                break  # well inside the parameter space: the second start guards the boundary only
        x, value, success = np.maximum(best.x, lower), float(best.fun), bool(best.success)
        spread = max(a["deviance"] for a in attempts) - min(a["deviance"] for a in attempts)
        near_boundary = bool(np.any(x[variance_mask] < 1e-3))
        if polish and (spread > 1e-7 * max(1.0, abs(value)) or near_boundary or not success):
            # A small simplex around the gradient method's answer: a derivative-free check
            # that matters when that answer sits on or near the boundary.
            simplex = np.vstack([x] + [x + np.eye(x.size)[i] * max(1e-3, 1e-2 * abs(x[i]))
                                       for i in range(x.size)])
            run = optimize.minimize(counted, x, method="Nelder-Mead", bounds=bounds,
                                    options={"xatol": 1e-8, "fatol": 1e-10, "maxfev": 100 * x.size
                                             + 100, "initial_simplex": simplex,
                                             "adaptive": x.size > 4})
            attempts.append({"method": "Nelder-Mead polish", "deviance": float(run.fun),
                             "success": bool(run.success)})
            if run.fun <= value:
                x, value = np.maximum(run.x, lower), float(run.fun)
                success = success or bool(run.success)
        # Only where the stopping rule sits at the deviance's rounding noise, which grows
        # with its size: from 10^4 (ftol_abs 1e-12 is then below one unit in the last place).
        noisy_stop = abs(value) >= 1e4 and (derivative_free or value_and_gradient is not None)
        if newton and noisy_stop and not near_boundary and x.size <= NEWTON_MAX:
            x, value = _newton_polish(counted, x, value, lower, attempts)
    for i in np.flatnonzero(variance_mask & (x > 0) & (x < BOUNDARY_TOL)):
        trial = x.copy()
        trial[i] = 0.0
        trial_value = counted(trial)
        if trial_value <= value:
            x, value = trial, trial_value
    return OptimumResult(x, float(fun(x)), bool(success and np.isfinite(value)), attempts,
                         evaluations)


def deriv12(fun, x: np.ndarray, step: float = 1e-4) -> tuple[float, np.ndarray, np.ndarray]:
    """Value, gradient and Hessian by lme4's ``deriv12`` stencil (central, step 1e-4).

    The gradient comes from the Hessian's own diagonal evaluations, as in lme4.
    """
    n, fx = x.size, fun(x)
    shift = np.eye(n) * step
    gradient, out = np.empty(n), np.empty((n, n))
    for j in range(n):  # n is the number of parameters (a handful), not of rows
        up, down = fun(x + shift[j]), fun(x - shift[j])
        gradient[j] = (up - down) / (2 * step)
        out[j, j] = (up - 2.0 * fx + down) / step**2
        for i in range(j):
            plus, minus = x + shift[i], x - shift[i]
            out[i, j] = out[j, i] = (fun(plus + shift[j]) - fun(plus - shift[j])
                                     - fun(minus + shift[j]) + fun(minus - shift[j])) / (4 * step**2)
    fun(x)  # leave the conditional modes at x
    return fx, gradient, out
