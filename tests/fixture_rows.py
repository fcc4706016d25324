"""The rows each lme4 fixture in ``tests/reference/`` was fitted on, as its R script prepared them.

Shared by the fixture tests (``tests/test_mixed_fixtures.py``) and the benchmark
(``bench/mixed.py``), so that both fit exactly the rows lme4 fitted.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

from multilevel import data

REFERENCE = Path(__file__).resolve().parent / "reference"


def with_group_means(frame: pd.DataFrame, columns: list[str], group: str) -> pd.DataFrame:
    """``<column>_mean``: the group mean, as the R scripts' ``add_means()`` (ave()) makes it."""
    frame = frame.copy()
    for column in columns:
        frame[f"{column}_mean"] = frame.groupby(group)[column].transform("mean")
    return frame


def releveled(frame: pd.DataFrame, column: str, first: str) -> pd.DataFrame:
    """``relevel(factor(column), ref = first)``: a categorical whose baseline is ``first``."""
    frame = frame.copy()
    rest = sorted(set(frame[column]) - {first})
    frame[column] = pd.Categorical(frame[column], categories=[first, *rest])
    return frame


@cache
def reference_csv(name: str) -> pd.DataFrame:
    """A CSV the R script read with ``reference_data()``: tests/reference/data/ or data/."""
    path = REFERENCE / "data" / f"{name}.csv"
    return pd.read_csv(path) if path.exists() else data.load_csv(name)


@cache
def hsb() -> pd.DataFrame:
    frame = data.load_hsb()
    frame["catholic"] = (frame["sector"] == "Catholic").astype(int)  # as lmer_schools.R codes it
    return frame


@cache
def linear_rows(fixture: str, name: str) -> pd.DataFrame:
    """The rows of lmer fixture ``fixture`` (a file name without ``.json``), fit ``name``."""
    if fixture == "lmer_foundation":
        if name.startswith("tiny"):
            return reference_csv("students_tiny_variance")
        return data.load_csv("students_exams") if name.startswith("students") else hsb()
    if fixture == "lmer_students":
        if name.startswith("wage"):
            return with_group_means(data.load_wage_panel(),
                                    ["union", "married", "exper", "expersq"], "nr")
        if name.startswith("correlated"):
            return with_group_means(data.load_csv("students_exams_correlated"), ["hours"],
                                    "student")
        return data.load_csv("students_exams")
    if fixture == "lmer_schools":
        return hsb()
    if fixture == "lmer_levels":
        if name.startswith("star"):
            return releveled(releveled(data.load_star_kindergarten(), "cltype", "reg"),
                             "schtype", "inner")
        return releveled(data.load_scots_secondary(), "sex", "F")
    raise ValueError(f"no rows known for fixture {fixture!r}")
