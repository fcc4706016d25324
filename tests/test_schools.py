"""High School and Beyond (chapters/schools.md): what the chapter relies on, and the glue contract.

The lme4 values come from ``tests/reference/lmer_schools.R`` (``lmer`` with a tight
optimiser tolerance, so that the fixtures are the optimum itself, not lmer's default stop).
Every model of the fixture against ``multilevel.lmer`` is in ``tests/test_mixed_fixtures.py``;
here: the chapter's tests, reparametrisations and variance shares through the public API.
"""

from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import glued, reference
from scipy import stats

import multilevel
from multilevel import data

FULL = "mAch ~ cses * meanses + cses * catholic"
#: Fixture name -> lme4 formula and REML, as the chapter fits them.
MODELS = {
    "empty_reml": ("mAch ~ 1 + (1 | school)", True),
    "empty_ml": ("mAch ~ 1 + (1 | school)", False),
    "cses_ml": ("mAch ~ cses + (1 | school)", False),
    "within_between_ml": ("mAch ~ cses + meanses + (1 | school)", False),
    "contextual_ml": ("mAch ~ ses + meanses + (1 | school)", False),
    "slope_ml": ("mAch ~ cses + meanses + (1 + cses | school)", False),
    "level2_ml": ("mAch ~ cses + meanses + catholic + (1 + cses | school)", False),
    "full_ml": (FULL + " + (1 + cses | school)", False),
    "full_reml": (FULL + " + (1 + cses | school)", True),
    "full_fixed_slope_ml": (FULL + " + (1 | school)", False),
    "full_ses_reml": ("mAch ~ ses * meanses + ses * catholic + (1 + ses | school)", True),
}


@cache
def hsb() -> pd.DataFrame:
    frame = data.load_hsb()
    frame["catholic"] = (frame["sector"] == "Catholic").astype(int)
    return frame


@cache
def fit(name: str) -> multilevel.MixedModelResult:
    formula, reml = MODELS[name]
    return multilevel.lmer(formula, hsb(), REML=reml)


def lme4_sds(fit: dict) -> dict[str, float]:
    """VarCorr of an lme4 fixture, keyed grp/var1[/var2]."""
    return {"/".join(str(v) for v in (row["grp"], row.get("var1"), row.get("var2")) if v):
            row["sdcor"] for row in fit["varcorr"]}


def test_chapter_models_are_in_the_fixture():
    assert set(MODELS) <= set(reference("lmer_schools"))


def test_reparametrised_contextual_model_has_the_same_likelihood():
    within_between, contextual = fit("within_between_ml"), fit("contextual_ml")
    assert contextual.llf == pytest.approx(within_between.llf, abs=1e-6)
    # meanses | ses = between - within.
    assert contextual.params["meanses"] == pytest.approx(
        within_between.params["meanses"] - within_between.params["cses"], rel=1e-6)


def test_slope_test_is_the_fixtures_and_uses_the_chi_bar_squared_mixture():
    ref = reference("lmer_schools")
    test = multilevel.lrtest(fit("within_between_ml"), fit("slope_ml")).iloc[1]
    lr = 2 * (ref["slope_ml"]["loglik"] - ref["within_between_ml"]["loglik"])
    assert test["Df"] == 2 and test["Chisq"] == pytest.approx(lr, abs=2e-3)
    mixture = 0.5 * stats.chi2.sf(test["Chisq"], 1) + 0.5 * stats.chi2.sf(test["Chisq"], 2)
    assert test["Pr(>Chisq) boundary"] == pytest.approx(mixture, rel=1e-6)
    assert test["Pr(>Chisq)"] == pytest.approx(stats.chi2.sf(test["Chisq"], 2), rel=1e-6)
    interactions = multilevel.lrtest(fit("level2_ml"), fit("full_ml")).iloc[1]
    assert interactions["Df"] == 2 and interactions["Pr(>Chisq)"] < 1e-6
    assert np.isnan(interactions["Pr(>Chisq) boundary"])  # no variance on the boundary


def test_varcorr_rows_are_in_the_order_the_chapter_reads_them():
    """The chapter reads sdcor by position: intercept SD, slope SD, correlation, residual."""
    table = fit("full_reml").varcorr
    assert list(table["grp"]) == ["school", "school", "school", "Residual"]
    assert list(table["var1"][:3]) == ["(Intercept)", "cses", "(Intercept)"]
    assert table["var2"][2] == "cses"
    expected = lme4_sds(reference("lmer_schools")["full_reml"])
    assert table["sdcor"].iloc[1] == pytest.approx(expected["school/cses"], rel=1e-3)
    assert table["sdcor"].iloc[2] == pytest.approx(expected["school/(Intercept)/cses"], rel=1e-3)


def test_within_group_covariate_raises_the_intercept_variance():
    """The chapter's pitfall: a negative level-2 'variance explained' for cses alone."""
    empty, cses = fit("empty_ml").varcorr["vcov"], fit("cses_ml").varcorr["vcov"]
    assert cses.iloc[0] > empty.iloc[0] and cses.iloc[-1] < empty.iloc[-1]


def test_only_the_uncentred_fit_is_singular():
    singular = fit("full_ses_reml")
    assert reference("lmer_schools")["full_ses_reml"]["singular"]
    assert singular.is_singular and singular.varcorr["sdcor"].iloc[2] == pytest.approx(1, abs=1e-6)
    assert not any(fit(name).is_singular for name in MODELS if name != "full_ses_reml")


def test_ranef_condvar_has_the_columns_the_caterpillar_plot_reads():
    effects = fit("full_reml").ranef(condvar=True)["school"]
    assert list(effects.columns) == ["(Intercept)", "cses", "(Intercept)_sd", "cses_sd"]
    assert len(effects) == 160 and (effects[["(Intercept)_sd", "cses_sd"]] > 0).all().all()
    # Conditional modes average to about zero, and are shrunk: their SD is below the model's.
    assert abs(effects["cses"].mean()) < 0.05
    assert effects["cses"].std() < fit("full_reml").varcorr["sdcor"].iloc[1]


# --- Glue contract (needs the built book) -------------------------------------------------


@pytest.mark.book
def test_schools_chapter_glue_equals_lme4():
    values = glued("chapters/schools")
    ref = reference("lmer_schools")
    empty = lme4_sds(ref["empty_reml"])
    tau = empty["school/(Intercept)"]
    icc = tau**2 / (tau**2 + empty["Residual"] ** 2)
    assert values["hsb_icc"] == pytest.approx(icc, rel=1e-4)
    full = ref["full_reml"]
    assert values["hsb_cross_level_ses_meanses"] == pytest.approx(
        full["fixef"]["cses:meanses"], rel=1e-3)
    assert values["hsb_cross_level_ses_catholic"] == pytest.approx(
        full["fixef"]["cses:catholic"], rel=1e-3)
    assert values["hsb_sd_ses_slope"] == pytest.approx(lme4_sds(full)["school/cses"], rel=1e-3)
    assert values["hsb_cor_intercept_slope"] == pytest.approx(
        lme4_sds(full)["school/(Intercept)/cses"], rel=1e-3)
    assert values["hsb_contextual"] == pytest.approx(
        ref["contextual_ml"]["fixef"]["meanses"], rel=1e-3)
    assert values["hsb_within"] == pytest.approx(ref["within_between_ml"]["fixef"]["cses"],
                                                 rel=1e-3)
    assert values["hsb_rs_slope_sd"] == pytest.approx(lme4_sds(ref["slope_ml"])["school/cses"],
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
