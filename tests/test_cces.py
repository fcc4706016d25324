"""The 2016 CCES red-state, blue-state models (chapters/cces-2016.md) against lme4's glmer.

The fixture tests/reference/glmer_cces.json comes from glmer_cces.R, fitted on the CSV
that tests/reference/export_data.py writes from ``data.cces2016_vote_income()``. Every
fixture fit is compared with ``multilevel.glmer`` in tests/test_mixed_fixtures.py; here:
that the fixture holds the chapter's models and data, the coding function, the pattern
the chapter reports, and that the chapter's glued numbers equal the fixture's.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, glued, reference
from scipy import stats

from multilevel import MixedModelResult, MultilevelInputError, data, glmer

GLMER = reference("glmer_cces")


@cache
def sample(income: str = "quintile") -> pd.DataFrame:
    return data.cces2016_vote_income(income=income)


@cache
def fitted(name: str) -> MixedModelResult:
    ref = GLMER[name]
    rows = sample() if ref["subset"] is None else sample().query(ref["subset"])
    return glmer(ref["model"], rows, family="binomial")


def slope_sd(fit: MixedModelResult) -> float:
    vc = fit.varcorr
    return float(vc.loc[(vc["var1"] == "income") & vc["var2"].isna(), "sdcor"].item())


# ------------------------------------------------------------------ vs glmer
def test_fixture_covers_the_chapters_models():
    models = {ref["model"] for ref in GLMER.values()}
    assert "vote ~ income + (1 + income | state)" in models
    assert "vote ~ state_avg_income * income + (1 + income | state)" in models
    assert any("black + hispanic + other_race" in m for m in models)
    assert {ref["subset"] for ref in GLMER.values()} == {None, "white == 1"}


def test_exported_csv_is_the_coding_functions_output():
    exported = pd.read_csv(REFERENCE / "data" / "cces2016_vote_income.csv")
    ours = sample()
    assert list(exported.columns) == list(ours.columns)
    assert (exported["state"] == ours["state"]).all()
    numeric = ours.columns.drop("state")
    np.testing.assert_array_equal(exported[numeric].to_numpy(float), ours[numeric].to_numpy(float))


def test_the_2016_pattern():
    """What the chapter reports: a small income slope, no cross-level interaction."""
    rc, fc = fitted("cces_slope"), fitted("cces_cross_level")
    assert 0 < rc.params["income"] < 0.05
    term = "state_avg_income:income"
    assert abs(fc.params[term]) < 1.96 * fc.bse[term]
    assert fc.params["state_avg_income"] < 0  # richer states still vote less Republican
    assert fitted("cces_slope_white").params["income"] < 0
    assert slope_sd(rc) < 0.06
    # The figure's "typical state": random effects 0, whatever the state's name.
    ends = pd.DataFrame({"income": [-2, 2]})
    p = rc.predict(ends, re_form="~0", type="response")
    assert 0 < p.iloc[1] - p.iloc[0] < 0.05


# ------------------------------------------------------- the coding function
def test_coding_gives_five_roughly_equal_groups():
    df = sample()
    assert len(df) == 40212 and df["state"].nunique() == 51
    assert sorted(df["income"].unique()) == [-2, -1, 0, 1, 2]
    shares = df["income"].value_counts(normalize=True)
    assert shares.between(0.15, 0.25).all()
    assert (df["income"] == df["family_income"].map(data.CCES_INCOME_QUINTILES)).all()
    # Groups are ordered: every bracket of a higher group is above every bracket of a lower one.
    ranges = df.groupby("income")["family_income"].agg(["min", "max"])
    assert (ranges["max"].iloc[:-1].to_numpy() < ranges["min"].iloc[1:].to_numpy()).all()
    means = df.groupby("state")["income"].transform("mean")
    np.testing.assert_allclose(df["state_avg_income"], means, rtol=1e-12)
    assert (df[["white", "black", "hispanic", "other_race"]].sum(axis=1) == 1).all()
    assert df.drop(columns="state").dtypes.map(pd.api.types.is_numeric_dtype).all()
    assert set(df["vote"]) == {0, 1}


def test_bracket_coding_is_centred():
    df = sample("bracket")
    np.testing.assert_array_equal(df["income"], df["family_income"] - 6.5)
    assert df["income"].min() == -5.5 and df["income"].max() == 5.5


def test_coding_drops_incomplete_rows_itself():
    everyone = data.load_cces2016(complete=False)
    pd.testing.assert_frame_equal(data.cces2016_vote_income(everyone), sample())


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (lambda d: d, {"income": "tercile"}, "must be one of"),
        (lambda d: d.drop(columns="race"), {}, r"not found in the data"),
        (lambda d: d.assign(family_income=d["family_income"] + 1), {}, "bracket numbers 1..12"),
        (lambda d: d.assign(vote_trump=d["vote_trump"] * 2), {}, "must be 1 \\(Trump\\)"),
        (lambda d: d.assign(college=d["college"].where(d.index > 3)), {}, "missing values"),
    ],
)
def test_coding_rejects_bad_input(change, kwargs, message):
    raw = data.load_cces2016().head(500)
    with pytest.raises(MultilevelInputError, match=message):
        data.cces2016_vote_income(change(raw), **kwargs)


def test_coding_needs_a_dataframe():
    with pytest.raises(MultilevelInputError, match="must be a pandas DataFrame"):
        data.cces2016_vote_income([[1, 2]])


# ------------------------------------------------------------- the chapter's glue
@pytest.mark.book
def test_chapter_glue_equals_glmer():
    values = glued("chapters/cces-2016")
    slope, cross = GLMER["cces_slope"], GLMER["cces_cross_level"]
    assert values["cces2016_rs_sd_income"] == pytest.approx(slope["sd"]["income"], abs=1e-3)
    assert values["cces2016_rs_income"] == pytest.approx(slope["fixef"]["income"], abs=1e-3)
    assert values["cces2016_cond_interaction"] == pytest.approx(
        cross["fixef"]["state_avg_income:income"], abs=1e-3)
    assert values["cces2016_cond_avg"] == pytest.approx(cross["fixef"]["state_avg_income"],
                                                        abs=1e-3)
    assert values["cces2016_cond_loglik"] == pytest.approx(cross["loglik"], abs=1e-3)
    assert values["cces2016_race_income"] == pytest.approx(
        GLMER["cces_slope_race"]["fixef"]["income"], abs=1e-3)
    assert values["cces2016_white_income"] == pytest.approx(
        GLMER["cces_slope_white"]["fixef"]["income"], abs=1e-3)
    assert values["cces2016_white_interaction"] == pytest.approx(
        GLMER["cces_cross_level_white"]["fixef"]["state_avg_income:income"], abs=1e-3)
    assert values["cces2016_rs_income_se"] == pytest.approx(slope["se"]["income"], rel=1e-2)
    assert values["cces2016_cond_interaction_se"] == pytest.approx(
        cross["se"]["state_avg_income:income"], rel=1e-2)


@pytest.mark.book
def test_chapter_glue_slope_variance_test_is_the_boundary_mixture():
    """The exercise's lrtest: chi-bar-squared p-value from glmer's log-likelihoods."""
    values = glued("chapters/cces-2016")
    lr = 2 * (GLMER["cces_slope"]["loglik"] - GLMER["cces_intercept"]["loglik"])
    assert values["ex_cces_lr_slope"] == pytest.approx(lr, abs=2e-3)
    mixture = 0.5 * stats.chi2.sf(lr, 1) + 0.5 * stats.chi2.sf(lr, 2)
    assert values["ex_cces_lr_slope_p"] == pytest.approx(mixture, rel=1e-3)
    assert stats.chi2.sf(lr, 2) > values["ex_cces_lr_slope_p"] > 0.05


@pytest.mark.book
def test_chapter_glue_compares_with_the_simulated_2000s():
    values = glued("chapters/cces-2016")
    assert values["cces2016_n"] == 40212 and values["cces2016_states"] == 51
    assert values["cces2016_smallest_n"] < 100 < 3000 < values["cces2016_largest_n"]
    # Side by side: the simulated 2000s slope is several times the 2016 one.
    assert values["cces2016_sim_rs_income"] > 5 * values["cces2016_rs_income"] > 0
    assert values["cces2016_sim_interaction"] < values["cces2016_cond_interaction_low"]
    assert (values["cces2016_cond_interaction_low"] < 0
            < values["cces2016_cond_interaction_high"])
    assert values["cces2016_sim_gap"] > 5 * values["cces2016_gap"]
    assert values["cces2016_state_slope"] < 0
    assert values["ex_cces_college_income"] > values["cces2016_race_income"]
