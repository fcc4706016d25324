"""Generalized linear mixed models: families, PIRLS, the Laplace and quadrature deviance.

Rows with identical covariates, groups and offset are first collapsed into cells with
summed responses and "trials" (the likelihood kernel is unchanged, so the log-likelihood
is exactly that of the rows; the constant, the binomial coefficients or ``log y!``, is
added back). For given ``(theta, beta)`` the conditional modes ``u`` come from penalised
iteratively reweighted least squares (PIRLS), Newton steps on the penalised deviance
with the :mod:`~multilevel.mixed.pls` system; the deviance is then lme4's Laplace
approximation or, for one scalar random term, adaptive Gauss-Hermite quadrature.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from numpy.polynomial.hermite_e import hermegauss
from scipy import special

from multilevel.mixed.pls import BlockSystem, DenseSystem, penalized_system
from multilevel.mixed.terms import ModelData

PRODUCT_ROWS = 512  # 2^512 < the largest double

__all__ = ["FAMILIES", "Family", "GlmmDeviance", "collapse_cells"]


@dataclass(frozen=True)
class Family:
    """A canonical-link exponential family: the kernel ``k eta - n b(eta)`` and its derivatives."""

    name: str
    link: str

    def mean(self, eta: np.ndarray) -> np.ndarray:
        return special.expit(eta) if self.name == "binomial" else np.exp(eta)

    def cumulant(self, eta: np.ndarray) -> np.ndarray:
        return np.logaddexp(0.0, eta) if self.name == "binomial" else np.exp(eta)

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return mu * (1.0 - mu) if self.name == "binomial" else mu

    def variance_slope(self, mu: np.ndarray) -> np.ndarray:
        """d variance / d eta divided by the variance: 1 - 2 mu (logit), 1 (log)."""
        return 1.0 - 2.0 * mu if self.name == "binomial" else np.ones_like(mu)

    def link_fun(self, mu: np.ndarray) -> np.ndarray:
        return special.logit(mu) if self.name == "binomial" else np.log(mu)

    def constant(self, successes: np.ndarray, trials: np.ndarray) -> float:
        """The part of the log-likelihood that does not depend on the parameters."""
        if self.name == "binomial":
            return float(np.sum(special.gammaln(trials + 1) - special.gammaln(successes + 1)
                                - special.gammaln(trials - successes + 1)))
        return float(-np.sum(special.gammaln(successes + 1)))


FAMILIES = {"binomial": Family("binomial", "logit"), "poisson": Family("poisson", "log")}


def collapse_cells(data: ModelData) -> tuple[ModelData, np.ndarray]:
    """Merge rows with the same X row, random-effects rows, groups and offset into cells.

    Returns the collapsed data (``y`` the mean response per trial, ``trials`` summed) and,
    for every original row, the index of its cell.
    """
    columns = [data.X, data.offset[:, None]]
    for term in data.terms:
        columns += [term.raw, term.codes[:, None].astype(float)]
    key = np.zeros(len(data.y), dtype=np.int64)
    for column in np.column_stack(columns).T:
        codes, uniques = pd.factorize(column)
        key = pd.factorize(key * len(uniques) + codes)[0]
    n_cells = int(key.max()) + 1
    first = np.unique(key, return_index=True)[1]
    trials = np.bincount(key, weights=data.trials, minlength=n_cells)
    successes = np.bincount(key, weights=data.y * data.trials, minlength=n_cells)
    terms = [replace(t, codes=t.codes[first], raw=t.raw[first]) for t in data.terms]
    cells = replace(data, X=data.X[first], y=successes / trials, trials=trials,
                    offset=data.offset[first], terms=terms, index=pd.RangeIndex(n_cells))
    return cells, key


class GlmmDeviance:
    """``(theta, beta) -> -2 log L`` by Laplace (``n_agq = 1``) or adaptive quadrature.

    PIRLS warm-starts from the last conditional modes, so an optimiser's nearby
    evaluations cost a few Newton steps each.
    """

    def __init__(self, data: ModelData, family: Family, n_agq: int, constant: float) -> None:
        self.data, self.family, self.n_agq, self.constant = data, family, n_agq, constant
        self.system = penalized_system(data)
        self.successes = data.y * data.trials
        self.unit_trials = bool(np.all(data.trials == 1.0))
        self.n_theta, self.p = data.n_theta, data.X.shape[1]
        self.u = np.zeros(data.q)
        if n_agq > 1:
            self.nodes, weights = hermegauss(n_agq)
            self.log_weights = np.log(weights / np.sqrt(2.0 * np.pi))
            codes = data.terms[0].codes
            self.node_cells = codes[:, None] * n_agq + np.arange(n_agq)  # (level, node) per row

    def split(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return params[:self.n_theta], params[self.n_theta:]

    def _kernel_total(self, eta: np.ndarray) -> float:
        """The log-likelihood less its constant: the sum of ``k eta - n b(eta)`` over cells."""
        if self.family.name != "binomial" or not self.unit_trials:
            return float(self.successes @ eta - self.data.trials @ self.family.cumulant(eta))
        # 0/1 rows that could not be collapsed, often hundreds of thousands: numpy's float64
        # log is scalar code on AVX2 machines (np.logaddexp: 5 ms for 200,000 values), so in
        # b(eta) = max(eta, 0) + log(1 + e^-|eta|) the logs are summed as logs of column
        # products of PRODUCT_ROWS factors in (1, 2], which cannot overflow.
        factors = 1.0 + np.exp(-np.abs(eta))
        whole = len(factors) // PRODUCT_ROWS * PRODUCT_ROWS
        log_sum = np.log(factors[:whole].reshape(PRODUCT_ROWS, -1).prod(axis=0)).sum() + \
            np.log(factors[whole:]).sum()
        return float(self.successes @ eta - np.maximum(eta, 0.0).sum() - log_sum)

    def modes(self, theta: np.ndarray, beta: np.ndarray) -> dict:
        """PIRLS: the conditional modes at ``(theta, beta)`` and ``A`` factorised there."""
        system, data, family = self.system, self.data, self.family
        system.set_theta(theta)
        fixed = data.offset + data.X @ beta
        u = self.u.copy()

        def penalised(u_: np.ndarray) -> tuple[float, np.ndarray]:
            eta_ = fixed + system.z_times(system.lambda_times(u_))
            return -2.0 * self._kernel_total(eta_) + float(u_ @ u_), eta_

        current, eta = penalised(u)
        if not np.isfinite(current):
            u = np.zeros_like(u)
            current, eta = penalised(u)
        for _ in range(200):
            mu = family.mean(eta)
            weights = data.trials * family.variance(mu)
            logdet = system.factor(system.ztwz(weights))
            score = system.lambda_t_times(system.zt(self.successes - data.trials * mu)).ravel() - u
            step = system.solve(score)
            if np.max(np.abs(step)) < 1e-10:
                break
            for _ in range(60):
                new_value, new_eta = penalised(u + step)
                if new_value <= current + 1e-12 * abs(current):
                    break
                step = step / 2
            else:
                break
            u, current, eta = u + step, new_value, new_eta
        self.u = u
        return {"u": u, "eta": eta, "penalised": current, "logdet": logdet, "weights": weights}

    def __call__(self, params: np.ndarray) -> float:
        theta, beta = self.split(params)
        modes = self.modes(theta, beta)
        if self.n_agq == 1:
            value = modes["penalised"] + modes["logdet"]
        else:
            value = self._quadrature(theta, beta, modes)
        return float(value - 2.0 * self.constant) if np.isfinite(value) else np.inf

    def value_and_gradient(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        """The Laplace deviance and its exact gradient over ``(theta, beta)``, one random term.

        (Scalar terms in a dense system: :meth:`_diagonal_gradient`.) The penalised part
        needs only its partial derivatives (the modes minimise it); ``log det A`` moves with
        Lambda directly and through the weights, which move with beta, Lambda and the modes,
        whose own derivative follows from the score being 0. Without it, each gradient would
        cost ``2 (len(theta) + len(beta))`` PIRLS runs.
        """
        system = self.system
        theta, beta = self.split(params)
        modes = self.modes(theta, beta)
        value = modes["penalised"] + modes["logdet"] - 2.0 * self.constant
        if not np.isfinite(value):
            return np.inf, np.zeros_like(params)
        data, weights = self.data, modes["weights"]
        mu = self.family.mean(modes["eta"])
        residual = self.successes - data.trials * mu
        if isinstance(system, DenseSystem):
            return float(value), self._diagonal_gradient(theta, modes, mu, residual)
        p, raw, codes = system.p, system.raw, system.codes
        zl = raw @ system._t
        u = modes["u"].reshape(system.levels, p)
        inverse = system.inverse_blocks()[0]
        leverage = np.einsum("ia,iab,ib->i", zl, inverse[codes], zl)
        dlogdet_deta = weights * self.family.variance_slope(mu) * leverage
        v = np.einsum("gab,gb->ga", inverse, system.level_sums(dlogdet_deta[:, None] * zl))
        zl_v = np.einsum("ik,ik->i", zl, v[codes])
        grad_beta = data.X.T @ (-2.0 * residual + dlogdet_deta - weights * zl_v)
        s = system.level_sums(raw * residual[:, None])
        f = system.level_sums(raw * dlogdet_deta[:, None])
        b = system.level_sums(((weights[:, None] * zl)[:, :, None] * raw[:, None, :])
                              .reshape(len(codes), p * p)).reshape(system.levels, p, p)
        left = -2.0 * s + f - np.einsum("gma,gm->ga", b, v)
        grad_lambda = (np.einsum("ga,gb->ab", left, u) + np.einsum("ga,gb->ab", s, v)
                       + 2.0 * np.einsum("gma,gmb->ab", b, inverse))
        rows, cols = system.term.tril()
        return float(value), np.r_[grad_lambda[rows, cols], grad_beta]

    def _diagonal_gradient(self, theta: np.ndarray, modes: dict, mu: np.ndarray,
                           residual: np.ndarray) -> np.ndarray:
        """:meth:`value_and_gradient` for scalar terms (Lambda diagonal) with a dense ``A^-1``:
        the same terms as for one random term, leverages from the pairs of non-zeros of ``Z``."""
        system: DenseSystem = self.system
        data, u, weights = self.data, modes["u"], modes["weights"]
        lam = theta[system.column_theta]
        inverse = system.solve(np.eye(system.q))
        rows, flat, products = system.pairs
        scaled_inverse = (np.outer(lam, lam) * inverse).ravel()
        leverage = np.bincount(rows, weights=products * scaled_inverse[flat], minlength=len(mu))
        dlogdet_deta = weights * self.family.variance_slope(mu) * leverage
        v = inverse @ (lam * system.zt(dlogdet_deta).ravel())
        zl_v = system.z_times(lam * v)
        grad_beta = data.X.T @ (-2.0 * residual + dlogdet_deta - weights * zl_v)
        ztwz = system.ztwz(weights)
        per_column = ((system.zt(-2.0 * residual + dlogdet_deta).ravel() - ztwz @ (lam * v)) * u
                      + 2.0 * np.einsum("ab,b,ba->a", inverse, lam, ztwz)
                      + system.zt(residual).ravel() * v)
        grad_theta = np.bincount(system.column_theta, weights=per_column, minlength=len(theta))
        return np.r_[grad_theta, grad_beta]

    def _quadrature(self, theta: np.ndarray, beta: np.ndarray, modes: dict) -> float:
        """Adaptive Gauss-Hermite for one scalar term: nodes centred and scaled at each mode."""
        system: BlockSystem = self.system
        curvature = 1.0 / system.inverse_blocks()[0][:, 0, 0]
        scale = 1.0 / np.sqrt(curvature)
        u_nodes = modes["u"][:, None] + scale[:, None] * self.nodes[None, :]
        t = theta[0]
        eta = (self.data.offset + self.data.X @ beta)[:, None] + \
            (system.raw[:, :1] * t) * u_nodes[system.codes]
        loglik = self.successes[:, None] * eta - self.data.trials[:, None] * \
            self.family.cumulant(eta)
        n_nodes = len(self.nodes)
        per_level = np.bincount(self.node_cells.ravel(), weights=loglik.ravel(),
                                minlength=system.levels * n_nodes).reshape(-1, n_nodes)
        log_terms = self.log_weights + per_level - 0.5 * u_nodes**2 + 0.5 * self.nodes**2
        # log-sum-exp over the nodes by hand: scipy's goes through its array-API layer,
        # 85 microseconds a call against 8 here, and the optimiser calls it ~100 times.
        top = log_terms.max(axis=1)
        log_integral = top + np.log(np.exp(log_terms - top[:, None]).sum(axis=1))
        return float(np.sum(-2.0 * log_integral + np.log(curvature)))

    def glm_start(self) -> np.ndarray:
        """Fixed effects of the GLM without random effects (Newton-Raphson), glmer's start."""
        X, data, family = self.data.X, self.data, self.family
        mu = (self.successes + 0.5) / (data.trials + 1.0) if family.name == "binomial" else \
            (self.successes + 0.1) / data.trials
        eta = family.link_fun(mu)
        beta = np.linalg.lstsq(X, eta - data.offset, rcond=None)[0]
        for _ in range(100):
            eta = data.offset + X @ beta
            mu = family.mean(eta)
            weights = data.trials * family.variance(mu) + 1e-12
            step = np.linalg.solve(X.T @ (weights[:, None] * X),
                                   X.T @ (self.successes - data.trials * mu))
            beta = beta + step
            if np.max(np.abs(step)) < 1e-10:
                break
        return beta

    def fixed_covariance_rx(self, params: np.ndarray) -> np.ndarray:
        """Covariance of beta given theta: ``(X'WX - X'WZ Lambda A^-1 Lambda'Z'WX)^-1`` (lme4's RX)."""
        theta, beta = self.split(params)
        modes = self.modes(theta, beta)
        weights, system, X = modes["weights"], self.system, self.data.X
        lzwx = system.lambda_t_times(system.zt(weights[:, None] * X))
        return np.linalg.inv(X.T @ (weights[:, None] * X) - lzwx.T @ system.solve(lzwx))
