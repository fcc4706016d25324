"""The penalised least-squares core shared by linear and generalized fits (Bates et al. 2015).

Both fits need, for covariance parameters ``theta`` and observation weights ``w``, the
factorisation of the penalised cross-product

    A = Lambda' Z' W Z Lambda + I,

its log-determinant and solves with it. :func:`penalized_system` picks one of two
implementations of that one operation:

- :class:`BlockSystem`, for a model with one random-effects term: ``A`` is block diagonal
  with one p x p block per level, so all blocks are factorised at once with array
  operations (closed forms for p = 1 and 2, the usual cases);
- :class:`SparseSystem`, for several terms (nested or crossed): a sparse Cholesky
  factorisation by CHOLMOD (scikit-sparse), with the fill-reducing ordering computed once
  and reused for every ``theta``, as lme4 does.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sksparse.cholmod import analyze

from multilevel.mixed.terms import ModelData

__all__ = ["BlockSystem", "SparseSystem", "penalized_system"]


def _batched_cholesky(blocks: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of every p x p block (closed forms for p <= 2)."""
    p = blocks.shape[-1]
    if p == 1:
        return np.sqrt(blocks)
    if p == 2:
        l11 = np.sqrt(blocks[:, 0, 0])
        l21 = blocks[:, 1, 0] / l11
        l22 = np.sqrt(blocks[:, 1, 1] - l21 * l21)
        out = np.zeros_like(blocks)
        out[:, 0, 0], out[:, 1, 0], out[:, 1, 1] = l11, l21, l22
        return out
    return np.linalg.cholesky(blocks)


class BlockSystem:
    """``A`` for one random-effects term: one dense p x p block per level."""

    def __init__(self, data: ModelData) -> None:
        (term,) = data.terms
        self.data, self.term, self.p, self.levels = data, term, term.p, term.n_levels
        self.codes, self.raw = term.codes, term.raw
        self._pairs = [(a, b) for a in range(self.p) for b in range(a, self.p)]

    def level_sums(self, values: np.ndarray) -> np.ndarray:
        """Sum of rows within each level: (rows, k) -> (levels, k)."""
        values = values.reshape(len(self.codes), -1)
        return np.stack([np.bincount(self.codes, weights=col, minlength=self.levels)
                         for col in values.T], axis=1)

    def ztwz(self, weights: np.ndarray) -> np.ndarray:
        """``Z_j' W_j Z_j`` for every level j: (levels, p, p)."""
        out = np.empty((self.levels, self.p, self.p))
        for a, b in self._pairs:
            out[:, a, b] = out[:, b, a] = np.bincount(
                self.codes, weights=weights * self.raw[:, a] * self.raw[:, b],
                minlength=self.levels)
        return out

    def zt(self, values: np.ndarray) -> np.ndarray:
        """``Z' values`` as a (q, k) array, level-major like ``Z``'s columns."""
        values = values.reshape(len(self.codes), -1)
        k = values.shape[1]
        out = np.stack([self.level_sums(self.raw[:, [a]] * values) for a in range(self.p)], axis=1)
        return out.reshape(self.levels * self.p, k)

    def z_times(self, b: np.ndarray) -> np.ndarray:
        """``Z b`` for a (q,) vector of random effects."""
        return np.einsum("ip,ip->i", self.raw, b.reshape(self.levels, self.p)[self.codes])

    def set_theta(self, theta: np.ndarray) -> None:
        (self._t,) = self.data.lambda_blocks(theta)

    def lambda_t_times(self, m: np.ndarray) -> np.ndarray:
        """``Lambda' m`` for a (q,) or (q, k) array."""
        m3 = m.reshape(self.levels, self.p, -1)
        return np.einsum("ba,gbk->gak", self._t, m3).reshape(m.shape)

    def lambda_times(self, u: np.ndarray) -> np.ndarray:
        u3 = u.reshape(self.levels, self.p, -1)
        return np.einsum("ab,gbk->gak", self._t, u3).reshape(u.shape)

    def factor(self, ztwz: np.ndarray) -> float:
        """Factorise ``A`` at the current ``theta`` and ``Z'WZ``; return log det A."""
        t = self._t
        a = np.einsum("ba,gbc,cd->gad", t, ztwz, t) + np.eye(self.p)
        self._chol = _batched_cholesky(a)
        diag = np.diagonal(self._chol, axis1=1, axis2=2)
        return float(2.0 * np.sum(np.log(diag)))

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``A^-1 rhs`` for a (q,) or (q, k) array."""
        shape = rhs.shape
        r = rhs.reshape(self.levels, self.p, -1)
        if self.p == 1:
            out = r / self._chol**2
        else:
            y = np.linalg.solve(self._chol, r)
            out = np.linalg.solve(np.swapaxes(self._chol, 1, 2), y)
        return out.reshape(shape)

    def inverse_blocks(self) -> list[np.ndarray]:
        """The diagonal blocks of ``A^-1``: a one-element list of (levels, p, p)."""
        inv_l = np.linalg.inv(self._chol)
        return [np.einsum("gba,gbc->gac", inv_l, inv_l)]


class SparseSystem:
    """``A`` for several random-effects terms: a sparse Cholesky factorisation (CHOLMOD)."""

    def __init__(self, data: ModelData) -> None:
        self.data = data
        self.Z = data.z_matrix()
        self.q = self.Z.shape[1]
        self._factor = None
        self._lambda, self._lind = self._lambda_template(data)

    @staticmethod
    def _lambda_template(data: ModelData) -> tuple[sparse.csc_matrix, np.ndarray]:
        """``Lambda``'s sparsity pattern and, per stored entry, its element of ``theta`` (lme4's Lind)."""
        rows, cols, which = [], [], []
        offset_q = offset_theta = 0
        for term in data.terms:
            r, c = term.tril()
            levels = np.arange(term.n_levels)[:, None] * term.p
            rows.append((offset_q + levels + r[None, :]).ravel())
            cols.append((offset_q + levels + c[None, :]).ravel())
            which.append(np.tile(offset_theta + np.arange(term.n_theta), term.n_levels))
            offset_q += term.p * term.n_levels
            offset_theta += term.n_theta
        rows, cols, which = map(np.concatenate, (rows, cols, which))
        marker = sparse.csc_matrix((np.arange(1, len(rows) + 1, dtype=float), (rows, cols)),
                                   shape=(offset_q, offset_q))
        marker.sort_indices()
        lind = which[marker.data.astype(int) - 1]
        return marker, lind

    def ztwz(self, weights: np.ndarray) -> sparse.csc_matrix:
        return sparse.csc_matrix(self.Z.T @ (self.Z.multiply(weights[:, None])))

    def zt(self, values: np.ndarray) -> np.ndarray:
        return self.Z.T @ values.reshape(self.Z.shape[0], -1)

    def z_times(self, b: np.ndarray) -> np.ndarray:
        return self.Z @ b

    def set_theta(self, theta: np.ndarray) -> None:
        self._lambda.data = theta[self._lind]

    def lambda_t_times(self, m: np.ndarray) -> np.ndarray:
        return self._lambda.T @ m

    def lambda_times(self, u: np.ndarray) -> np.ndarray:
        return self._lambda @ u

    def factor(self, ztwz: sparse.csc_matrix) -> float:
        lam = self._lambda
        a = sparse.csc_matrix(lam.T @ ztwz @ lam + sparse.identity(self.q, format="csc"))
        if self._factor is None:
            # The pattern of A does not change with theta (only values), so CHOLMOD's
            # fill-reducing analysis is done once; use the all-ones Lambda's pattern.
            self._factor = analyze(a, mode="supernodal")
        self._factor.cholesky_inplace(a)
        return float(self._factor.logdet())

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return self._factor(rhs)

    def inverse_blocks(self) -> list[np.ndarray]:
        """The diagonal blocks of ``A^-1``: per term, an array (levels, p, p)."""
        out, start = [], 0
        for term in self.data.terms:
            size = term.p * term.n_levels
            units = sparse.csc_matrix((np.ones(size), (start + np.arange(size), np.arange(size))),
                                      shape=(self.q, size))
            inv = sparse.csr_matrix(self._factor(units)[start:start + size])
            blocks = np.stack([inv[j * term.p:(j + 1) * term.p, j * term.p:(j + 1) * term.p]
                               .toarray() for j in range(term.n_levels)])
            out.append(blocks)
            start += size
        return out


def penalized_system(data: ModelData) -> BlockSystem | SparseSystem:
    """The implementation of ``A`` that suits the model's random-effects terms."""
    return BlockSystem(data) if len(data.terms) == 1 else SparseSystem(data)
