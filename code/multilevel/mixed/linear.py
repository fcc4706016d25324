"""The profiled deviance of a linear mixed model (Bates et al. 2015, section 3).

For given ``theta`` the fixed effects and the residual variance have closed forms, so the
(restricted) deviance is a function of ``theta`` alone. The cross-products ``Z'Z``,
``Z'[X y]`` and ``[X y]'[X y]`` are formed once; an evaluation then costs one factorisation
of ``A = Lambda'Z'Z Lambda + I`` and solves with it, whatever the number of rows
(the blocked approach of MixedModels.jl).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multilevel.mixed.pls import SparseSystem, penalized_system
from multilevel.mixed.terms import ModelData

__all__ = ["LinearDeviance", "LinearSolution"]


@dataclass
class LinearSolution:
    """Everything that follows from ``theta``: lme4's quantities at that point."""

    deviance: float
    beta: np.ndarray
    sigma2: float
    u: np.ndarray  # spherical random effects; b = Lambda u
    xtvx: np.ndarray  # X'V^-1X up to sigma^2 (lme4's RX'RX)
    logdet_a: float
    pwrss: float
    lzx_solved: np.ndarray  # A^-1 Lambda'Z'X, for the gradient


class LinearDeviance:
    """``theta -> -2 log L`` (or the REML criterion) for model data whose ``X`` the caller scaled.

    ``x_scale`` holds the factors the columns of ``X`` were divided by: the REML
    criterion's ``log|X'V^-1X|`` depends on them, and is reported for the original ``X``.
    ``offset`` replaces the data's offset (for profiling a fixed effect).
    """

    def __init__(self, data: ModelData, reml: bool, x_scale: np.ndarray | None = None,
                 offset: np.ndarray | None = None) -> None:
        self.data, self.reml = data, reml
        self.log_scale = 0.0 if x_scale is None else 2.0 * float(np.sum(np.log(x_scale)))
        self.system = penalized_system(data)
        y = data.y - (data.offset if offset is None else offset)
        # Work with the OLS residual as the response (beta then shifts by the OLS fit): the
        # cross-products of a response far from zero (scores near 500) lose two or three
        # digits to cancellation in pwrss, and the deviance's noise stalls the optimiser.
        self.beta_ols = np.linalg.lstsq(data.X, y, rcond=None)[0]
        xy = np.column_stack([data.X, y - data.X @ self.beta_ols])
        self.n, self.p = data.X.shape
        self.gram = xy.T @ xy
        self.ztz = self.system.ztwz(np.ones(self.n))
        self.ztxy = self.system.zt(xy)
        self.column_term = np.repeat(np.arange(len(data.terms)),
                                     [t.p * t.n_levels for t in data.terms])
        # value_and_gradient needs scalar terms (Lambda diagonal) and an affordable diag(A^-1).
        self.has_gradient = all(t.p == 1 for t in data.terms) and \
            not isinstance(self.system, SparseSystem)

    def solve(self, theta: np.ndarray, beta_fixed: np.ndarray | None = None) -> LinearSolution:
        """lme4's solution at ``theta``; ``beta_fixed`` holds beta instead of solving for it."""
        system, p, n = self.system, self.p, self.n
        system.set_theta(theta)
        logdet = system.factor(self.ztz)
        lz = system.lambda_t_times(self.ztxy)
        solved = system.solve(lz)
        cross = self.gram - lz.T @ solved
        xtvx = cross[:p, :p]
        beta = np.linalg.solve(xtvx, cross[:p, p]) if beta_fixed is None else \
            beta_fixed - self.beta_ols
        pwrss = cross[p, p] - 2 * beta @ cross[:p, p] + beta @ xtvx @ beta
        dof = n - p if self.reml else n
        if not (pwrss > 0 and np.isfinite(logdet)):
            deviance = np.inf
        else:
            deviance = logdet + dof * (1.0 + np.log(2.0 * np.pi * pwrss / dof))
            if self.reml:
                deviance += np.linalg.slogdet(xtvx)[1] + self.log_scale
        u = solved[:, p] - solved[:, :p] @ beta
        return LinearSolution(float(deviance), beta + self.beta_ols, pwrss / dof, u, xtvx,
                              logdet, pwrss, solved[:, :p])

    def __call__(self, theta: np.ndarray) -> float:
        return self.solve(theta).deviance

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The profiled deviance and its exact gradient, for scalar terms only.

        With ``V = I + Z Lambda Lambda' Z'``, ``dV/dtheta_k = 2 theta_k Z_k Z_k'`` (term k's
        columns), and ``Lambda'Z'V^-1 = A^-1 Lambda'Z'`` turns every piece into sums over
        term k's levels a of quantities the solve already has, over ``theta_k``:
        ``d log|A| = 2 sum (1 - (A^-1)_aa)``, ``d pwrss = -2 sum u_a^2`` (the modes
        satisfy ``Lambda'Z'r = u``) and ``d log|X'V^-1X| = -2 sum c_a' (X'V^-1X)^-1 c_a``
        with ``c_a`` the rows of ``A^-1 Lambda'Z'X``. Only ``diag(A^-1)`` costs extra.
        """
        sol = self.solve(theta)
        gradient = np.zeros_like(theta)
        if not np.isfinite(sol.deviance):
            return np.inf, gradient
        dof = self.n - self.p if self.reml else self.n
        inverse_diagonal = np.concatenate([b[:, 0, 0] for b in self.system.inverse_blocks()])
        per_level = 2.0 * (1.0 - inverse_diagonal) - 2.0 * dof * sol.u**2 / sol.pwrss
        if self.reml:
            c = sol.lzx_solved
            per_level -= 2.0 * np.einsum("ai,ij,aj->a", c, np.linalg.inv(sol.xtvx), c)
        sums = np.bincount(self.column_term, weights=per_level, minlength=len(theta))
        nonzero = theta != 0  # the deviance is even in each theta: 0 is a stationary point
        gradient[nonzero] = sums[nonzero] / theta[nonzero]
        return sol.deviance, gradient

    def deviance_at(self, theta: np.ndarray, sigma: float, beta: np.ndarray | None = None) -> float:
        """The deviance with ``sigma`` (and optionally beta, scaled) held fixed, not profiled.

        For profiling: ``-2 log L = log|A| + n log(2 pi sigma^2) + pwrss / sigma^2`` (ML),
        and with ``log|X'V^-1X| - p log sigma^2`` added and ``n - p`` in place of ``n`` (REML).
        """
        sol = self.solve(theta, beta)
        dof = self.n - self.p if self.reml else self.n
        value = sol.logdet_a + dof * np.log(2 * np.pi * sigma**2) + sol.pwrss / sigma**2
        if self.reml:
            value += np.linalg.slogdet(sol.xtvx)[1] + self.log_scale
        return float(value)
