"""High School and Beyond (chapters/schools.md): every model equals lme4, and the glue contract.

The lme4 values come from ``tests/reference/lmer_schools.R`` (``lmer`` with a tight
optimiser tolerance, so that the fixtures are the optimum itself, not lmer's default stop).
"""

import numpy as np
import pandas as pd
import pytest
from conftest import glued, reference
from scipy import stats

from multilevel import MultilevelInputError, data, models

FULL = "mAch ~ cses * meanses + cses * catholic"
#: Fixture name -> (fixed part, random part, REML), as the chapter fits them.
MODELS = {
    "empty_reml": ("mAch ~ 1", None, True),
    "empty_ml": ("mAch ~ 1", None, False),
    "ses_ml": ("mAch ~ ses", None, False),
    "cses_ml": ("mAch ~ cses", None, False),
    "within_between_ml": ("mAch ~ cses + meanses", None, False),
    "contextual_ml": ("mAch ~ ses + meanses", None, False),
    "slope_ml": ("mAch ~ cses + meanses", "~cses", False),
    "level2_ml": ("mAch ~ cses + meanses + catholic", "~cses", False),
    "full_ml": (FULL, "~cses", False),
    "full_reml": (FULL, "~cses", True),
    "full_fixed_slope_ml": (FULL, None, False),
    "with_students_ml": (FULL + " + minrty + sx", "~cses", False),
    "full_ses_reml": ("mAch ~ ses * meanses + ses * catholic", "~ses", True),
}
#: lme4's names for factor terms -> patsy's.
TERM_NAMES = {"(Intercept)": "Intercept", "minrtyYes": "minrty[T.Yes]", "sxMale": "sx[T.Male]"}


@pytest.fixture(scope="module")
def hsb() -> pd.DataFrame:
    frame = data.load_hsb()
    frame["catholic"] = (frame["sector"] == "Catholic").astype(int)
    return frame


@pytest.fixture(scope="module")
def fits(hsb) -> dict[str, models.MixedFit]:
    return {
        name: models.fit_mixed_profiled(hsb, formula, group="school", re_formula=random,
                                        reml=reml)
        for name, (formula, random, reml) in MODELS.items()
    }


def lme4_sds(fit: dict) -> dict[str, float]:
    """VarCorr of an lme4 fixture under statsmodels' names (Group, slope, cor(...), Residual)."""
    out = {}
    for row in fit["varcorr"]:
        if row["grp"] == "Residual":
            out["Residual"] = row["sdcor"]
            continue
        first = "Group" if row["var1"] == "(Intercept)" else row["var1"]
        if row.get("var2") is None:
            out[first] = row["sdcor"]
        else:
            out[f"cor({first}, {row['var2']})"] = row["sdcor"]
    return out


def test_fixture_covers_every_model():
    assert set(reference("lmer_schools")) == set(MODELS)


@pytest.mark.parametrize("name", list(MODELS))
def test_profiled_fit_equals_lmer(fits, name):
    ref, fit = reference("lmer_schools")[name], fits[name]
    assert fit.reml == ref["reml"] and fit.result.nobs == ref["nobs"] == 7185
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    for term, value in ref["fixef"].items():
        key = TERM_NAMES.get(term, term)
        assert fit.params[key] == pytest.approx(value, rel=1e-3), term
        if not ref["singular"]:
            assert fit.bse[key] == pytest.approx(ref["se"][term], rel=1e-3), term
    sds = fit.variance_components["sd"]
    expected = lme4_sds(ref)
    assert set(sds.index) == set(expected)
    for term, value in expected.items():
        assert sds[term] == pytest.approx(value, rel=1e-3), term
    assert fit.n_params == ref["df"]
    if not ref["reml"]:
        assert fit.aic == pytest.approx(ref["aic"], abs=1e-3)
        assert fit.bic == pytest.approx(ref["bic"], abs=1e-3)


def test_singular_fit_is_reported_as_lme4_does(fits):
    ref = reference("lmer_schools")["full_ses_reml"]
    fit = fits["full_ses_reml"]
    assert ref["singular"] and any("singular" in note for note in fit.notes)
    assert fit.variance_components.loc["cor(Group, ses)", "sd"] == pytest.approx(1.0, abs=1e-6)
    # The fixed-effect standard errors come from the profiled fit itself.
    for term, value in ref["se"].items():
        assert fit.result.bse_fe[TERM_NAMES.get(term, term)] == pytest.approx(value, rel=1e-3)
    assert not any("singular" in note for name, f in fits.items() if name != "full_ses_reml"
                   for note in f.notes)


@pytest.mark.parametrize("name", ["full_reml", "slope_ml", "ses_ml", "full_ses_reml"])
def test_conditional_effects_equal_lme4_ranef(fits, name):
    ref = reference("lmer_schools")[name]["ranef"]["school"]
    effects = models.conditional_effects(fits[name])
    terms = ["Group" if t == "(Intercept)" else t for t in np.atleast_1d(ref["terms"])]
    modes = effects["estimate"].unstack("term").loc[ref["group"], terms].to_numpy()
    cond_sd = effects["std_error"].unstack("term").loc[ref["group"], terms].to_numpy()
    np.testing.assert_allclose(modes, np.reshape(ref["mode"], modes.shape), rtol=1e-3,
                               atol=1e-4)
    np.testing.assert_allclose(cond_sd, np.reshape(ref["cond_sd"], cond_sd.shape), rtol=1e-3)


def test_conditional_effects_equal_statsmodels_blups(fits):
    fit = fits["full_reml"]
    effects = models.conditional_effects(fit)
    blups = fit.random_effects
    mine = effects["estimate"].unstack("term").loc[blups.index, blups.columns]
    np.testing.assert_allclose(mine.to_numpy(), blups.to_numpy(), atol=1e-10)
    one = fit.result.model.group_labels[0]
    cov = fit.result.random_effects_cov[one].to_numpy()
    np.testing.assert_allclose(effects.loc[one, "std_error"].to_numpy(),
                               np.sqrt(np.diag(cov)), rtol=1e-8)


def test_reparametrised_contextual_model_has_the_same_likelihood(fits):
    within_between, contextual = fits["within_between_ml"], fits["contextual_ml"]
    assert contextual.loglik == pytest.approx(within_between.loglik, abs=1e-6)
    # meanses | ses = between - within.
    assert contextual.params["meanses"] == pytest.approx(
        within_between.params["meanses"] - within_between.params["cses"], rel=1e-6)


def test_lr_tests_match_the_fixture_log_likelihoods(fits):
    ref = reference("lmer_schools")
    test = models.lr_test(fits["within_between_ml"], fits["slope_ml"])
    assert test["df"] == 2
    assert test["statistic"] == pytest.approx(
        2 * (ref["slope_ml"]["loglik"] - ref["within_between_ml"]["loglik"]), abs=2e-3)
    interactions = models.lr_test(fits["level2_ml"], fits["full_ml"])
    assert interactions["df"] == 2 and interactions["p_value"] < 1e-6


def test_variance_explained_equals_hand_formula(fits):
    empty, full = fits["empty_ml"], fits["full_ml"]
    table = models.variance_explained(empty, full)
    before = empty.variance_components["variance"]
    after = full.variance_components["variance"]
    assert table.loc["level 1 (residual)", "reduction"] == pytest.approx(
        1 - after["Residual"] / before["Residual"])
    assert table.loc["level 2 (intercept)", "reduction"] == pytest.approx(
        1 - after["Group"] / before["Group"])
    # The pitfall the chapter shows: a within-group covariate raises the intercept variance.
    assert models.variance_explained(empty, fits["cses_ml"]).loc[
        "level 2 (intercept)", "reduction"] < 0


def test_variance_explained_rejects_mixed_estimation_methods(fits):
    with pytest.raises(MultilevelInputError, match="both ML or both REML"):
        models.variance_explained(fits["empty_reml"], fits["full_ml"])
    with pytest.raises(MultilevelInputError, match="must be a MixedFit"):
        models.variance_explained(fits["empty_ml"], "not a fit")


def test_fit_mixed_profiled_rejects_bad_input(hsb):
    frame = hsb.assign(ses_twice=2 * hsb["ses"])
    with pytest.raises(MultilevelInputError, match="collinear"):
        models.fit_mixed_profiled(frame, "mAch ~ ses + ses_twice", group="school")
    with pytest.raises(MultilevelInputError, match="at least one scipy optimiser"):
        models.fit_mixed_profiled(hsb, "mAch ~ ses", group="school", methods=())
    with pytest.raises(MultilevelInputError, match="not found"):
        models.fit_mixed_profiled(hsb, "mAch ~ ses", group="district")


def test_every_optimiser_run_is_recorded(fits):
    attempts = fits["full_ml"].attempts
    assert list(attempts.index) == ["SLSQP", "SLSQP (small start)", "L-BFGS-B",
                                    "L-BFGS-B (small start)", "Nelder-Mead polish"]
    best = fits["full_ml"].method
    assert best.startswith("profiled (")
    assert attempts["loglik"].max() == pytest.approx(fits["full_ml"].loglik, abs=1e-8)


# --- Glue contract (needs the built book) -------------------------------------------------


@pytest.mark.book
def test_schools_chapter_glue_equals_lme4():
    values = glued("chapters/schools")
    ref = reference("lmer_schools")
    empty = lme4_sds(ref["empty_reml"])
    icc = empty["Group"] ** 2 / (empty["Group"] ** 2 + empty["Residual"] ** 2)
    assert values["hsb_icc"] == pytest.approx(icc, rel=1e-4)
    full = ref["full_reml"]
    assert values["hsb_cross_level_ses_meanses"] == pytest.approx(
        full["fixef"]["cses:meanses"], rel=1e-3)
    assert values["hsb_cross_level_ses_catholic"] == pytest.approx(
        full["fixef"]["cses:catholic"], rel=1e-3)
    assert values["hsb_sd_ses_slope"] == pytest.approx(lme4_sds(full)["cses"], rel=1e-3)
    assert values["hsb_cor_intercept_slope"] == pytest.approx(
        lme4_sds(full)["cor(Group, cses)"], rel=1e-3)
    assert values["hsb_contextual"] == pytest.approx(
        ref["contextual_ml"]["fixef"]["meanses"], rel=1e-3)
    assert values["hsb_within"] == pytest.approx(ref["within_between_ml"]["fixef"]["cses"],
                                                 rel=1e-3)
    assert values["hsb_rs_slope_sd"] == pytest.approx(lme4_sds(ref["slope_ml"])["cses"],
                                                      rel=1e-3)
    assert values["ex_unc_cor"] == pytest.approx(1.0, abs=1e-4)
    minority = ref["with_students_ml"]["fixef"]["minrtyYes"]
    assert values["ex_minority_abs"] == pytest.approx(-minority, rel=1e-3)


@pytest.mark.book
def test_schools_chapter_glued_tests_and_prose_claims():
    values = glued("chapters/schools")
    ref = reference("lmer_schools")
    lr_slope = 2 * (ref["slope_ml"]["loglik"] - ref["within_between_ml"]["loglik"])
    assert values["hsb_rs_lr"] == pytest.approx(lr_slope, abs=2e-3)
    assert values["hsb_rs_p_naive"] == pytest.approx(stats.chi2.sf(lr_slope, 2), rel=1e-3)
    # The boundary mixture halves the tail between chi2(1) and chi2(2): smaller p.
    assert values["hsb_rs_p_boundary"] < values["hsb_rs_p_naive"] < 0.05
    assert values["hsb_interaction_p"] < 1e-6
    # "The data cannot distinguish what is left from zero"; AIC prefers the fixed slope.
    assert values["hsb_residual_slope_p_boundary"] > 0.1
    assert values["hsb_best_aic_model"] == "fully conditional, fixed slope"
    assert values["hsb_aic_gap_slope"] > 0
    # Prose: "Not one slope interval excludes zero"; negative level-2 "reduction" for cses.
    assert values["hsb_n_slopes_clear"] == 0 and values["hsb_n_intercepts_clear"] > 0
    assert values["hsb_r2_level2_cses"] < 0 < values["hsb_r2_level2_ses"]
    assert values["hsb_mean_slope_catholic"] < values["hsb_mean_slope_public"]
    assert values["hsb_mean_level_catholic"] > values["hsb_mean_level_public"]
    # statsmodels' MixedLM (Powell) stops a little below the profiled optimum.
    assert 0 <= values["hsb_check_loglik_gap"] < 1e-2
    assert values["hsb_check_sd_gap_pct"] < 1
    assert values["ex_reml_slope_sd"] > values["ex_ml_slope_sd"]
    assert values["hsb_n_students"] == 7185 and values["hsb_n_schools"] == 160
