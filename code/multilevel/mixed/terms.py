"""From a parsed formula and a DataFrame to the model's matrices (lme4's ``mkReTrms``).

The fixed-effects matrix ``X`` and each random term's columns come from formulaic; this
module adds what formulaic has no notion of: the grouping factors, the sparse
random-effects matrix ``Z`` (one block of columns per term, level by level) and the map
from the covariance parameters ``theta`` to the relative covariance factor ``Lambda``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulaic import Formula, ModelSpec, model_matrix
from formulaic.errors import FormulaicError
from scipy import sparse

from multilevel._checks import MultilevelInputError, require_columns, require_complete
from multilevel.mixed.formula import ParsedFormula, RandomTerm

__all__ = ["ModelData", "ReTerm", "build_model_data", "lme4_names"]


def lme4_names(columns) -> list[str]:
    """formulaic's column names as R prints them: ``Intercept`` -> ``(Intercept)``, ``x[T.b]`` -> ``xb``."""
    names = []
    for name in map(str, columns):
        name = "(Intercept)" if name == "Intercept" else name
        names.append(re.sub(r"\[T\.([^\]]*)\]", r"\1", name))
    return names


@dataclass
class ReTerm:
    """One random-effects term: its group codes and its columns of ``Z`` before expansion."""

    term: RandomTerm
    columns: list[str]  # lme4's cnms, e.g. ["(Intercept)", "Days"]
    codes: np.ndarray  # level of each row, 0..levels-1
    levels: pd.Index
    raw: np.ndarray  # (rows, p): the term's model matrix
    spec: ModelSpec

    @property
    def group(self) -> str:
        return self.term.group_name

    @property
    def p(self) -> int:
        return len(self.columns)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def n_theta(self) -> int:
        return self.p * (self.p + 1) // 2

    def tril(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of this term's ``theta`` in its p x p block: lower triangle by column."""
        pairs = [(i, j) for j in range(self.p) for i in range(j, self.p)]
        return np.array([i for i, _ in pairs], int), np.array([j for _, j in pairs], int)


@dataclass
class ModelData:
    """Everything a fit needs, in lme4's layout (terms ordered by decreasing number of levels)."""

    parsed: ParsedFormula
    X: np.ndarray
    x_names: list[str]
    fixed_spec: ModelSpec
    y: np.ndarray  # response (for binomial: the proportion of successes)
    trials: np.ndarray  # binomial trials or prior weights, 1 otherwise
    offset: np.ndarray
    terms: list[ReTerm]
    index: pd.Index  # the rows of the data used

    @property
    def n_theta(self) -> int:
        return sum(t.n_theta for t in self.terms)

    @property
    def q(self) -> int:
        return sum(t.p * t.n_levels for t in self.terms)

    def theta_lower(self) -> np.ndarray:
        return np.concatenate([np.where(r == c, 0.0, -np.inf) for r, c in
                               (t.tril() for t in self.terms)])

    def theta_start(self) -> np.ndarray:
        return np.concatenate([(r == c).astype(float) for r, c in (t.tril() for t in self.terms)])

    def is_diagonal_theta(self) -> np.ndarray:
        return np.isfinite(self.theta_lower())

    def z_matrix(self) -> sparse.csc_array:
        """``Z``: for each term, ``p`` columns per level (level-major), as lme4 lays them out."""
        n = len(self.y)
        blocks = []
        for term in self.terms:
            rows = np.repeat(np.arange(n), term.p)
            cols = (term.codes[:, None] * term.p + np.arange(term.p)[None, :]).ravel()
            blocks.append(sparse.csc_array((term.raw.ravel(), (rows, cols)),
                                           shape=(n, term.p * term.n_levels)))
        return sparse.hstack(blocks, format="csc")

    def lambda_blocks(self, theta: np.ndarray) -> list[np.ndarray]:
        """Each term's lower-triangular p x p block of ``Lambda`` at ``theta``."""
        blocks, start = [], 0
        for term in self.terms:
            rows, cols = term.tril()
            block = np.zeros((term.p, term.p))
            block[rows, cols] = theta[start:start + term.n_theta]
            blocks.append(block)
            start += term.n_theta
        return blocks

    def lambda_matrix(self, theta: np.ndarray) -> sparse.csc_array:
        """``Lambda`` = block diagonal of ``I_levels (x) T_term`` over the terms."""
        return sparse.block_diag(
            [sparse.kron(sparse.identity(t.n_levels), block) for t, block in
             zip(self.terms, self.lambda_blocks(theta))], format="csc")


def _frame_for(expr: str, data: pd.DataFrame, what: str) -> tuple[pd.DataFrame, ModelSpec]:
    try:
        matrix = model_matrix(expr, data, na_action="raise", output="pandas")
    except FormulaicError as error:
        raise MultilevelInputError(f"cannot build the {what} from {expr!r}: {error}") from None
    except (NameError, KeyError) as error:
        raise MultilevelInputError(
            f"cannot build the {what} from {expr!r}: {error}. Check the column names."
        ) from None
    return matrix, matrix.model_spec


def _variables(expr: str) -> set[str]:
    try:
        return set(Formula(expr).required_variables)
    except FormulaicError as error:
        raise MultilevelInputError(f"cannot read {expr!r}: {error}") from None


def required_columns(parsed: ParsedFormula) -> list[str]:
    """Every data column the formula uses (functions like ``np.log`` left out)."""
    exprs = [parsed.fixed, *(t.expr for t in parsed.random), *parsed.offsets]
    exprs += list(parsed.cbind) if parsed.cbind else [parsed.response]
    names = set().union(*(_variables(e) for e in exprs))
    names |= {c for t in parsed.random for c in t.group}
    return sorted(n for n in names if n not in {"np", "numpy", "pd", "scipy"})


def _evaluate(expr: str, data: pd.DataFrame, what: str) -> np.ndarray:
    """A numeric vector from an expression such as ``log(exposure)`` or ``size - incidence``."""
    matrix, _ = _frame_for(f"0 + I({expr})" if not expr.isidentifier() else f"0 + {expr}",
                           data, what)
    if matrix.shape[1] != 1:
        raise MultilevelInputError(
            f"the {what} {expr!r} must be one numeric column; it is a categorical column with "
            f"levels {list(matrix.columns)[:5]}. Recode it as numbers."
        )
    return matrix.iloc[:, 0].to_numpy(float)


def build_model_data(parsed: ParsedFormula, data: pd.DataFrame) -> ModelData:
    """The model's matrices for ``parsed`` on ``data`` (checks columns and missing values)."""
    columns = required_columns(parsed)
    require_columns(data, columns)
    require_complete(data, columns)
    frame = data[columns]
    if parsed.cbind:
        successes = _evaluate(parsed.cbind[0], frame, "successes in cbind()")
        failures = _evaluate(parsed.cbind[1], frame, "failures in cbind()")
        trials = successes + failures
        y = np.divide(successes, trials, out=np.zeros_like(trials), where=trials > 0)
    else:
        response = parsed.response
        if response in frame and not pd.api.types.is_numeric_dtype(frame[response]):
            raise MultilevelInputError(
                f"the response {response!r} must be numeric, but it holds {frame[response].dtype} "
                f"values such as {frame[response].iloc[0]!r}. Recode it, e.g. "
                f"(data[{response!r}] == 'yes').astype(int)."
            )
        y = _evaluate(response, frame, "response")
        trials = np.ones_like(y)
    X_frame, fixed_spec = _frame_for(parsed.fixed, frame, "fixed-effects matrix")
    offset = np.zeros(len(frame))
    for expr in parsed.offsets:
        offset = offset + _evaluate(expr, frame, "offset")
    terms = []
    for term in parsed.random:
        raw, spec = _frame_for(term.expr, frame, f"random term ({term.expr} | {term.group_name})")
        keys = frame[list(term.group)].astype(str)
        labels = keys.iloc[:, 0] if keys.shape[1] == 1 else keys.agg(":".join, axis=1)
        codes, levels = pd.factorize(labels, sort=True)
        terms.append(ReTerm(term, lme4_names(raw.columns), codes, pd.Index(levels, name=term.group_name),
                            raw.to_numpy(float), spec))
    # lme4 orders the terms by decreasing number of levels (a stable sort).
    order = sorted(range(len(terms)), key=lambda i: -terms[i].n_levels)
    return ModelData(
        parsed=parsed,
        X=X_frame.to_numpy(float),
        x_names=lme4_names(X_frame.columns),
        fixed_spec=fixed_spec,
        y=y,
        trials=trials,
        offset=offset,
        terms=[terms[i] for i in order],
        index=frame.index,
    )
