"""Seeded simulators for the book's examples.

Each function draws one data set from a stated model with
:func:`numpy.random.default_rng`, so the same ``seed`` always returns the same
numbers. Each returns a tidy DataFrame, one row per observation; where the true
group effects are part of the lesson they come back as a column too, named for
what they stand for (a reader can look at what a model is trying to recover).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from multilevel._checks import MultilevelInputError


def _require_positive_int(value: int, name: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise MultilevelInputError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")


def _require_nonnegative(value: float, name: str) -> None:
    if not np.isfinite(value) or value < 0:
        raise MultilevelInputError(f"`{name}` must be a finite number >= 0, got {value!r}.")


def simulate_clustered(
    n_groups: int = 50,
    group_size: int = 20,
    icc: float = 0.2,
    slope: float = 0.5,
    intercept: float = 0.0,
    covariate_level: str = "group",
    seed: int | None = 0,
) -> pd.DataFrame:
    """Draw grouped data whose errors are correlated within groups.

    The model is ``y_ij = intercept + slope * x_ij + u_j + e_ij`` with
    ``u_j ~ N(0, icc)`` and ``e_ij ~ N(0, 1 - icc)``, so the total error variance
    is 1 and ``icc`` is the intraclass correlation of the errors.

    Parameters
    ----------
    n_groups, group_size
        Number of groups and observations per group (a balanced design).
    icc
        Share of the error variance that lies between groups, in [0, 1).
    slope, intercept
        The true regression line.
    covariate_level
        ``"group"``: ``x`` is constant within each group (a level-2 covariate such
        as a class's teaching method); ``"individual"``: ``x`` varies freely
        within groups. The design effect on the slope's variance is largest for
        a group-level covariate.
    seed
        Seed for :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        Columns ``group`` (int), ``x``, ``y``, one row per observation.

    Examples
    --------
    >>> from multilevel.simulate import simulate_clustered
    >>> df = simulate_clustered(n_groups=30, group_size=10, icc=0.3, seed=1)
    >>> df.shape
    (300, 3)
    """
    _require_positive_int(n_groups, "n_groups", minimum=2)
    _require_positive_int(group_size, "group_size")
    if not 0 <= icc < 1:
        raise MultilevelInputError(f"`icc` must lie in [0, 1), got {icc!r}.")
    if covariate_level not in ("group", "individual"):
        raise MultilevelInputError(
            f"`covariate_level` must be 'group' or 'individual', got {covariate_level!r}."
        )
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(n_groups), group_size)
    if covariate_level == "group":
        x = rng.normal(size=n_groups)[group]
    else:
        x = rng.normal(size=n_groups * group_size)
    group_error = rng.normal(0.0, np.sqrt(icc), size=n_groups)[group]
    unit_error = rng.normal(0.0, np.sqrt(1.0 - icc), size=n_groups * group_size)
    y = intercept + slope * x + group_error + unit_error
    return pd.DataFrame({"group": group, "x": x, "y": y})


def simulate_students(
    n_students: int = 100,
    n_exams: int = 5,
    slope: float = 0.75,
    sigma_aptitude: float = 0.7,
    sigma_exam: float = 0.2,
    correlated: bool = False,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Simulate the lecture's students-and-exams data (random student effects).

    ``score_it = 0 + slope * hours_it + aptitude_i + e_it`` with
    ``aptitude_i ~ N(0, sigma_aptitude^2)`` and ``e_it ~ N(0, sigma_exam^2)``.

    Hours of study are drawn in one of two ways:

    - ``correlated=False``: each student has a typical number of hours,
      ``U(0.7, 2.1)``, and studies that amount plus ``N(0, 0.3^2)`` before each
      exam. Hours are independent of aptitude, as a random-effects model assumes.
    - ``correlated=True``: the lecture's second design,
      ``hours_it = 0.5 * aptitude_i + U(-0.7, 0.7)``: abler students study more,
      so the student effect is correlated with the covariate.

    Returns
    -------
    pandas.DataFrame
        Columns ``student`` (1..n_students), ``exam`` (1..n_exams), ``hours``,
        ``score`` and ``aptitude`` (the true, normally unobserved, student effect).

    Examples
    --------
    >>> from multilevel.simulate import simulate_students
    >>> df = simulate_students(seed=2024)
    >>> list(df.columns)
    ['student', 'exam', 'hours', 'score', 'aptitude']
    """
    _require_positive_int(n_students, "n_students", minimum=2)
    _require_positive_int(n_exams, "n_exams")
    _require_nonnegative(sigma_aptitude, "sigma_aptitude")
    _require_nonnegative(sigma_exam, "sigma_exam")
    rng = np.random.default_rng(seed)
    n = n_students * n_exams
    student = np.repeat(np.arange(1, n_students + 1), n_exams)
    exam = np.tile(np.arange(1, n_exams + 1), n_students)
    aptitude = rng.normal(0.0, sigma_aptitude, size=n_students)
    if correlated:
        hours = 0.5 * aptitude[student - 1] + rng.uniform(-0.7, 0.7, size=n)
    else:
        typical_hours = rng.uniform(0.7, 2.1, size=n_students)
        hours = typical_hours[student - 1] + rng.normal(0.0, 0.3, size=n)
    score = slope * hours + aptitude[student - 1] + rng.normal(0.0, sigma_exam, size=n)
    return pd.DataFrame(
        {
            "student": student,
            "exam": exam,
            "hours": hours,
            "score": score,
            "aptitude": aptitude[student - 1],
        }
    )


def simulate_kansas(
    n_states: int = 15,
    n_counties: int = 15,
    slope: float = 0.75,
    culture_effect: float = -3.0,
    sigma_county: float = 0.1,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Simulate county vote shares with an omitted state-level confounder.

    The lecture's "What's the matter with Kansas?" design: each state has a mean
    income ``m_i ~ U(0.7, 2.1)``; its counties' incomes are ``m_i + N(0, 0.2^2)``;
    an unmeasured state "conservative culture" ``z_i = m_i + N(0, 0.2^2)`` lowers
    the Republican vote by ``culture_effect`` per unit, and

    ``rep_share_ij = slope * income_ij + culture_effect * z_i + N(0, sigma_county^2)``.

    Within a state richer counties vote more Republican (``slope > 0``), but
    richer states have more of the culture that lowers the vote, so a pooled
    regression that omits ``z`` finds a negative slope. Units are arbitrary.

    Returns
    -------
    pandas.DataFrame
        Columns ``state`` (labels ``"S01"`` ...), ``county`` (1..n_counties within
        state), ``income``, ``rep_share`` and ``culture`` (the omitted ``z_i``).

    Examples
    --------
    >>> from multilevel.simulate import simulate_kansas
    >>> simulate_kansas(seed=3).groupby("state").size().unique().tolist()
    [15]
    """
    _require_positive_int(n_states, "n_states", minimum=2)
    _require_positive_int(n_counties, "n_counties", minimum=2)
    _require_nonnegative(sigma_county, "sigma_county")
    rng = np.random.default_rng(seed)
    state_index = np.repeat(np.arange(n_states), n_counties)
    mean_income = rng.uniform(0.7, 2.1, size=n_states)
    culture = mean_income + rng.normal(0.0, 0.2, size=n_states)
    income = mean_income[state_index] + rng.normal(0.0, 0.2, size=state_index.size)
    rep_share = (
        slope * income
        + culture_effect * culture[state_index]
        + rng.normal(0.0, sigma_county, size=state_index.size)
    )
    labels = np.array([f"S{i + 1:02d}" for i in range(n_states)])
    return pd.DataFrame(
        {
            "state": labels[state_index],
            "county": np.tile(np.arange(1, n_counties + 1), n_states),
            "income": income,
            "rep_share": rep_share,
            "culture": culture[state_index],
        }
    )
