"""The fully conditional red-state, blue-state model (chapters/conditional-models.md).

The fits themselves are compared with lme4's glmer (tests/reference/glmer_reference.json)
in tests/test_mixed_fixtures.py; here: that the fixture is the chapter's model, what the
chapter computes from a fit (each state's coefficients from ``coef()`` and
``ranef(condvar=True)``, predictions with and without random effects, ``lrtest``), the
shared figures, and that the chapter's glued numbers equal glmer's.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import glued, reference
from scipy import special, stats

from multilevel import MixedModelResult, MultilevelInputError, data, glmer, lrtest, plots

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
def fitted(name: str) -> MixedModelResult:
    return glmer(FORMULAS[name], red_blue(), family="binomial")


def random_part(fit: MixedModelResult) -> pd.Series:
    """SD of the intercepts, SD of the slopes, their correlation (the chapter's ``random_part``)."""
    return pd.Series(fit.varcorr["sdcor"].to_numpy(),
                     index=["(Intercept)", "income", "correlation"])


def state_coefficients(fit: MixedModelResult, df: pd.DataFrame) -> pd.DataFrame:
    """Each state's intercept and income slope, as the chapter computes them."""
    coef, modes = fit.coef()["state"], fit.ranef(condvar=True)["state"]
    avg = df.groupby("state")["state_avg_income"].first()
    level2 = "state_avg_income" in fit.params
    return pd.DataFrame({
        "state_avg_income": avg,
        "(Intercept)": coef["(Intercept)"] + (coef["state_avg_income"] * avg if level2 else 0),
        "(Intercept)_sd": modes["(Intercept)_sd"],
        "income": coef["income"] + (coef["state_avg_income:income"] * avg if level2 else 0),
        "income_sd": modes["income_sd"],
    })


# ------------------------------------------------------------------ the fixture
@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_fixture_is_the_chapters_model(name):
    ref = GLMER[name]
    assert ref["formula"] == FORMULAS[name]
    assert ref["data"] == "red_blue_simulated"
    assert ref["n_obs"] == len(red_blue()) and not ref["singular"]


def test_state_income_explains_between_state_variation():
    """The level-2 predictor lowers both random-effect SDs, toward the simulation's values."""
    rc, fc = fitted("red_blue_slope"), fitted("red_blue_cross_level")
    before, after = random_part(rc), random_part(fc)
    assert (after[["(Intercept)", "income"]] < before[["(Intercept)", "income"]]).all()
    explained = 1 - (after / before) ** 2
    assert 0.2 < explained["(Intercept)"] < 0.6 and 0.3 < explained["income"] < 0.8
    # The intercept-slope correlation of the random-coefficient model came from state
    # income: positive there, negative (as simulated, -0.3) once state income is in.
    assert before["correlation"] > 0 > after["correlation"]
    # varcorr's rows are lme4's: two variances, then the covariance of the two terms.
    vc = fc.varcorr
    assert list(vc["var1"]) == ["(Intercept)", "income", "(Intercept)"]
    assert vc["var2"].isna().tolist() == [True, True, False]


def test_lrtest_of_the_level2_coefficients():
    """Two fixed effects more: an ordinary chi-squared test, no boundary p-value."""
    rc, fc = fitted("red_blue_slope"), fitted("red_blue_cross_level")
    table = lrtest(fc, rc)  # ordered by the number of parameters whatever the order given
    assert list(table["npar"]) == [5, 7]
    row = table.iloc[1]
    assert row["Chisq"] == pytest.approx(2 * (fc.llf - rc.llf), rel=1e-12)
    assert row["Df"] == 2 and row["Pr(>Chisq)"] == pytest.approx(stats.chi2.sf(row["Chisq"], 2))
    assert np.isnan(row["Pr(>Chisq) boundary"]) and row["Chisq"] > 20


# ----------------------------------------------------- each state's coefficients
def test_state_coefficients_are_the_linear_predictor_of_each_state():
    """coef() plus the level-2 terms at the state's income = the state's fitted line."""
    fit, df = fitted("red_blue_cross_level"), red_blue()
    table = state_coefficients(fit, df)
    assert list(table.index) == sorted(df["state"].unique())
    beta, modes = fit.params, fit.ranef()["state"]
    avg = table["state_avg_income"]
    slope = beta["income"] + beta["state_avg_income:income"] * avg + modes["income"]
    np.testing.assert_allclose(table["income"], slope, rtol=1e-12)
    # The same numbers from predict: the log-odds at income 0 and the change to income 1.
    grid = pd.DataFrame({"state": table.index, "state_avg_income": avg.to_numpy()})
    at0 = fit.predict(grid.assign(income=0.0)).to_numpy()
    at1 = fit.predict(grid.assign(income=1.0)).to_numpy()
    np.testing.assert_allclose(table["(Intercept)"], at0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(table["income"], at1 - at0, rtol=1e-10, atol=1e-12)
    # type="response" is the inverse logit of the linear predictor.
    rows = df.groupby("state").head(2)
    np.testing.assert_allclose(fit.predict(rows, type="response"),
                               special.expit(fit.predict(rows)), rtol=1e-12)
    # Conditional SDs are positive and smallest for the largest state.
    sizes = df.groupby("state").size()
    assert (table["income_sd"] > 0).all()
    assert table["income_sd"].idxmin() == sizes.idxmax()
    # Gelman et al.'s pattern: steep in Mississippi, flat in Connecticut.
    s = table.loc[REFERENCE_STATES, "income"]
    assert s["Mississippi"] > s["Ohio"] > s["Connecticut"]
    assert s["Mississippi"] > 0.3 and abs(s["Connecticut"]) < 0.15


def test_coef_without_level2_predictor_is_beta_plus_mode():
    fit = fitted("red_blue_slope")
    coef = fit.coef()["state"]
    expected = fit.params["income"] + fit.ranef()["state"]["income"]
    np.testing.assert_allclose(coef["income"], expected[coef.index], rtol=1e-12)
    assert list(coef.columns) == ["(Intercept)", "income"]


def test_fixed_part_prediction_needs_no_state():
    """re_form="~0" predicts the population curve, also for a state the model has not seen."""
    fit = fitted("red_blue_cross_level")
    new = pd.DataFrame({"state": "Atlantis", "state_avg_income": 0.0, "income": [-2.0, 2.0]})
    with pytest.raises(MultilevelInputError, match="Atlantis"):
        fit.predict(new)
    p = fit.predict(new, re_form="~0", type="response")
    beta = fit.params
    expected = special.expit(beta["(Intercept)"] + beta["income"] * new["income"])
    np.testing.assert_allclose(p, expected)


def test_coefficients_by_group_figure():
    table = state_coefficients(fitted("red_blue_cross_level"), red_blue())
    ax = plots.coefficients_by_group(table, "state_avg_income", "income", "income_sd",
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
        plots.coefficients_by_group(table, "state_avg_income", "income", "income_sd", level=95)


def test_between_and_within_figure_on_the_chapters_data():
    """The paradox figure: falling lines through the states, rising curves within them."""
    fit, df = fitted("red_blue_cross_level"), red_blue()
    states = df.groupby("state").agg(state_avg_income=("state_avg_income", "first"),
                                     republican_share=("vote", "mean"))
    states["predicted_share"] = fit.predict(df, type="response").groupby(df["state"]).mean()
    grid = pd.DataFrame([(s, x, states.loc[s, "state_avg_income"])
                         for s in REFERENCE_STATES for x in range(-2, 3)],
                        columns=["state", "income", "state_avg_income"])
    grid["p_state"] = fit.predict(grid, type="response")
    fig = plots.between_and_within(states, grid, "state_avg_income", "republican_share",
                                   "predicted_share", "income", "p_state", "state",
                                   highlight=REFERENCE_STATES)
    left, right = fig.axes
    slope = lambda line: np.diff(line.get_ydata())[0] / np.diff(line.get_xdata())[0]  # noqa: E731
    # The least-squares lines through the states fall on both panels ...
    assert slope(left.lines[0]) < 0 and slope(right.lines[0]) < 0
    # ... while every reference state's curve rises with income.
    curves = [line for line in right.lines if line.get_label().endswith("by income")]
    assert [c.get_label() for c in curves] == [f"{s}, by income" for s in REFERENCE_STATES]
    assert all(np.all(np.diff(c.get_ydata()) > 0) for c in curves)


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
    assert values["redblue_cond_intercept"] == pytest.approx(cross["fixef"]["(Intercept)"],
                                                             abs=1e-3)
    assert values["redblue_cond_sd_income"] == pytest.approx(cross["sd"]["income"], abs=1e-3)
    assert values["redblue_cond_sd_intercept"] == pytest.approx(cross["sd"]["(Intercept)"],
                                                                abs=1e-3)
    assert values["redblue_cond_rc_sd_income"] == pytest.approx(slope["sd"]["income"], abs=1e-3)
    assert values["redblue_cond_cor"] == pytest.approx(cross["corr"][0][1], abs=1e-3)
    lr = 2 * (cross["loglik"] - slope["loglik"])
    assert values["redblue_cond_lr"] == pytest.approx(lr, abs=2e-3)
    assert values["redblue_cond_lr_df"] == 2
    assert values["redblue_cond_lr_p"] == pytest.approx(stats.chi2.sf(lr, 2), rel=1e-2)


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
    # The interaction test of the first exercise: one fixed effect, a tiny p-value.
    assert values["ex_cond_lr"] > 10 and values["ex_cond_lr_p"] < 1e-4


@pytest.mark.book
def test_random_coefficients_boundary_test_is_the_chi_bar_squared_mixture():
    """random-coefficients.md: lrtest's boundary p-value, from glmer's log-likelihoods."""
    values = glued("chapters/random-coefficients")
    lr = 2 * (GLMER["red_blue_slope"]["loglik"] - GLMER["red_blue_intercept"]["loglik"])
    mixture = 0.5 * stats.chi2.sf(lr, 1) + 0.5 * stats.chi2.sf(lr, 2)
    assert values["rs_lr"] == pytest.approx(lr, abs=2e-3) and values["rs_lr_df"] == 2
    assert values["rs_p_boundary"] == pytest.approx(mixture, rel=1e-2)
    assert values["rs_p_naive"] == pytest.approx(stats.chi2.sf(lr, 2), rel=1e-2)
    # The poll of every tenth voter: weaker evidence, the same mixture reference.
    assert values["ex_poll_p"] == pytest.approx(
        0.5 * stats.chi2.sf(values["ex_poll_lr"], 1) + 0.5 * stats.chi2.sf(values["ex_poll_lr"], 2),
        rel=1e-6)
    assert values["rs_p_boundary"] < values["ex_poll_p"] < 0.05
