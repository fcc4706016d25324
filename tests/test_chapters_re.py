"""Glue contract of the random-effects chapters: the numbers they quote exist and are right."""

import numpy as np
import pytest
from conftest import glued, reference

pytestmark = pytest.mark.book


def varcorr_sd(ref: dict) -> float:
    (row,) = [r for r in ref["varcorr"] if r["grp"] != "Residual"]
    return row["sdcor"]


@pytest.fixture(scope="module")
def random_effects():
    return glued("chapters/random-effects")


@pytest.fixture(scope="module")
def correlated():
    return glued("chapters/correlated-effects")


@pytest.fixture(scope="module")
def wage():
    return glued("chapters/wage-panel")


def test_students_glue_equals_lme4(random_effects):
    ref = reference("lmer_students")["students_reml"]
    assert random_effects["students_beta_hat"] == pytest.approx(ref["fixef"]["hours"], rel=1e-4)
    assert random_effects["students_sigma_alpha_hat"] == pytest.approx(varcorr_sd(ref), rel=1e-4)
    assert random_effects["students_sigma_eps_hat"] == pytest.approx(ref["sigma"], rel=1e-4)
    icc = varcorr_sd(ref) ** 2 / (varcorr_sd(ref) ** 2 + ref["sigma"] ** 2)
    assert random_effects["students_icc_hat"] == pytest.approx(icc, rel=1e-4)


def test_students_icc_is_stated_correctly(random_effects):
    assert random_effects["true_icc_pct"] == pytest.approx(100 * 0.49 / 0.53)
    assert random_effects["true_icc_sqrt_pct"] == pytest.approx(100 * np.sqrt(0.49 / 0.53))
    assert 85 < random_effects["students_icc_hat_pct"] < 96
    # "sits below 0.7 because this sample of 100 aptitudes happens to vary less"
    assert random_effects["students_sigma_alpha_hat"] < 0.7
    assert random_effects["students_aptitude_sd"] < 0.7


def test_bootstrap_intervals_cover_the_truth_and_match_lme4_profile(random_effects):
    ci = reference("lmer_students")["students_reml"]["profile_ci"]
    # The text says every interval contains the true value.
    assert random_effects["boot_all_cover"] is True
    for key, truth in [("beta", 0.75), ("sigma_alpha", 0.7), ("sigma_eps", 0.2)]:
        assert random_effects[f"boot_{key}_lower"] < truth < random_effects[f"boot_{key}_upper"]
    # The text says the two methods agree (by the glued largest gap, with the chapter's own
    # profile intervals); both agree with lme4's profile intervals to about 0.01.
    assert 0 < random_effects["boot_profile_max_diff"] < 0.01
    for key, name, tol in [("beta", "hours", 0.01), ("sigma_alpha", ".sig01", 0.01),
                           ("sigma_eps", ".sigma", 0.01)]:
        assert random_effects[f"boot_{key}_lower"] == pytest.approx(ci[name]["lower"], abs=tol)
        assert random_effects[f"boot_{key}_upper"] == pytest.approx(ci[name]["upper"], abs=tol)


def test_students_blups_and_shrinkage(random_effects):
    assert random_effects["students_blup_corr"] > 0.95
    assert 0.95 < random_effects["students_shrinkage"] < 1
    # The exercise with two noisy exams shrinks much more, and the text says so.
    assert random_effects["ex_noisy_shrinkage"] < 0.8
    assert random_effects["ex_noisy_corr"] < random_effects["students_blup_corr"]
    assert random_effects["ex_ml_sigma_alpha"] < random_effects["ex_reml_sigma_alpha"]
    assert abs(random_effects["ex_pair_corr"] - random_effects["students_icc_hat"]) < 0.03


def test_correlated_glue_in_expected_ranges(correlated):
    ref = reference("lmer_students")["correlated_reml"]
    assert 1.35 < correlated["correlated_ols_slope"] < 1.85  # population value 1.607
    assert correlated["ols_population"] == pytest.approx(1.607, abs=5e-4)
    assert correlated["correlated_re_slope"] == pytest.approx(ref["fixef"]["hours"], rel=1e-4)
    assert 0.65 < correlated["correlated_fe_slope"] < 0.85
    # Random effects lie between fixed effects and least squares, close to fixed effects.
    assert (correlated["correlated_fe_slope"] < correlated["correlated_re_slope"]
            < correlated["correlated_fe_slope"] + 0.1)
    assert correlated["correlated_hausman_p"] < 1e-6
    assert correlated["clean_hausman_p"] > 0.05
    assert correlated["theta_true"] == pytest.approx(0.873, abs=1e-3)
    assert correlated["mundlak_fe_diff"] < 1e-8
    mundlak = reference("lmer_students")["correlated_mundlak_reml"]
    assert correlated["mundlak_slope"] == pytest.approx(mundlak["fixef"]["hours"], rel=1e-4)


def test_correlated_monte_carlo_supports_the_text(correlated):
    assert abs(correlated["mc_ols_mean"] - 1.607) < 0.05
    assert abs(correlated["mc_re_lecture"] - 0.78) < 0.03
    assert correlated["mc_re_best"] < correlated["mc_re_lecture"] < correlated["mc_re_worst"]
    assert correlated["mc_re_worst"] > 1.3  # "nearly as bad as least squares"
    assert correlated["mc_theta_mid_hat"] < correlated["mc_theta_mid_true"]
    # Exercises: with two noisy exams random effects stay far from fixed effects.
    assert correlated["ex_short_re"] - correlated["ex_short_fe"] > 0.5
    assert correlated["ex_short_p"] < 0.05 and correlated["ex_plain_p"] > 0.05


def test_wage_glue_matches_text_and_references(wage):
    re = reference("lmer_students")["wage_re_reml"]
    assert wage["wage_men"] == 545 and wage["wage_rows"] == 4360
    assert wage["wage_union_random"] == pytest.approx(re["fixef"]["union"], rel=1e-5)
    assert wage["wage_sigma_alpha"] == pytest.approx(varcorr_sd(re), rel=1e-5)
    # The order the text describes: between > pooled > random > fixed, for both premiums.
    for term in ("union", "married"):
        values = [wage[f"wage_{term}_{m}"] for m in ("between", "pooled", "random", "fixed")]
        assert values == sorted(values, reverse=True)
    assert 40 < wage["wage_never_pct"] < 60  # "about half the men are never members"
    assert wage["lm_exact_max"] < 1e-8
    assert 0 < wage["lm_random_max"] < 0.002
    assert wage["lm_theta_formula"] == pytest.approx(wage["lm_theta"], rel=1e-10)
    assert 0.6 < wage["wage_theta"] < 0.7  # "about two thirds"
    assert wage["wage_hausman_pd"] == "positive definite" and wage["wage_hausman_df"] == 4
    assert wage["wage_hausman_p"] < 1e-3
    assert wage["mundlak_fe_max_diff"] < 1e-8
    assert abs(wage["mundlak_wald"] - wage["wage_hausman_stat"]) < 5  # "close to Hausman's"
    assert wage["wage_hausman_lm"] > wage["wage_hausman_stat"]  # "larger than"
    assert wage["ex_premium_lower"] < wage["wage_union_fixed_pct"] < wage["ex_premium_upper"]
