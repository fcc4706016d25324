"""Students and exams: recovered parameters, shrinkage, bias of the estimators, Mundlak.

What the random-effects and correlated-effects chapters rely on, through the calls they
make (``multilevel.lmer``, linearmodels' ``PanelOLS``/``BetweenOLS``, statsmodels' OLS).
The lme4 fixtures of these data (estimates, variance components, conditional modes) are
compared in ``tests/test_mixed_fixtures.py``; the profile intervals here.
"""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from conftest import reference
from linearmodels.panel import BetweenOLS, PanelOLS

import multilevel
from multilevel import data, models, simulate

TRUE_SLOPE, SIGMA_ALPHA, SIGMA_EPS = 0.75, 0.7, 0.2
#: Population least-squares slope of the correlated design (see chapters/correlated-effects.md).
OLS_LIMIT = 0.75 + 0.5 * 0.7**2 / (0.25 * 0.7**2 + 1.4**2 / 12)
FORMULA = "score ~ hours + (1 | student)"


def students() -> pd.DataFrame:
    return data.load_csv("students_exams")


def correlated() -> pd.DataFrame:
    return data.load_csv("students_exams_correlated")


def with_hours_mean(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(hours_mean=frame.groupby("student")["hours"].transform("mean"))


def fixed_effects(frame: pd.DataFrame):
    return PanelOLS.from_formula("score ~ hours + EntityEffects",
                                 frame.set_index(["student", "exam"])).fit()


def sds(fit) -> pd.Series:
    return fit.varcorr.set_index("grp")["sdcor"]


def blups(fit) -> pd.Series:
    effects = fit.ranef()["student"]["(Intercept)"]
    return effects.set_axis(effects.index.astype(int)).sort_index()


@pytest.mark.parametrize("name", ["students_exams", "students_exams_correlated"])
def test_csv_files_are_the_simulator_draws_with_truth(name):
    simulator, settings, columns = data.SIMULATED[name]
    truth = simulator(**settings)
    assert truth[columns].equals(data.load_csv(name))
    assert truth.groupby("student")["aptitude"].nunique().eq(1).all()
    assert truth.shape == (500, 5)


def test_population_least_squares_slope_of_correlated_design():
    assert OLS_LIMIT == pytest.approx(1.607, abs=5e-4)


# -- the random-effects chapter ----------------------------------------------------------------

def test_profile_intervals_equal_lme4s():
    """The chapter shows conf_int(method="profile") and says it equals lme4's confint()."""
    ci = reference("lmer_students")["students_reml"]["profile_ci"]
    profile = multilevel.lmer(FORMULA, students()).conf_int(method="profile")
    for ours, theirs in [("sd_(Intercept)|student", ".sig01"), ("sigma", ".sigma"),
                         ("(Intercept)", "(Intercept)"), ("hours", "hours")]:
        width = ci[theirs]["upper"] - ci[theirs]["lower"]
        for end in ("lower", "upper"):
            assert profile.loc[ours, end] == pytest.approx(ci[theirs][end], abs=2e-3 * width)


def test_random_intercept_model_recovers_the_truth():
    ref = reference("lmer_students")["students_reml"]
    fit = multilevel.lmer(FORMULA, students())
    low, high = fit.conf_int().loc["hours"]
    assert low < TRUE_SLOPE < high
    # lme4's profile intervals for the two standard deviations contain the true values.
    ci = ref["profile_ci"]
    assert ci[".sig01"]["lower"] < SIGMA_ALPHA < ci[".sig01"]["upper"]
    assert ci[".sigma"]["lower"] < SIGMA_EPS < ci[".sigma"]["upper"]
    sd = sds(fit)
    assert abs(sd["student"] - SIGMA_ALPHA) < 3 * SIGMA_ALPHA / np.sqrt(2 * 100)
    assert abs(sd["Residual"] - SIGMA_EPS) < 3 * SIGMA_EPS / np.sqrt(2 * 400)
    assert models.icc(sd["student"], sd["Residual"]) == pytest.approx(0.49 / 0.53, abs=0.04)


def test_blups_track_the_true_aptitudes_with_the_shrinkage_formula():
    simulator, settings, _ = data.SIMULATED["students_exams"]
    truth = simulator(**settings).groupby("student")["aptitude"].first()
    frame = students()
    fit = multilevel.lmer(FORMULA, frame)
    effects = blups(fit)
    assert list(effects.index) == list(truth.index)
    assert np.corrcoef(effects, truth)[0, 1] > 0.95
    raw = (frame["score"] - fit.params["(Intercept)"] - fit.params["hours"] * frame["hours"]
           ).groupby(frame["student"]).mean()
    sd = sds(fit)
    shrink = sd["student"] ** 2 / (sd["student"] ** 2 + sd["Residual"] ** 2 / 5)
    np.testing.assert_allclose(effects.to_numpy(), shrink * raw.to_numpy(), rtol=1e-7)


def test_ml_shrinks_the_student_sd_and_leaves_the_slope():
    reml = multilevel.lmer(FORMULA, students())
    ml = multilevel.lmer(FORMULA, students(), REML=False)
    assert sds(ml)["student"] < sds(reml)["student"]
    assert ml.params["hours"] == pytest.approx(reml.params["hours"], abs=1e-3)


# -- the correlated-effects chapter ------------------------------------------------------------

def test_correlated_design_biases_least_squares_not_fixed_effects():
    frame = correlated()
    ols = smf.ols("score ~ hours", frame).fit()
    fe = fixed_effects(frame)
    re = multilevel.lmer(FORMULA, frame)
    # The least-squares sampling SD in this design is about 0.08 (200 replications).
    assert abs(ols.params["hours"] - OLS_LIMIT) < 3 * 0.085
    assert abs(fe.params["hours"] - TRUE_SLOPE) < 3 * fe.std_errors["hours"]
    # Random effects lie between, much closer to fixed effects: theta is about 0.87.
    assert fe.params["hours"] < re.params["hours"] < ols.params["hours"]
    assert re.params["hours"] - fe.params["hours"] < 0.1
    theta_hat = models.quasi_demeaning_theta(sds(re)["student"], sds(re)["Residual"], 5)
    assert theta_hat == pytest.approx(models.quasi_demeaning_theta(0.7, 0.2, 5), abs=0.03)


def test_fixed_effects_equal_least_squares_with_student_dummies():
    """PanelOLS's slope and standard error are those of the dummy regression the text describes."""
    frame = correlated()
    fe = fixed_effects(frame)
    dummies = smf.ols("score ~ 0 + C(student) + hours", frame).fit()
    assert fe.params["hours"] == pytest.approx(dummies.params["hours"], rel=1e-10)
    assert fe.std_errors["hours"] == pytest.approx(dummies.bse["hours"], rel=1e-8)


def test_random_effects_bias_grows_as_theta_falls():
    """Few noisy exams (small theta) push random effects towards least squares."""
    slopes = {}
    for n_exams, sigma_exam in [(20, 0.2), (2, 2.0)]:
        fits = [multilevel.lmer(FORMULA, simulate.simulate_students(
            n_exams=n_exams, sigma_exam=sigma_exam, correlated=True, seed=(99, rep)))
            for rep in range(8)]
        slopes[n_exams] = np.mean([f.params["hours"] for f in fits])
    assert abs(slopes[20] - TRUE_SLOPE) < 0.05
    assert slopes[2] > 1.2


def test_hausman_test_of_panelols_against_lmer():
    correlated_test = models.hausman_test(fixed_effects(correlated()),
                                          multilevel.lmer(FORMULA, correlated()))
    clean_test = models.hausman_test(fixed_effects(students()), multilevel.lmer(FORMULA, students()))
    assert correlated_test.df == 1 and correlated_test.p_value < 1e-10
    assert clean_test.df == 1 and clean_test.p_value > 0.05


def test_mundlak_model_gives_the_fixed_effects_slope_and_detects_the_correlation():
    frame = with_hours_mean(correlated())
    fe = fixed_effects(frame)
    mundlak = multilevel.lmer("score ~ hours + hours_mean + (1 | student)", frame)
    assert mundlak.params["hours"] == pytest.approx(fe.params["hours"], rel=1e-8)
    # The chapter's Wald test: z squared against chi-squared(1), the p-value from pvalues.
    assert mundlak.tvalues["hours_mean"] ** 2 > 100
    assert mundlak.pvalues["hours_mean"] < 1e-10
    between = BetweenOLS.from_formula("score ~ 1 + hours", frame.set_index(["student", "exam"]))
    assert mundlak.params["hours_mean"] == pytest.approx(
        between.fit().params["hours"] - fe.params["hours"], rel=1e-6)
