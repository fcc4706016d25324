"""The red-state, blue-state chapters: single-level logits, no pooling, and their glued numbers.

Reference values come from R: ``tests/reference/glm_redblue.R`` (``glm`` for full
pooling, fixed effects with ``makeFEdummies``-style dummies, and one logit per state
on all voters and on every tenth voter; estimates agree to 1e-6, standard errors to
1e-6 with ``glm``'s IRLS converged and to 1e-3 with its default stopping rule, which
takes the covariance from weights one iteration behind the estimates) and
``tests/reference/glmer_reference.R`` (``glmer`` for the random-intercept and
random-coefficient models). The tests at the end read the glued values of a built
book (``@pytest.mark.book``).
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from conftest import glued, reference

from multilevel import MultilevelInputError, data, logit, models, plots

GLM = reference("glm_redblue")
GLMER = reference("glmer_reference")


@cache
def votes() -> pd.DataFrame:
    return data.load_csv("red_blue_simulated")


@cache
def poll() -> pd.DataFrame:
    """Every tenth voter: rows 1, 11, 21, ... in R."""
    return votes().iloc[::10]


@cache
def no_pooling(which: str) -> pd.DataFrame:
    frame = votes() if which == "all" else poll()
    return logit.fit_no_pooling(frame, "vote", "income", "state")


def r_terms(values: dict) -> pd.Series:
    return pd.Series({("Intercept" if k == "(Intercept)" else k): v for k, v in values.items()})


# ------------------------------------------------------------------ logits vs glm
def test_chapter_full_pooling_logit_equals_glm():
    """The chapter's statsmodels formula logit; statsmodels' Newton stops where IRLS converges."""
    ref, fit = GLM["pooled"], smf.logit("vote ~ income", votes()).fit(disp=0)
    assert fit.mle_retvals["converged"]
    np.testing.assert_allclose(fit.params, r_terms(ref["coef"])[fit.params.index], rtol=1e-7)
    np.testing.assert_allclose(fit.bse, r_terms(ref["se_converged"])[fit.bse.index], rtol=1e-7)
    assert fit.llf == pytest.approx(ref["loglik"], abs=1e-6)


def test_fixed_effects_with_dummies_equal_glm_and_the_fast_fe_logit():
    """The chapter's get_dummies + statsmodels Logit, and fit_fe_logit, against glm."""
    ref = GLM["fixed"]
    dummies = pd.get_dummies(votes()["state"], dtype=float)
    fit = sm.Logit(votes()["vote"], votes()[["income"]].join(dummies)).fit(disp=0)
    assert fit.mle_retvals["converged"] and len(fit.params) == 49
    theirs = pd.Series({k.removeprefix("stateFE"): v for k, v in ref["coef"].items()})
    np.testing.assert_allclose(fit.params, theirs[fit.params.index], rtol=1e-6)
    theirs_se = pd.Series({k.removeprefix("stateFE"): v for k, v in ref["se_converged"].items()})
    np.testing.assert_allclose(fit.bse, theirs_se[fit.bse.index], rtol=1e-6)
    assert fit.llf == pytest.approx(ref["loglik"], abs=1e-6)
    fast = models.fit_fe_logit(votes(), "vote", "income", "state")
    assert fast.params["income"] == pytest.approx(fit.params["income"], rel=1e-7)
    np.testing.assert_allclose(fast.group_effects, fit.params.drop("income"), rtol=1e-6)


# ------------------------------------------------------------------ no pooling vs glm
@pytest.mark.parametrize("which", ["all", "poll"])
def test_estimable_states_equal_glm(which):
    table = no_pooling(which)
    ref = GLM[f"no_pooling_{which}"]
    assert len(table) == 48 and table.index.is_monotonic_increasing
    for state, row in table.iterrows():
        theirs = ref["states"][state]
        assert row["n"] == theirs["n"] and row["share"] == pytest.approx(theirs["share"])
        if row["status"] != "ok":
            continue
        assert theirs["converged"] and not theirs["notes"], state
        for term in ("Intercept", "income"):
            coef, se = r_terms(theirs["coef"])[term], r_terms(theirs["se_converged"])[term]
            assert row[term] == pytest.approx(coef, rel=1e-6, abs=1e-9), (state, term)
            assert row[f"{term}_se"] == pytest.approx(se, rel=1e-6), (state, term)
            default_se = r_terms(theirs["se"])[term]
            assert row[f"{term}_se"] == pytest.approx(default_se, rel=1e-3), (state, term)


def test_full_survey_estimates_every_state():
    table = no_pooling("all")
    assert (table["status"] == "ok").all() and (table["warnings"] == "").all()
    # No pooling is wild in small states: the smallest state's slope is far less precise.
    sizes = table["n"]
    assert table.loc[sizes.idxmin(), "income_se"] > 5 * table.loc[sizes.idxmax(), "income_se"]


def test_poll_reports_the_states_without_an_estimate():
    table = no_pooling("poll")
    failed = table[table["status"] != "ok"]
    assert failed["status"].to_dict() == {
        "Montana": "quasi-complete separation",
        "South Dakota": "one outcome",
        "Vermont": "quasi-complete separation",
        "Wyoming": "quasi-complete separation",
    }
    assert failed[["Intercept", "income", "Intercept_se", "income_se"]].isna().all().all()
    assert table.loc[table["status"] == "ok", ["income", "income_se"]].notna().all().all()
    assert (failed["warnings"] != "").all()
    assert "PerfectSeparationWarning" in failed.loc["South Dakota", "warnings"]
    # R's glm returns numbers for these states: enormous standard errors, and for the
    # state where everybody voted alike, convergence without a warning.
    states = GLM["no_pooling_poll"]["states"]
    for state in failed.index:
        assert max(states[state]["se"].values()) > 1e3, state
    assert states["South Dakota"]["converged"] and not states["South Dakota"]["notes"]


def test_no_statsmodels_warning_leaks():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logit.fit_no_pooling(poll(), "vote", "income", "state")
        logit.find_separation(poll()[poll()["state"] == "Wyoming"], "vote", "income")


def test_every_status_is_recognised():
    cases = {
        "ok": ([-2, -1, 0, 1, 2, 0], [0, 1, 0, 1, 1, 0]),
        "too few rows": ([1, 2], [0, 1]),
        "one outcome": ([-1, 0, 1], [1, 1, 1]),
        "no variation": ([1, 1, 1, 1], [0, 1, 0, 1]),
        "complete separation": ([-2, -1, 1, 2], [0, 0, 1, 1]),
        "quasi-complete separation": ([-2, 0, 0, 2], [0, 0, 1, 1]),
    }
    frame = pd.concat(
        [pd.DataFrame({"g": status, "x": x, "y": y}) for status, (x, y) in cases.items()],
        ignore_index=True,
    )
    table = logit.fit_no_pooling(frame, "y", "x", "g")
    assert table["status"].to_dict() == {status: status for status in cases}
    assert set(table["status"]) <= set(logit.NO_POOLING_STATUS)
    # The groups statsmodels cannot even start on are not passed to it.
    assert table.loc["too few rows", "warnings"] == table.loc["no variation", "warnings"] == ""


# ------------------------------------------------------------------ separation
@pytest.mark.parametrize(
    ("x", "y", "intercept", "expected"),
    [
        ([-2, -1, 0, 1, 2], [0, 0, 1, 1, 1], True, "complete"),
        ([-2, -1, 0, 0, 2], [0, 0, 0, 1, 1], True, "quasi-complete"),
        ([-2, -1, 0, 1, 2], [0, 1, 0, 1, 1], True, "none"),
        ([1, 2, 3], [1, 1, 1], True, "complete"),  # one outcome: the intercept separates
        ([1, 2, 3], [1, 1, 1], False, "complete"),
        ([-1, 1, 2], [1, 1, 1], False, "none"),  # no constant: x = -1 and x = 2 disagree
        ([-1, 0, 2], [0, 1, 1], False, "quasi-complete"),  # the tie at x = 0 is on the line
    ],
)
def test_find_separation(x, y, intercept, expected):
    frame = pd.DataFrame({"x": x, "y": y})
    assert logit.find_separation(frame, "y", "x", intercept=intercept) == expected


def test_separation_in_two_covariates():
    # x1 + x2 > 0 exactly for the 1s: separated by a line that neither covariate gives alone.
    frame = pd.DataFrame({"x1": [1, -1, 2, 0, -2, 1], "x2": [0, 2, -1, -1, 1, -2],
                          "y": [1, 1, 1, 0, 0, 0]})
    assert logit.find_separation(frame, "y", "x1") == "none"
    assert logit.find_separation(frame, "y", ["x1", "x2"]) == "complete"


# ------------------------------------------------------------------ bad input
@pytest.fixture
def tiny() -> pd.DataFrame:
    return pd.DataFrame({"x": [-2, -1, 0, 1, 2, 0], "y": [0, 1, 0, 1, 1, 0], "g": list("aaabbb")})


def test_no_pooling_and_separation_bad_input(tiny):
    with pytest.raises(MultilevelInputError, match="not found in the data"):
        logit.fit_no_pooling(tiny, "y", "x", "state")
    with pytest.raises(MultilevelInputError, match="must be binary"):
        logit.fit_no_pooling(tiny.assign(y=3), "y", "x", "g")
    with pytest.raises(MultilevelInputError, match="has no rows"):
        logit.find_separation(tiny.iloc[:0], "y", "x")
    with pytest.raises(MultilevelInputError, match="must be a pandas DataFrame"):
        logit.fit_no_pooling([1, 2], "y", "x", "g")


# ------------------------------------------------------------------ the shrinkage plot
def test_shrinkage_plot_draws_one_line_per_group():
    table = pd.DataFrame({"alone": [1.0, -1.0, 0.2], "pooled": [0.5, -0.4, 0.2],
                          "n": [10, 40, 2000]}, index=list("abc"))
    ax = plots.shrinkage(table, "alone", "pooled", "n")
    assert len(ax.lines) == 3 and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["no pooling", "partial pooling"]
    ax = plots.shrinkage(table, "alone", "pooled", "n", center=0.1, log_scale=False)
    assert len(ax.lines) == 4 and ax.get_xscale() == "linear"
    with pytest.raises(MultilevelInputError, match="positive group sizes"):
        plots.shrinkage(table.assign(n=0), "alone", "pooled", "n")
    with pytest.raises(MultilevelInputError, match="finite number"):
        plots.shrinkage(table, "alone", "pooled", "n", center=float("nan"))
    with pytest.raises(MultilevelInputError, match="not found"):
        plots.shrinkage(table, "alone", "partial", "n")


# ------------------------------------------------------------------ the glue contract
def fixture_value(name: str, key: str, term: str | None = None) -> float:
    value = GLMER[name][key]
    if term is None:
        return float(value)
    return float(value[term] if isinstance(value, dict) else value)


@pytest.mark.book
def test_pooling_chapter_glue():
    values = glued("chapters/pooling")
    required = ["redblue_pooled_income", "redblue_ri_income", "redblue_ri_sd_state",
                "redblue_ri_loglik"]
    assert set(required) <= set(values)
    assert values["redblue_pooled_income"] == pytest.approx(
        GLM["pooled"]["coef"]["income"], rel=1e-7)
    intercept = GLMER["red_blue_intercept"]
    assert values["redblue_ri_income"] == pytest.approx(intercept["fixef"]["income"], abs=1e-3)
    assert values["redblue_ri_sd_state"] == pytest.approx(
        list(intercept["sd"].values())[0], abs=1e-3)
    assert values["redblue_ri_loglik"] == pytest.approx(intercept["loglik"], abs=1e-3)
    assert values["pool_fe_income"] == pytest.approx(GLM["fixed"]["coef"]["income"], rel=1e-6)
    # The pooled slope is flatter than the within-state slopes (the ecological pattern).
    assert values["redblue_pooled_income"] < values["redblue_ri_income"] < values["pool_fe_income"]
    assert values["pool_n_voters"] == len(votes()) and values["pool_n_states"] == 48
    assert values["pool_smallest_state"] == "Wyoming"
    assert values["pool_largest_state"] == "California"
    # The small poll: four states without an estimate, as the helper finds.
    assert values["poll_n_failed"] == 4 and values["poll_n_ok"] == 44
    assert values["poll_one_outcome_state"] == "South Dakota"
    assert abs(values["naive_wy_slope"]) > 10 and values["naive_wy_se"] > 1e3
    # Shrinkage: the smallest state moves a lot, the largest hardly at all.
    assert values["shrink_small_pct"] > 30 > 5 > values["shrink_large_pct"] > 0
    assert values["ex_shrink_max_gap"] < 0.05
    # Recoding the vote flips the slope, not the SD.
    assert values["ex_dem_slope"] == pytest.approx(-values["redblue_ri_income"], rel=1e-4)
    assert values["ex_dem_sd"] == pytest.approx(values["redblue_ri_sd_state"], rel=1e-4)
    assert values["ex_poll_dropped"] == "South Dakota"
    # statsmodels on the poll's dummies: no error, a warning and a non-estimate for South Dakota.
    assert values["ex_poll_naive_warning"] == "ConvergenceWarning"
    assert values["ex_poll_naive_coef"] > 10 and values["ex_poll_naive_se"] > 1e3
    fe_poll = models.fit_fe_logit(poll(), "vote", "income", "state")
    assert values["ex_poll_fe_slope"] == pytest.approx(fe_poll.params["income"], rel=1e-10)
    assert values["pool_fe_n_params"] == 49


@pytest.mark.book
def test_random_coefficients_chapter_glue():
    values = glued("chapters/random-coefficients")
    required = ["redblue_rs_income", "redblue_rs_sd_income", "redblue_rs_cor", "redblue_rs_loglik"]
    assert set(required) <= set(values)
    slope = GLMER["red_blue_slope"]
    assert values["redblue_rs_income"] == pytest.approx(slope["fixef"]["income"], abs=1e-3)
    sds = list(slope["sd"].values())
    assert values["redblue_rs_sd_income"] == pytest.approx(sds[1], abs=1e-3)
    assert values["rs_sd_intercept"] == pytest.approx(sds[0], abs=1e-3)
    assert values["redblue_rs_cor"] == pytest.approx(np.asarray(slope["corr"])[0, 1], abs=1e-3)
    assert values["redblue_rs_loglik"] == pytest.approx(slope["loglik"], abs=1e-3)
    lr = 2 * (slope["loglik"] - GLMER["red_blue_intercept"]["loglik"])
    assert values["rs_lr"] == pytest.approx(lr, abs=2e-3) and values["rs_lr_df"] == 2
    assert values["rs_p_boundary"] < values["rs_p_naive"] < 1e-10
    # Gelman et al.'s pattern: the divide is steepest in the poor state.
    assert values["rs_ms_slope"] > values["rs_oh_slope"] > values["rs_ct_slope"]
    # Recoding income changes the correlation but not the fit.
    assert values["centring_loglik_gap"] < 1e-4
    assert values["centring_cor_poorest"] < 0 < values["centring_cor_mean"]
    assert values["ic_best_bic"] == "random coefficients"
