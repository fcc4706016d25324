"""Numerical core of :mod:`multilevel.glmm`: PIRLS, Laplace/AGQ deviance, its gradient, the fit.

Notation (lme4's): cell ``i`` of group ``j`` has fixed-effects row ``x_i``,
random-effects row ``z_i``, ``k_i`` successes in ``n_i`` trials and linear
predictor ``eta_i = x_i beta + z_i Lambda u_j``. ``zl_i = z_i Lambda``. At the
conditional mode ``u_j`` the curvature of the penalised deviance is
``H_j = I + sum_i w_i zl_i' zl_i`` with ``w_i = n_i mu_i (1 - mu_i)``, and the
Laplace deviance is ``-2 sum_i loglik_i + sum_j |u_j|^2 + sum_j log det H_j``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.polynomial.hermite_e import hermegauss
from scipy import optimize, special

_PIRLS_STEP_TOL = 1e-10  # PIRLS converges quadratically: this costs one extra step at most
_BOUNDARY_TOL = 1e-5  # lme4's boundary.tol
_HESSIAN_STEP = 1e-4  # lme4's deriv12 default


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Cells:
    """The data collapsed to one row ("cell") per distinct (covariates, group), sorted by group."""

    X: np.ndarray  # fixed-effects design, (cells, p)
    Z: np.ndarray  # random-effects design, (cells, q)
    group: np.ndarray  # group index of each cell, 0..G-1, non-decreasing
    successes: np.ndarray
    trials: np.ndarray
    starts: np.ndarray  # first cell of each group, for np.add.reduceat

    def group_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum ``values`` (cells along axis 0) within groups."""
        return np.add.reduceat(values, self.starts, axis=0)


def collapse(X: np.ndarray, Z: np.ndarray, group: np.ndarray, y: np.ndarray, merge: bool) -> Cells:
    """Collapse 0/1 rows with identical covariates and group into (successes, trials) cells.

    With ``merge=False`` every row stays its own cell (for checking that merging
    does not change the likelihood).
    """
    if merge:
        # Number the distinct rows column by column; factorizing the combined key after
        # each column keeps it below n_rows**2, so it never overflows.
        key = group.astype(np.int64)
        for column in np.column_stack([X, Z]).T:
            codes, uniques = pd.factorize(column)
            key = pd.factorize(key * len(uniques) + codes)[0]
    else:
        key = np.arange(y.size)
    n_cells = int(key.max()) + 1
    trials = np.bincount(key, minlength=n_cells).astype(float)
    successes = np.bincount(key, weights=y, minlength=n_cells)
    first_row = np.unique(key, return_index=True)[1]
    order = np.argsort(group[first_row], kind="stable")
    rows = first_row[order]
    starts = np.flatnonzero(np.r_[True, np.diff(group[rows]) > 0])
    return Cells(X[rows], Z[rows], group[rows], successes[order], trials[order], starts)


def bernoulli_loglik(cells: Cells, eta: np.ndarray) -> np.ndarray:
    """Log-likelihood of each cell's 0/1 rows (no binomial coefficient, as for the rows)."""
    k, n = cells.successes, cells.trials
    if eta.ndim == 2:  # one column per quadrature node
        k, n = k[:, None], n[:, None]
    return k * eta - n * np.logaddexp(0.0, eta)


# ------------------------------------------------------------------ parameters
def theta_index(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column in Lambda of each theta element: lower triangle, column by column (lme4)."""
    pairs = [(i, j) for j in range(q) for i in range(j, q)]
    return np.array([i for i, _ in pairs]), np.array([j for _, j in pairs])


def theta_lower_bounds(q: int) -> np.ndarray:
    """0 for the diagonal elements of Lambda, -inf for the others."""
    rows, cols = theta_index(q)
    return np.where(rows == cols, 0.0, -np.inf)


def lambda_matrix(theta: np.ndarray, q: int) -> np.ndarray:
    lam = np.zeros((q, q))
    lam[theta_index(q)] = theta
    return lam


# ------------------------------------------------------- small batched linear algebra
def _inverse(matrices: np.ndarray) -> np.ndarray:
    """Inverse of every group's q x q matrix; closed forms for q = 1 and 2 (the usual cases)."""
    q = matrices.shape[-1]
    if q == 1:
        return 1.0 / matrices
    if q == 2:
        a, b, c = matrices[:, 0, 0], matrices[:, 0, 1], matrices[:, 1, 1]
        det = a * c - b * b
        return np.stack([np.stack([c, -b], -1), np.stack([-b, a], -1)], -2) / det[:, None, None]
    return np.linalg.inv(matrices)


def _log_det(matrices: np.ndarray) -> np.ndarray:
    q = matrices.shape[-1]
    if q == 1:
        return np.log(matrices[:, 0, 0])
    if q == 2:
        return np.log(matrices[:, 0, 0] * matrices[:, 1, 1] - matrices[:, 0, 1] ** 2)
    return np.linalg.slogdet(matrices)[1]


def _apply(matrices: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``matrices[j] @ vectors[j]`` for every group."""
    return np.einsum("gab,gb->ga", matrices, vectors)


# ------------------------------------------------------------- conditional modes
@dataclass
class Modes:
    """The conditional modes and what the deviance and its gradient need at them."""

    u: np.ndarray  # spherical conditional modes, (G, q)
    curvature: np.ndarray  # H_j = I + Lambda' Z_j' W_j Z_j Lambda at the mode, (G, q, q)
    eta: np.ndarray  # linear predictor at the mode, (cells,)
    zl: np.ndarray  # Z Lambda, (cells, q)
    offset: np.ndarray  # X beta, (cells,)


def _penalised_deviance(cells: Cells, eta: np.ndarray, u: np.ndarray) -> np.ndarray:
    """-2 log-likelihood plus |u_j|^2, per group: what PIRLS minimises."""
    return -2.0 * cells.group_sum(bernoulli_loglik(cells, eta)) + (u**2).sum(axis=1)


def conditional_modes(cells: Cells, theta: np.ndarray, beta: np.ndarray, u: np.ndarray) -> Modes:
    """Find the conditional modes by PIRLS: Newton steps for all groups at once, from ``u``.

    The penalised deviance is strictly convex in each ``u_j``, so halving the step
    in the groups where it did not decrease always makes progress.
    """
    q = cells.Z.shape[1]
    offset = cells.X @ beta
    zl = cells.Z @ lambda_matrix(theta, q)
    zl_outer = zl[:, :, None] * zl[:, None, :]
    identity = np.eye(q)
    eta = offset + np.einsum("ik,ik->i", zl, u[cells.group])
    current = _penalised_deviance(cells, eta, u)
    for _ in range(100):
        mu = special.expit(eta)
        weights = cells.trials * mu * (1.0 - mu)
        curvature = cells.group_sum(weights[:, None, None] * zl_outer) + identity
        score = cells.group_sum(zl * (cells.successes - cells.trials * mu)[:, None]) - u
        step = _apply(_inverse(curvature), score)
        if np.abs(step).max() < _PIRLS_STEP_TOL:
            break
        for _ in range(50):
            new_u = u + step
            new_eta = offset + np.einsum("ik,ik->i", zl, new_u[cells.group])
            new = _penalised_deviance(cells, new_eta, new_u)
            worse = new > current + 1e-12 * np.abs(current)
            if not worse.any():
                break
            step[worse] *= 0.5
        u, eta, current = new_u, new_eta, new
    return Modes(u, curvature, eta, zl, offset)


# ------------------------------------------------------------------ the deviance
def marginal_deviance(cells: Cells, modes: Modes, n_agq: int) -> float:
    """-2 x the Laplace (``n_agq = 1``) or adaptive Gauss-Hermite approximate log-likelihood."""
    log_det = _log_det(modes.curvature)
    if n_agq == 1:
        return float(np.sum(_penalised_deviance(cells, modes.eta, modes.u) + log_det))
    # Scalar random effect: the nodes are centred at each group's mode and scaled by its
    # curvature, so a few of them integrate the group's likelihood accurately.
    nodes, weights = hermegauss(n_agq)
    weights = weights / np.sqrt(2.0 * np.pi)
    scale = 1.0 / np.sqrt(modes.curvature[:, 0, 0])
    u_nodes = modes.u[:, :1] + scale[:, None] * nodes[None, :]
    eta = modes.offset[:, None] + modes.zl[:, :1] * u_nodes[cells.group]
    log_lik = cells.group_sum(bernoulli_loglik(cells, eta))
    log_terms = np.log(weights) + log_lik - 0.5 * u_nodes**2 + 0.5 * nodes**2
    return float(np.sum(-2.0 * special.logsumexp(log_terms, axis=1) + log_det))


def laplace_gradient(cells: Cells, modes: Modes) -> np.ndarray:
    """Exact gradient of the Laplace deviance over ``(theta, beta)``.

    The penalised part needs only its partial derivatives (the mode minimises
    it). ``log det H_j`` changes with Lambda directly and through the weights
    ``w_i``, which move with ``eta_i``, which moves with beta, Lambda and the
    mode; the mode's own derivative comes from differentiating ``score = 0``.
    """
    mu = special.expit(modes.eta)
    weights = cells.trials * mu * (1.0 - mu)
    residual = cells.successes - cells.trials * mu
    zl, u = modes.zl, modes.u
    inverse = _inverse(modes.curvature)  # G_j = H_j^-1
    leverage = np.einsum("ia,iab,ib->i", zl, inverse[cells.group], zl)
    # d log det H / d eta_i, holding Lambda and the mode fixed.
    dlogdet_deta = weights * (1.0 - 2.0 * mu) * leverage
    v = _apply(inverse, cells.group_sum(dlogdet_deta[:, None] * zl))  # G_j e_j
    zl_v = np.einsum("ik,ik->i", zl, v[cells.group])
    grad_beta = cells.X.T @ (-2.0 * residual + dlogdet_deta - weights * zl_v)
    s = cells.group_sum(cells.Z * residual[:, None])  # Z_j' r_j
    f = cells.group_sum(cells.Z * dlogdet_deta[:, None])
    b = cells.group_sum((weights[:, None] * zl)[:, :, None] * cells.Z[:, None, :])  # Lambda' A_j
    left = -2.0 * s + f - np.einsum("gma,gm->ga", b, v)
    grad_lambda = (
        np.einsum("ga,gb->ab", left, u)
        + np.einsum("ga,gb->ab", s, v)
        + 2.0 * np.einsum("gma,gmb->ab", b, inverse)
    )
    return np.r_[grad_lambda[theta_index(zl.shape[1])], grad_beta]


class Objective:
    """The deviance as a function of ``params = (theta, beta)``, warm-starting PIRLS."""

    def __init__(self, cells: Cells, n_agq: int) -> None:
        self.cells, self.n_agq = cells, n_agq
        self.q, self.p = cells.Z.shape[1], cells.X.shape[1]
        self.n_theta = self.q * (self.q + 1) // 2
        self.u = np.zeros((cells.starts.size, self.q))

    def split(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return params[: self.n_theta], params[self.n_theta :]

    def modes(self, params: np.ndarray) -> Modes:
        theta, beta = self.split(params)
        modes = conditional_modes(self.cells, theta, beta, self.u)
        self.u = modes.u
        return modes

    def __call__(self, params: np.ndarray) -> float:
        return marginal_deviance(self.cells, self.modes(params), self.n_agq)

    def value_and_gradient(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        if self.n_agq == 1:
            modes = self.modes(params)
            return marginal_deviance(self.cells, modes, 1), laplace_gradient(self.cells, modes)
        # Quadrature (one scalar random effect, so few parameters): central differences;
        # PIRLS converges to ~1e-10, so the deviance is smooth enough for them.
        step = 1e-6 * np.maximum(1.0, np.abs(params))
        shifts = np.diag(step)
        grad = np.array([self(params + e) - self(params - e) for e in shifts]) / (2.0 * step)
        return self(params), grad


# ----------------------------------------------------------------- optimisation
def glm_start(cells: Cells) -> np.ndarray:
    """Fixed effects of the logistic regression without random effects (Newton-Raphson)."""
    X = cells.X
    beta = np.zeros(X.shape[1])
    for _ in range(50):
        mu = special.expit(X @ beta)
        weights = cells.trials * mu * (1.0 - mu) + 1e-12
        score = X.T @ (cells.successes - cells.trials * mu)
        step = np.linalg.solve(X.T @ (weights[:, None] * X), score)
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    return beta


def _minimise(objective: Objective, start: np.ndarray) -> optimize.OptimizeResult:
    with warnings.catch_warnings():
        # "Precision loss" messages near the optimum are judged afterwards by the
        # deviance and the gradient check, so they are not passed on.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        return optimize.minimize(
            objective.value_and_gradient,
            start,
            jac=True,
            method="BFGS",
            options={"maxiter": 1000, "gtol": 1e-6, "xrtol": 1e-12},
        )


def canonical_theta(theta: np.ndarray, q: int) -> np.ndarray:
    """Flip the sign of each column of Lambda whose diagonal element is negative.

    The deviance depends on Lambda only through the covariance Lambda Lambda'
    (u_j and -u_j are equally likely), and flipping a column keeps that, so the
    optimisation can run without bounds; this restores lme4's form (diagonal >= 0).
    """
    lam = lambda_matrix(theta, q)
    lam = lam * np.where(np.diag(lam) < 0, -1.0, 1.0)[None, :]
    return lam[theta_index(q)]


def fit_parameters(objective: Objective) -> tuple[np.ndarray, float]:
    """Minimise the deviance over (theta, beta) from two starts and keep the best.

    The starts are glmer's (Lambda = I) and a small one (Lambda = 0.1 I) that
    reaches variances near zero from the other side; both take the fixed effects
    of the logistic regression without random effects. Quadrature then starts
    from the best Laplace fit, which is close (as glmer's second stage starts
    from its first). BFGS runs unbounded (see :func:`canonical_theta`); scipy's
    bounded L-BFGS-B would also do, but its tiny BLAS calls are very slow when
    two OpenBLAS thread pools compete.
    """
    q = objective.q
    laplace = objective if objective.n_agq == 1 else Objective(objective.cells, 1)
    beta0 = glm_start(objective.cells)
    theta_identity = np.eye(q)[theta_index(q)]
    best = None
    for theta0 in (theta_identity, 0.1 * theta_identity):
        laplace.u = np.zeros_like(laplace.u)
        result = _minimise(laplace, np.r_[theta0, beta0])
        if best is None or result.fun < best.fun:
            best = result
    if objective.n_agq > 1:
        objective.u = laplace.u
        best = _minimise(objective, best.x)
    theta, beta = objective.split(best.x)
    params = np.r_[canonical_theta(theta, q), beta]
    value = objective(params)
    # lme4's boundary check: a diagonal element of Lambda within 1e-5 of zero is set
    # to zero when that does not increase the deviance.
    diagonal = np.r_[theta_lower_bounds(q) == 0, np.zeros(objective.p, bool)]
    for i in np.flatnonzero(diagonal & (params > 0) & (params < _BOUNDARY_TOL)):
        trial = params.copy()
        trial[i] = 0.0
        if (trial_value := objective(trial)) <= value:
            params, value = trial, trial_value
    return params, value


def hessian(objective: Objective, x: np.ndarray, fx: float) -> np.ndarray:
    """Finite-difference Hessian of the deviance with lme4's ``deriv12`` stencil (step 1e-4)."""
    n, h = x.size, _HESSIAN_STEP
    shift = np.eye(n) * h
    hess = np.empty((n, n))
    for j in range(n):  # n is the number of parameters (at most ~10), not rows or groups
        hess[j, j] = (objective(x + shift[j]) - 2.0 * fx + objective(x - shift[j])) / h**2
        for i in range(j):
            plus, minus = x + shift[i], x - shift[i]
            hess[i, j] = hess[j, i] = (
                objective(plus + shift[j])
                - objective(plus - shift[j])
                - objective(minus + shift[j])
                + objective(minus - shift[j])
            ) / (2 * h) ** 2
    return hess


def fixed_covariance(
    objective: Objective, params: np.ndarray, hess: np.ndarray
) -> tuple[np.ndarray, str]:
    """Covariance of the fixed effects as lme4 1.1-31's ``vcov.merMod`` computes it.

    Its default (``use.hessian = TRUE`` when the Hessian is available): invert the
    whole Hessian of the deviance over (theta, beta), keep the beta block and
    double it (deviance = -2 log-likelihood). If that is not positive definite,
    lme4 falls back to the covariance of beta given theta, ``(X'WX - X'WZ Lambda
    H^-1 Lambda' Z'WX)^-1`` ("RX"); so does this function.
    """
    n_theta = objective.n_theta
    try:
        block = np.linalg.inv(hess)[n_theta:, n_theta:]
        cov = block + block.T
        if np.isfinite(cov).all() and np.linalg.eigvalsh(cov).min() > 0:
            return cov, "hessian"
    except np.linalg.LinAlgError:
        pass
    cells, modes = objective.cells, objective.modes(params)
    mu = special.expit(modes.eta)
    weights = cells.trials * mu * (1.0 - mu)
    cross = cells.group_sum((weights[:, None] * modes.zl)[:, :, None] * cells.X[:, None, :])
    correction = np.einsum("gqi,gqr,grj->ij", cross, _inverse(modes.curvature), cross)
    return np.linalg.inv(cells.X.T @ (weights[:, None] * cells.X) - correction), "rx"


def is_converged(objective: Objective, params: np.ndarray, hess: np.ndarray) -> bool:
    """lme4's check: |H^-1 gradient| < 0.002, ignoring variances held at zero by their bound."""
    gradient = objective.value_and_gradient(params)[1]
    lower = np.r_[theta_lower_bounds(objective.q), np.full(objective.p, -np.inf)]
    gradient[(params <= lower) & (gradient > 0)] = 0.0
    try:
        scaled = np.linalg.solve(hess, gradient)
    except np.linalg.LinAlgError:
        scaled = gradient
    return bool(np.abs(scaled).max() < 2e-3)
