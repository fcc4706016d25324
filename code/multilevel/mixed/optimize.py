"""The one optimiser policy for every fit.

lme4 minimises its deviances with bobyqa (and Nelder-Mead). Here: L-BFGS-B with
finite-difference gradients, from lme4's start and again from a tenth of it (a start
near zero reaches small positive variances that a gradient method started at 1 can
miss by stopping on the boundary), then a bounded Nelder-Mead polish from the better
of the two, and lme4's boundary check: a variance parameter within 1e-5 of zero is set
to zero when that is no worse. Every step is kept in ``attempts`` for the result.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize

__all__ = ["OptimumResult", "minimize_deviance"]

BOUNDARY_TOL = 1e-5  # lme4's boundary.tol


@dataclass
class OptimumResult:
    x: np.ndarray
    fun: float
    converged: bool
    attempts: list[dict]
    evaluations: int


def minimize_deviance(
    fun: Callable[[np.ndarray], float],
    start: np.ndarray,
    lower: np.ndarray,
    variance_mask: np.ndarray,
    starts: tuple[float, ...] = (1.0, 0.1),
    polish: bool = True,
) -> OptimumResult:
    """Minimise ``fun`` subject to ``x >= lower``; ``variance_mask`` marks the diagonal thetas.

    ``starts`` scale the variance parameters of ``start`` (other parameters are kept).
    """
    evaluations = 0

    def counted(x: np.ndarray) -> float:
        nonlocal evaluations
        evaluations += 1
        value = fun(x)
        return value if np.isfinite(value) else 1e300

    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    attempts, best = [], None
    with warnings.catch_warnings():
        # Finite-difference noise near the optimum makes scipy talk; the result is judged
        # by the deviance and the polish below, not by these messages.
        warnings.simplefilter("ignore", RuntimeWarning)
        for factor in starts:
            x0 = np.where(variance_mask, start * factor, start)
            run = optimize.minimize(counted, x0, method="L-BFGS-B", bounds=bounds,
                                    options={"ftol": 1e-12, "gtol": 1e-7, "maxiter": 500})
            attempts.append({"method": f"L-BFGS-B (start x{factor:g})", "deviance": float(run.fun),
                             "success": bool(run.success)})
            if best is None or run.fun < best.fun:
                best = run
        x, value, success = np.maximum(best.x, lower), float(best.fun), bool(best.success)
        if polish:
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
    for i in np.flatnonzero(variance_mask & (x > 0) & (x < BOUNDARY_TOL)):
        trial = x.copy()
        trial[i] = 0.0
        trial_value = counted(trial)
        if trial_value <= value:
            x, value = trial, trial_value
    return OptimumResult(x, float(fun(x)), bool(success and np.isfinite(value)), attempts,
                         evaluations)
