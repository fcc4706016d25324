"""The model-checking chapter: its glued numbers, re-derived or bounded independently."""

import numpy as np
import pandas as pd
import pytest
from conftest import glued
from scipy.special import expit

from multilevel import data, glmer, lmer

CHAPTER = "chapters/model-checking"


@pytest.fixture(scope="module")
def values():
    return glued(CHAPTER)


def test_required_glue_names_are_present(values):
    for name in ["check_students_sd_profile_lower", "check_students_sd_profile_upper",
                 "check_new_state_prob", "check_typical_state_prob"]:
        assert name in values, name


def test_students_profile_interval_brackets_the_reml_estimate(values):
    fit = lmer("score ~ hours + (1 | student)", data.load_csv("students_exams"))
    sd = fit.varcorr["sdcor"].iloc[0]
    lower, upper = values["check_students_sd_profile_lower"], values["check_students_sd_profile_upper"]
    assert lower < sd < upper
    # Profile interval, not Wald: asymmetric, longer above the estimate (the SD is skewed).
    assert upper - sd > sd - lower
    # 100 students with 5 exams each: the interval is informative, well inside (0, 2 sd).
    assert 0.5 * sd < lower and upper < 1.5 * sd


def test_typical_state_probability_is_the_fixed_part_at_income_two(values):
    fit = glmer("vote ~ income + (1 + income | state)", data.load_csv("red_blue_simulated"),
                family="binomial")
    expected = expit(fit.params["(Intercept)"] + 2 * fit.params["income"])
    assert values["check_typical_state_prob"] == pytest.approx(expected, abs=1e-8)
    new = pd.DataFrame({"income": [2], "state": ["nowhere"]})
    assert fit.predict(new, type="response", allow_new_levels=True).iloc[0] == \
        pytest.approx(values["check_typical_state_prob"], abs=1e-8)


def test_new_state_probability_is_the_average_over_state_effects(values):
    fit = glmer("vote ~ income + (1 + income | state)", data.load_csv("red_blue_simulated"),
                family="binomial")
    vc = fit.varcorr["vcov"].to_numpy()
    cov = np.array([[vc[0], vc[2]], [vc[2], vc[1]]])
    u = np.random.default_rng(0).multivariate_normal([0, 0], cov, size=200_000)
    eta = fit.params["(Intercept)"] + 2 * fit.params["income"]
    monte_carlo = expit(eta + u[:, 0] + 2 * u[:, 1]).mean()
    assert values["check_new_state_prob"] == pytest.approx(monte_carlo, abs=2e-3)
    # Averaging over the states pulls the probability toward one half.
    assert 0.5 < values["check_new_state_prob"] < values["check_typical_state_prob"]


def test_marginal_curve_is_flatter(values):
    assert 0 < values["check_marginal_range"] < values["check_conditional_range"]


def test_missing_school_predictor_shows_in_the_modes_only(values):
    assert values["check_hsb_wrong_corr"] > 0.5
    assert values["check_hsb_right_corr"] < 0.15
    assert abs(values["check_hsb_wrong_resid_corr"]) < 0.1
    assert values["check_hsb_right_sd"] < values["check_hsb_wrong_sd"]


def test_binned_residuals_separate_the_two_fits(values):
    assert values["check_binned_inside"] >= 85
    assert values["check_binned_inside_no_states"] < values["check_binned_inside"]


def test_new_student_interval_is_wider(values):
    assert values["check_pred_new_lower"] < values["check_pred_observed_lower"]
    assert values["check_pred_observed_upper"] < values["check_pred_new_upper"]
    assert values["check_pred_width_ratio"] > 2


def test_few_schools_bootstrap(values):
    assert values["check_few_singular"] is True
    assert 0 < values["check_few_p_boot"] <= 1
    assert values["check_few_p_boot"] > 0.1
    assert values["check_few_wald_lower"] < 0


def test_poisson_checks(values):
    assert values["check_mm_counties"] == 354
    assert values["check_mm_regions"] == 78
    assert values["check_mm_dispersion"] < 1.5
    assert values["check_mm_region_sd_nation"] < values["check_mm_region_sd"]
    assert values["check_mm_new_region_ratio"] == pytest.approx(
        np.exp(values["check_mm_region_sd"] ** 2 / 2))
    # uvb's coefficient is lme4's (tests/reference/glmer_engine.json): exp(10 * -0.0344).
    assert values["check_mm_uvb_rr"] == pytest.approx(np.exp(10 * -0.03443), abs=2e-3)
