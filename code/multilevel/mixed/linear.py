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

from multilevel.mixed.pls import penalized_system
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
        xy = np.column_stack([data.X, y])
        self.n, self.p = data.X.shape
        self.gram = xy.T @ xy
        self.ztz = self.system.ztwz(np.ones(self.n))
        self.ztxy = self.system.zt(xy)

    def solve(self, theta: np.ndarray, beta_fixed: np.ndarray | None = None) -> LinearSolution:
        """lme4's solution at ``theta``; ``beta_fixed`` holds beta instead of solving for it."""
        system, p, n = self.system, self.p, self.n
        system.set_theta(theta)
        logdet = system.factor(self.ztz)
        lz = system.lambda_t_times(self.ztxy)
        solved = system.solve(lz)
        cross = self.gram - lz.T @ solved
        xtvx = cross[:p, :p]
        beta = np.linalg.solve(xtvx, cross[:p, p]) if beta_fixed is None else beta_fixed
        pwrss = cross[p, p] - 2 * beta @ cross[:p, p] + beta @ xtvx @ beta
        dof = n - p if self.reml else n
        if not (pwrss > 0 and np.isfinite(logdet)):
            deviance = np.inf
        else:
            deviance = logdet + dof * (1.0 + np.log(2.0 * np.pi * pwrss / dof))
            if self.reml:
                deviance += np.linalg.slogdet(xtvx)[1] + self.log_scale
        u = solved[:, p] - solved[:, :p] @ beta
        return LinearSolution(float(deviance), beta, pwrss / dof, u, xtvx, logdet, pwrss)

    def __call__(self, theta: np.ndarray) -> float:
        return self.solve(theta).deviance

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
