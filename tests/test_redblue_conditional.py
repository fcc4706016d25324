"""The fully conditional red-state, blue-state model (chapters/conditional-models.md).

The fits are compared with lme4's glmer (tests/reference/glmer_reference.json, from
glmer_reference.R): log-likelihood within 1e-3 and never lower than glmer's by more
than that; estimates, random-effect SDs and correlation within 1e-3 (absolute or
relative). The chapter's glued numbers must equal the same fixture values.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import glued, reference
from scipy import special

from multilevel import data, glmm, plots
from multilevel._checks import MultilevelInputError

GLMER = reference("glmer_reference")
FORMULAS = {
    "red_blue_slope": "vote ~ income + (1 + income | state)",
    "red_blue_cross_level": "vote ~ state_avg_income * income + (1 + income | state)",
}
REFERENCE_STATES = ["Mississippi", "Ohio", "Connecticut"]


@cache
def red_blue() -> pd.DataFrame:
    return data.load_csv("red_blue_simulated")


@cache
def fitted(name: str) -> glmm.GlmerResult:
    return glmm.fit_glmer(red_blue(), FORMULAS[name])


def r_names(values: dict) -> pd.Series:
    return pd.Series({("Intercept" if k == "(Intercept)" else k): v for k, v in values.items()})


def close(ours, theirs, tol: float = 1e-3) -> bool:
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    return bool(np.all(np.abs(ours - theirs) <= np.maximum(tol, tol * np.abs(theirs))))


# ------------------------------------------------------------------ vs glmer
@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_fixture_is_the_chapters_model(name):
    assert GLMER[name]["formula"] == FORMULAS[name]
    assert GLMER[name]["data"] == "red_blue_simulated"
    assert GLMER[name]["n_obs"] == len(red_blue()) and not GLMER[name]["singular"]


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_loglik_equals_glmer_and_is_never_worse(name):
    ours, theirs = fitted(name).loglik, GLMER[name]["loglik"]
    assert ours == pytest.approx(theirs, abs=1e-3)
    assert ours >= theirs - 1e-3


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_estimates_equal_glmer(name):
    fit, ref = fitted(name), GLMER[name]
    fixef = r_names(ref["fixef"])
    assert close(fit.params[fixef.index], fixef)
    assert close(fit.random_sd[r_names(ref["sd"]).index], r_names(ref["sd"]))
    assert close(fit.random_corr.iloc[1, 0], np.asarray(ref["corr"])[1, 0])
    assert not fit.is_singular and fit.converged


def test_state_income_explains_between_state_variation():
    """The level-2 predictor lowers both random-effect SDs, toward the simulation's values."""
    rc, fc = fitted("red_blue_slope"), fitted("red_blue_cross_level")
    assert (fc.random_sd < rc.random_sd).all()
    explained = 1 - (fc.random_sd / rc.random_sd) ** 2
    assert 0.2 < explained["Intercept"] < 0.6 and 0.3 < explained["income"] < 0.8
    # The intercept-slope correlation of the random-coefficient model came from state
    # income: positive there, negative (as simulated, -0.3) once state income is in.
    assert rc.random_corr.iloc[1, 0] > 0 > fc.random_corr.iloc[1, 0]
    # Two fixed effects more, a far better likelihood.
    assert 2 * (fc.loglik - rc.loglik) > 20


# ----------------------------------------------------- each state's coefficients
def test_group_coefficients_add_fixed_part_and_mode():
    fit, df = fitted("red_blue_cross_level"), red_blue()
    table = glmm.group_coefficients(fit, df)
    beta, modes = fit.params, fit.random_effects
    avg = df.groupby("state")["state_avg_income"].first()
    assert list(table.index) == sorted(df["state"].unique())
    slope = beta["income"] + beta["state_avg_income:income"] * avg + modes["income"]
    intercept = beta["Intercept"] + beta["state_avg_income"] * avg + modes["Intercept"]
    np.testing.assert_allclose(table["income"], slope[table.index], rtol=1e-12)
    np.testing.assert_allclose(table["Intercept"], intercept[table.index], rtol=1e-12)
    np.testing.assert_allclose(table["income_se"], np.sqrt(modes["income_var"]), rtol=1e-12)
    np.testing.assert_allclose(table["state_avg_income"], avg[table.index])
    assert table["n"].sum() == len(df)
    # The predicted log-odds of each row equal the group's intercept + slope * income.
    rows = df.groupby("state").head(2)
    eta = table.loc[rows["state"], "Intercept"].to_numpy() + table.loc[
        rows["state"], "income"].to_numpy() * rows["income"].to_numpy()
    np.testing.assert_allclose(fit.predict(rows), special.expit(eta), rtol=1e-10)
    # Gelman et al.'s pattern: steep in Mississippi, flat in Connecticut.
    s = table.loc[REFERENCE_STATES, "income"]
    assert s["Mississippi"] > s["Ohio"] > s["Connecticut"]
    assert s["Mississippi"] > 0.3 and abs(s["Connecticut"]) < 0.15


def test_group_coefficients_without_level2_predictor_are_beta_plus_mode():
    fit = fitted("red_blue_slope")
    table = glmm.group_coefficients(fit, red_blue())
    expected = fit.params["income"] + fit.random_effects["income"]
    np.testing.assert_allclose(table["income"], expected[table.index], rtol=1e-12)
    assert "state_avg_income" not in table.columns  # not in this model


def test_group_coefficients_reject_bad_input():
    fit, df = fitted("red_blue_cross_level"), red_blue()
    with pytest.raises(MultilevelInputError, match="must be a GlmerResult"):
        glmm.group_coefficients("not a fit", df)
    with pytest.raises(MultilevelInputError, match="not found in the data"):
        glmm.group_coefficients(fit, df.drop(columns="state_avg_income"))
    with pytest.raises(MultilevelInputError, match="were not in the fitted data"):
        glmm.group_coefficients(fit, df.assign(state="Atlantis"))
    with pytest.raises(MultilevelInputError, match="missing values"):
        glmm.group_coefficients(fit, df.assign(income=df["income"].where(df.index > 5)))


def test_coefficients_by_group_figure():
    table = glmm.group_coefficients(fitted("red_blue_cross_level"), red_blue())
    ax = plots.coefficients_by_group(table, "state_avg_income", "income", "income_se",
                                     highlight=REFERENCE_STATES, line=(0.15, -0.56))
    assert [t.get_text() for t in ax.texts] == REFERENCE_STATES
    labels = ax.get_legend_handles_labels()[1]
    assert set(labels) == {"other groups", "fixed part", *REFERENCE_STATES}
    with pytest.raises(MultilevelInputError, match="cannot highlight"):
        plots.coefficients_by_group(table, "state_avg_income", "income", highlight=["Atlantis"])
    with pytest.raises(MultilevelInputError, match="two finite numbers"):
        plots.coefficients_by_group(table, "state_avg_income", "income", line=(0.1, np.nan))
    with pytest.raises(MultilevelInputError, match="not found"):
        plots.coefficients_by_group(table, "avg", "income")
    with pytest.raises(MultilevelInputError, match="`level`"):
        plots.coefficients_by_group(table, "state_avg_income", "income", "income_se", level=95)


# ------------------------------------------------------------- the chapter's glue
@pytest.mark.book
def test_chapter_glue_equals_glmer():
    values = glued("chapters/conditional-models")
    cross, slope = GLMER["red_blue_cross_level"], GLMER["red_blue_slope"]
    assert values["redblue_cond_interaction"] == pytest.approx(
        cross["fixef"]["state_avg_income:income"], abs=1e-3)
    assert values["redblue_cond_loglik"] == pytest.approx(cross["loglik"], abs=1e-3)
    assert values["redblue_cond_rc_loglik"] == pytest.approx(slope["loglik"], abs=1e-3)
    assert values["redblue_cond_income"] == pytest.approx(cross["fixef"]["income"], abs=1e-3)
    assert values["redblue_cond_avg"] == pytest.approx(cross["fixef"]["state_avg_income"],
                                                       abs=1e-3)
    assert values["redblue_cond_sd_income"] == pytest.approx(cross["sd"]["income"], abs=1e-3)
    assert values["redblue_cond_rc_sd_income"] == pytest.approx(slope["sd"]["income"], abs=1e-3)
    assert values["redblue_cond_lr"] == pytest.approx(
        2 * (cross["loglik"] - slope["loglik"]), abs=2e-3)


@pytest.mark.book
def test_chapter_glue_tells_the_red_blue_story():
    values = glued("chapters/conditional-models")
    # The cross-level interaction is negative, near the simulated -0.6.
    assert -0.8 < values["redblue_cond_interaction"] < -0.35
    assert values["redblue_cond_interaction_truth"] == -0.6
    assert values["redblue_cond_max_z"] < 2.5
    # Slopes: steep in Mississippi, flat in Connecticut; gaps in probability follow.
    assert (values["redblue_cond_slope_mississippi"] > values["redblue_cond_slope_ohio"]
            > values["redblue_cond_slope_connecticut"])
    assert (values["redblue_cond_gap_mississippi"] > values["redblue_cond_gap_ohio"]
            > values["redblue_cond_gap_connecticut"] > 0)
    # The paradox: richer states vote less Republican although slopes are positive.
    assert values["redblue_cond_state_slope"] < 0 < values["redblue_cond_income"]
    assert 0 < values["redblue_cond_explained_intercept"] < 100
    assert 0 < values["redblue_cond_explained_income"] < 100
    assert values["redblue_cond_rc_cor"] > 0 > values["redblue_cond_cor"]
    assert values["ex_cond_centred_loglik_gap"] < 1e-6
    assert values["ex_cond_shrink_corr"] < 0
