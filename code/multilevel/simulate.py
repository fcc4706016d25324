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


def _require_nonnegative(**values: float) -> None:
    for name, value in values.items():
        if not np.isfinite(value) or value < 0:
            raise MultilevelInputError(f"`{name}` must be a finite number >= 0, got {value!r}.")


def _require_finite(**values: float) -> None:
    for name, value in values.items():
        if not np.isfinite(value):
            raise MultilevelInputError(f"`{name}` must be a finite number, got {value!r}.")


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
    _require_nonnegative(sigma_aptitude=sigma_aptitude, sigma_exam=sigma_exam)
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
    _require_nonnegative(sigma_county=sigma_county)
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


#: The 48 contiguous states: 2000 census population (millions) and approximate 1999
#: median household income ($1000), both rounded. Population sets each state's share
#: of the respondents; income places the state's income mix between Mississippi's
#: and Connecticut's.
_RED_BLUE_STATES: dict[str, tuple[float, float]] = {
    "Alabama": (4.45, 34.1), "Arizona": (5.13, 40.6), "Arkansas": (2.67, 29.7),
    "California": (33.87, 47.5), "Colorado": (4.30, 47.2), "Connecticut": (3.41, 53.9),
    "Delaware": (0.78, 47.4), "Florida": (15.98, 38.8), "Georgia": (8.19, 42.4),
    "Idaho": (1.29, 37.6), "Illinois": (12.42, 46.6), "Indiana": (6.08, 41.6),
    "Iowa": (2.93, 39.5), "Kansas": (2.69, 40.6), "Kentucky": (4.04, 33.7),
    "Louisiana": (4.47, 32.6), "Maine": (1.27, 37.2), "Maryland": (5.30, 52.9),
    "Massachusetts": (6.35, 50.5), "Michigan": (9.94, 44.7), "Minnesota": (4.92, 47.1),
    "Mississippi": (2.84, 31.3), "Missouri": (5.60, 37.9), "Montana": (0.90, 33.0),
    "Nebraska": (1.71, 39.3), "Nevada": (2.00, 44.6), "New Hampshire": (1.24, 49.5),
    "New Jersey": (8.41, 55.1), "New Mexico": (1.82, 34.1), "New York": (18.98, 43.4),
    "North Carolina": (8.05, 38.4), "North Dakota": (0.64, 34.6), "Ohio": (11.35, 40.9),
    "Oklahoma": (3.45, 33.4), "Oregon": (3.42, 40.9), "Pennsylvania": (12.28, 40.1),
    "Rhode Island": (1.05, 42.1), "South Carolina": (4.01, 37.1), "South Dakota": (0.75, 35.3),
    "Tennessee": (5.69, 36.4), "Texas": (20.85, 39.9), "Utah": (2.23, 45.7),
    "Vermont": (0.61, 40.9), "Virginia": (7.08, 46.7), "Washington": (5.89, 45.8),
    "West Virginia": (1.81, 29.7), "Wisconsin": (5.36, 43.8), "Wyoming": (0.49, 37.9),
}  # fmt: skip

#: 2004 shares of the five income categories (poorest first) in Mississippi and
#: Connecticut, from Gelman, Shor, Bafumi & Park (2007).
_MISSISSIPPI_INCOME_MIX = np.array([0.263, 0.142, 0.363, 0.181, 0.051])
_CONNECTICUT_INCOME_MIX = np.array([0.146, 0.065, 0.300, 0.339, 0.149])


def simulate_red_blue(
    seed: int | None = 2007,
    n_respondents: int = 22_000,
    intercept: float = 0.0,
    intercept_by_state_income: float = -1.05,
    income_slope: float = 0.17,
    slope_by_state_income: float = -0.6,
    sd_intercept: float = 0.3,
    sd_slope: float = 0.1,
    correlation: float = -0.3,
) -> pd.DataFrame:
    """Simulate a stand-in for the NAES 2000/2004 survey of "Red State, Blue State".

    Gelman, Shor, Bafumi & Park (2007, QJPS) found that richer voters vote more
    Republican within every state, but most steeply in poor states (Mississippi)
    and hardly at all in rich ones (Connecticut), while richer states vote less
    Republican. This simulates such data for the 48 contiguous states:

    - respondents per state in proportion to the state's 2000 population
      (Wyoming gets a few dozen, California a few thousand; at least 20 each);
    - ``income`` in five categories coded -2..2, drawn from a state income mix
      on the line through the 2004 mixes of Mississippi (shares .263/.142/.363/
      .181/.051) and Connecticut (.146/.065/.300/.339/.149), placed by the
      state's approximate 1999 median household income;
    - ``state_avg_income``: the mean of the simulated income codes of the
      state's respondents (rounded to 4 decimals), the level-2 predictor;
    - ``vote`` (1 = Republican) from the multilevel logistic model
      ``logit P(vote) = a_s + b_s * income`` with
      ``a_s = intercept + intercept_by_state_income * state_avg_income + e_s`` and
      ``b_s = income_slope + slope_by_state_income * state_avg_income + f_s``,
      where ``(e_s, f_s)`` are bivariate normal with SDs ``sd_intercept``,
      ``sd_slope`` and correlation ``correlation``. With the defaults the income
      slope is about 0.4 in Mississippi, about 0.2 in Ohio and near 0 in
      Connecticut, and the intercept falls with state income.

    The fitted model is therefore exactly
    ``vote ~ state_avg_income * income + (1 + income | state)``.

    Parameters
    ----------
    seed
        Seed for :func:`numpy.random.default_rng`.
    n_respondents
        Approximate total number of respondents (at least 1000).
    intercept, intercept_by_state_income, income_slope, slope_by_state_income
        The true state-level regression lines for the intercepts and slopes.
    sd_intercept, sd_slope, correlation
        The true state-level random variation around those lines.

    Returns
    -------
    pandas.DataFrame
        Columns ``state``, ``income``, ``vote``, ``state_avg_income``, one row
        per respondent, states in alphabetical order.

    Examples
    --------
    >>> from multilevel.simulate import simulate_red_blue
    >>> df = simulate_red_blue()
    >>> list(df.columns), df["state"].nunique()
    (['state', 'income', 'vote', 'state_avg_income'], 48)
    """
    _require_positive_int(n_respondents, "n_respondents", minimum=1000)
    _require_nonnegative(sd_intercept=sd_intercept, sd_slope=sd_slope)
    if not -1 <= correlation <= 1:
        raise MultilevelInputError(f"`correlation` must lie in [-1, 1], got {correlation!r}.")
    rng = np.random.default_rng(seed)
    names = np.array(list(_RED_BLUE_STATES))
    population, median_income = np.array(list(_RED_BLUE_STATES.values())).T
    sizes = np.maximum(np.round(n_respondents * population / population.sum()), 20).astype(int)
    poorest, richest = median_income[names == "Mississippi"], median_income[names == "Connecticut"]
    position = (median_income - poorest) / (richest - poorest)  # New Jersey lies a little beyond 1
    mix = _MISSISSIPPI_INCOME_MIX + position[:, None] * (
        _CONNECTICUT_INCOME_MIX - _MISSISSIPPI_INCOME_MIX
    )
    mix = np.clip(mix, 0.01, None)
    cumulative = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
    state = np.repeat(np.arange(names.size), sizes)
    draw = rng.uniform(size=state.size)
    income = (draw[:, None] > cumulative[state, :-1]).sum(axis=1) - 2
    state_avg_income = np.round(np.bincount(state, weights=income) / sizes, 4)
    covariance = sd_intercept * sd_slope * correlation
    state_effect = rng.multivariate_normal(
        np.zeros(2),
        [[sd_intercept**2, covariance], [covariance, sd_slope**2]],
        size=names.size,
        method="svd",
    )
    state_intercept = intercept + intercept_by_state_income * state_avg_income + state_effect[:, 0]
    state_slope = income_slope + slope_by_state_income * state_avg_income + state_effect[:, 1]
    eta = state_intercept[state] + state_slope[state] * income
    vote = (rng.uniform(size=state.size) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    return pd.DataFrame(
        {
            "state": names[state],
            "income": income,
            "vote": vote,
            "state_avg_income": state_avg_income[state],
        }
    )


def simulate_varying_intercepts(
    n_groups: int = 30,
    min_size: int = 2,
    max_size: int = 40,
    slope: float = 0.5,
    gamma0: float = 0.0,
    gamma1: float = 0.8,
    sigma_group: float = 0.5,
    sigma_residual: float = 1.0,
    covariate_on_group: float = 0.0,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Draw data whose group intercepts depend on a group-level covariate plus noise.

    ``y_ij = alpha_j + slope * x_ij + e_ij`` with ``alpha_j = gamma0 + gamma1 * w_j + u_j``,
    ``w_j ~ N(0, 1)`` (a group-level covariate), ``u_j ~ N(0, sigma_group^2)`` and
    ``e_ij ~ N(0, sigma_residual^2)``. The covariate is
    ``x_ij = covariate_on_group * u_j + N(0, 1)``: independent of the intercepts by
    default, correlated with them when ``covariate_on_group != 0``.

    Group sizes run geometrically from ``min_size`` to ``max_size`` and are assigned
    to groups in random order, so that small and large groups are mixed, which is
    where fixed, random and mixed readings of the intercepts differ most.

    Returns
    -------
    pandas.DataFrame
        Columns ``group`` (1..n_groups), ``w``, ``x``, ``y`` and ``alpha`` (the true
        group intercept, normally unobserved), one row per observation.

    Examples
    --------
    >>> from multilevel.simulate import simulate_varying_intercepts
    >>> df = simulate_varying_intercepts(n_groups=5, min_size=2, max_size=8, seed=1)
    >>> sorted(df.groupby("group").size().tolist())
    [2, 3, 4, 6, 8]
    """
    _require_positive_int(n_groups, "n_groups", minimum=2)
    _require_positive_int(min_size, "min_size")
    _require_positive_int(max_size, "max_size")
    if max_size < min_size:
        raise MultilevelInputError(
            f"`max_size` ({max_size}) must be at least `min_size` ({min_size})."
        )
    _require_nonnegative(sigma_group=sigma_group, sigma_residual=sigma_residual)
    _require_finite(slope=slope, gamma0=gamma0, gamma1=gamma1,
                    covariate_on_group=covariate_on_group)
    rng = np.random.default_rng(seed)
    sizes = rng.permutation(np.round(np.geomspace(min_size, max_size, n_groups)).astype(int))
    group = np.repeat(np.arange(1, n_groups + 1), sizes)
    w = rng.normal(size=n_groups)
    u = rng.normal(0.0, sigma_group, size=n_groups)
    alpha = gamma0 + gamma1 * w + u
    x = covariate_on_group * u[group - 1] + rng.normal(size=group.size)
    y = alpha[group - 1] + slope * x + rng.normal(0.0, sigma_residual, size=group.size)
    return pd.DataFrame(
        {"group": group, "w": w[group - 1], "x": x, "y": y, "alpha": alpha[group - 1]}
    )


def simulate_fe_logit(
    n_groups: int = 500,
    group_size: int = 5,
    slope: float = 1.0,
    sigma_group: float = 1.0,
    covariate_on_group: float = 0.5,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Simulate binary outcomes with group intercepts, for the incidental-parameters study.

    ``logit P(y_ij = 1) = alpha_j + slope * x_ij`` with ``alpha_j ~ N(0, sigma_group^2)``
    and ``x_ij = covariate_on_group * alpha_j + N(0, 1)``: the covariate is correlated
    with the group intercepts (when ``covariate_on_group != 0``), the situation in which
    fixed effects are used. Every group has ``group_size`` observations.

    Returns
    -------
    pandas.DataFrame
        Columns ``group`` (0..n_groups-1), ``x``, ``y`` (0/1) and ``alpha`` (the true,
        normally unobserved, group intercept).

    Examples
    --------
    >>> from multilevel.simulate import simulate_fe_logit
    >>> df = simulate_fe_logit(n_groups=4, group_size=2, seed=1)
    >>> df.shape, sorted(df["y"].unique().tolist()) == [0, 1]
    ((8, 4), True)
    """
    _require_positive_int(n_groups, "n_groups", minimum=2)
    _require_positive_int(group_size, "group_size")
    _require_nonnegative(sigma_group=sigma_group)
    _require_finite(slope=slope, covariate_on_group=covariate_on_group)
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(n_groups), group_size)
    alpha = rng.normal(0.0, sigma_group, size=n_groups)[group]
    x = covariate_on_group * alpha + rng.normal(size=group.size)
    eta = alpha + slope * x
    y = (rng.uniform(size=group.size) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"group": group, "x": x, "y": y, "alpha": alpha})
