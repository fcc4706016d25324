"""Input checks shared by the helper package.

Every public function validates what it is given with these helpers, so a
reader who passes the wrong column or a response with missing values gets one
clear message that says what is wrong and what to do about it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd


class MultilevelInputError(ValueError):
    """Raised when data given to the helper package cannot be used as asked."""


def as_list(columns: str | Iterable[str] | None) -> list[str]:
    """Return column names as a list, accepting one name or several."""
    if columns is None:
        return []
    if isinstance(columns, str):
        return [columns]
    return list(columns)


def require_dataframe(data: object, name: str = "data") -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise MultilevelInputError(
            f"`{name}` must be a pandas DataFrame, got {type(data).__name__}. "
            "Build one with pd.DataFrame(...) or load a data set from multilevel.data."
        )
    return data


def require_columns(data: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise if any of `columns` is not in `data`."""
    require_dataframe(data)
    missing = [c for c in columns if c not in data.columns]
    if missing:
        available = ", ".join(map(str, data.columns[:15]))
        more = " ..." if len(data.columns) > 15 else ""
        raise MultilevelInputError(
            f"column(s) {missing} not found in the data. "
            f"Available columns: {available}{more}. Check the spelling or add the column first."
        )


def require_complete(data: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise if any of `columns` has missing values (NaN or None)."""
    counts = {c: int(data[c].isna().sum()) for c in columns}
    bad = {c: n for c, n in counts.items() if n}
    if bad:
        detail = ", ".join(f"{col!r}: {n}" for col, n in bad.items())
        raise MultilevelInputError(
            f"missing values (NaN) in {detail}. Drop or impute them before fitting, "
            f"e.g. data.dropna(subset={list(bad)})."
        )


def require_numeric(data: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise if any of `columns` is not numeric (bool counts as numeric)."""
    bad = [c for c in columns if not (pd.api.types.is_numeric_dtype(data[c]))]
    if bad:
        kinds = ", ".join(f"{c!r} ({data[c].dtype})" for c in bad)
        raise MultilevelInputError(
            f"column(s) {kinds} must be numeric. Recode them as numbers, e.g. with "
            "pd.to_numeric(...) or 0/1 indicator columns from pd.get_dummies(...)."
        )


def require_finite(data: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise if any numeric column holds an infinite value."""
    bad = [c for c in columns if not np.isfinite(data[c].to_numpy(dtype=float)).all()]
    if bad:
        raise MultilevelInputError(
            f"column(s) {bad} contain infinite values. Remove or recode them before fitting."
        )


def require_groups(data: pd.DataFrame, group: str, min_groups: int = 2) -> int:
    """Raise unless `group` has at least `min_groups` distinct values; return the count."""
    n_groups = int(data[group].nunique())
    if n_groups < min_groups:
        raise MultilevelInputError(
            f"grouping column {group!r} has {n_groups} distinct value(s); this needs at least "
            f"{min_groups} groups. A multilevel model cannot separate group-level from "
            "individual-level variation without several groups."
        )
    return n_groups


def require_binary(data: pd.DataFrame, column: str) -> None:
    """Raise unless `column` holds only 0 and 1 (True/False is accepted)."""
    values = pd.unique(data[column].astype(float))
    if not set(values.tolist()) <= {0.0, 1.0}:
        shown = sorted(values.tolist())[:6]
        raise MultilevelInputError(
            f"response {column!r} must be binary (0/1) for a logit model; found values {shown}. "
            "Recode it, e.g. (data[col] == 'yes').astype(int)."
        )


def check_model_data(
    data: object,
    response: str | None,
    covariates: Iterable[str] = (),
    group: str | None = None,
    min_groups: int = 2,
) -> pd.DataFrame:
    """Run the standard checks for a model of `response` on `covariates` within `group`.

    Returns the data restricted to the columns used, in the original row order.
    """
    frame = require_dataframe(data)
    numeric = ([response] if response else []) + as_list(covariates)
    used = numeric + ([group] if group else [])
    require_columns(frame, used)
    require_complete(frame, used)
    require_numeric(frame, numeric)
    require_finite(frame, numeric)
    if group is not None:
        require_groups(frame, group, min_groups)
    return frame[used]
