"""Students and exams: recovered parameters, lme4's lmer, bias of the estimators, Mundlak."""

import numpy as np
import pandas as pd
import pytest
from conftest import reference

from multilevel import data, models, simulate

TRUE_SLOPE, SIGMA_ALPHA, SIGMA_EPS = 0.75, 0.7, 0.2
#: Population least-squares slope of the correlated design (see chapters/correlated-effects.md).
OLS_LIMIT = 0.75 + 0.5 * 0.7**2 / (0.25 * 0.7**2 + 1.4**2 / 12)


def students() -> pd.DataFrame:
    return data.load_csv("students_exams")


def correlated() -> pd.DataFrame:
    return data.load_csv("students_exams_correlated")


def varcorr_sd(ref: dict) -> float:
    (row,) = [r for r in ref["varcorr"] if r["grp"] != "Residual"]
    return row["sdcor"]


@pytest.mark.parametrize("name", ["students_exams", "students_exams_correlated"])
def test_csv_files_are_the_simulator_draws_with_truth(name):
    simulator, settings, columns = data.SIMULATED[name]
    truth = simulator(**settings)
    assert truth[columns].equals(data.load_csv(name))
    assert truth.groupby("student")["aptitude"].nunique().eq(1).all()
    assert truth.shape == (500, 5)


def test_population_least_squares_slope_of_correlated_design():
    assert OLS_LIMIT == pytest.approx(1.607, abs=5e-4)


# -- every MixedLM fit on the two students files equals lmer ---------------------------------

@pytest.mark.parametrize("name, frame, formula", [
    ("students_reml", students, "score ~ hours"),
    ("correlated_reml", correlated, "score ~ hours"),
    ("correlated_mundlak_reml", correlated, "score ~ hours + hours_mean"),
])
def test_fit_mixed_equals_lmer(name, frame, formula):
    ref = reference("lmer_students")[name]
    df = frame()
    if "hours_mean" in formula:
        df = models.add_group_means(df, "hours", "student")
    fit = models.fit_mixed(df, formula, group="student")
    for term, value in ref["fixef"].items():
        assert fit.params[term.strip("()")] == pytest.approx(value, rel=1e-4)
        assert fit.bse[term.strip("()")] == pytest.approx(ref["se"][term], rel=1e-4)
    sds = fit.variance_components["sd"]
    assert sds.iloc[0] == pytest.approx(varcorr_sd(ref), rel=1e-4)
    assert sds["Residual"] == pytest.approx(ref["sigma"], rel=1e-4)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-4)
    modes = np.array(ref["ranef"]["student"]["mode"]).ravel()
    np.testing.assert_allclose(fit.random_effects.iloc[:, 0].to_numpy(), modes, rtol=1e-3,
                               atol=1e-5)


@pytest.mark.parametrize("name, frame", [("students_reml", students),
                                         ("correlated_reml", correlated)])
def test_fast_random_effects_equal_lmer(name, frame):
    ref = reference("lmer_students")[name]
    fit = models.fit_random_intercept(frame(), "score", "hours", "student")
    assert fit.params["hours"] == pytest.approx(ref["fixef"]["hours"], rel=1e-7)
    assert fit.bse["hours"] == pytest.approx(ref["se"]["hours"], rel=1e-6)
    assert fit.sigma_group == pytest.approx(varcorr_sd(ref), rel=1e-6)


# -- recovered parameters lie within sampling error of the truth -------------------------------

def test_random_intercept_model_recovers_the_truth():
    ref = reference("lmer_students")["students_reml"]
    fit = models.fit_mixed(students(), "score ~ hours", group="student")
    low, high = fit.fixed_effects.loc["hours", ["ci_lower", "ci_upper"]]
    assert low < TRUE_SLOPE < high
    # lme4's profile intervals for the two standard deviations contain the true values.
    ci = ref["profile_ci"]
    assert ci[".sig01"]["lower"] < SIGMA_ALPHA < ci[".sig01"]["upper"]
    assert ci[".sigma"]["lower"] < SIGMA_EPS < ci[".sigma"]["upper"]
    sds = fit.variance_components["sd"]
    assert abs(sds.iloc[0] - SIGMA_ALPHA) < 3 * SIGMA_ALPHA / np.sqrt(2 * 100)
    assert abs(sds["Residual"] - SIGMA_EPS) < 3 * SIGMA_EPS / np.sqrt(2 * 400)
    assert models.icc(sds.iloc[0], sds["Residual"]) == pytest.approx(0.49 / 0.53, abs=0.04)


def test_blups_track_the_true_aptitudes_with_the_shrinkage_formula():
    simulator, settings, _ = data.SIMULATED["students_exams"]
    truth = simulator(**settings).groupby("student")["aptitude"].first()
    fit = models.fit_random_intercept(students(), "score", "hours", "student")
    assert np.corrcoef(fit.group_effects, truth)[0, 1] > 0.95
    frame = students()
    raw = (frame["score"] - fit.params["Intercept"] - fit.params["hours"] * frame["hours"]).groupby(
        frame["student"]).mean()
    shrink = fit.sigma_group**2 / (fit.sigma_group**2 + fit.sigma_residual**2 / 5)
    np.testing.assert_allclose(fit.group_effects.to_numpy(), shrink * raw.to_numpy(), rtol=1e-8)


def test_correlated_design_biases_least_squares_not_fixed_effects():
    frame = correlated()
    ols = models.fit_ols(frame, "score", "hours")
    fe = models.fit_fixed_effects(frame, "score", "hours", "student")
    re = models.fit_random_intercept(frame, "score", "hours", "student")
    # The least-squares sampling SD in this design is about 0.08 (200 replications).
    assert abs(ols.params["hours"] - OLS_LIMIT) < 3 * 0.085
    assert abs(fe.params["hours"] - TRUE_SLOPE) < 3 * fe.bse["hours"]
    # Random effects lie between, much closer to fixed effects: theta is about 0.87.
    assert fe.params["hours"] < re.params["hours"] < ols.params["hours"]
    assert re.params["hours"] - fe.params["hours"] < 0.1
    assert re.theta.iloc[0] == pytest.approx(models.quasi_demeaning_theta(0.7, 0.2, 5), abs=0.03)


def test_random_effects_bias_grows_as_theta_falls():
    """Few noisy exams (small theta) push random effects towards least squares."""
    slopes = {}
    for n_exams, sigma_exam in [(20, 0.2), (2, 2.0)]:
        fits = [models.fit_random_intercept(
            simulate.simulate_students(n_exams=n_exams, sigma_exam=sigma_exam, correlated=True,
                                       seed=(99, rep)), "score", "hours", "student")
            for rep in range(8)]
        slopes[n_exams] = np.mean([f.params["hours"] for f in fits])
    assert abs(slopes[20] - TRUE_SLOPE) < 0.05
    assert slopes[2] > 1.2


def test_mundlak_model_gives_the_fixed_effects_slope_and_detects_the_correlation():
    frame = models.add_group_means(correlated(), "hours", "student")
    fe = models.fit_fixed_effects(frame, "score", "hours", "student")
    mundlak = models.fit_mixed(frame, "score ~ hours + hours_mean", group="student")
    assert mundlak.params["hours"] == pytest.approx(fe.params["hours"], rel=1e-8)
    assert models.wald_test(mundlak, "hours_mean")["p_value"] < 1e-10
    between = models.fit_between(frame, "score", "hours", "student")
    assert mundlak.params["hours_mean"] == pytest.approx(
        between.params["hours"] - fe.params["hours"], rel=1e-6)
