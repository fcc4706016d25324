"""The simulators reproduce their parameters within sampling error and are reproducible."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from multilevel import lmer, models, simulate


def standard_deviations(fit) -> pd.Series:
    """The fit's group and residual standard deviations, by ``grp`` (lme4's VarCorr)."""
    return fit.varcorr.set_index("grp")["sdcor"]


def test_same_seed_same_data_and_different_seed_different_data():
    a = simulate.simulate_students(seed=3)
    pd.testing.assert_frame_equal(a, simulate.simulate_students(seed=3))
    assert not a.equals(simulate.simulate_students(seed=4))


def test_clustered_icc_and_slope_are_recovered():
    df = simulate.simulate_clustered(n_groups=400, group_size=10, icc=0.3, slope=0.5, seed=1)
    fit = lmer("y ~ x + (1 | group)", df)
    sd = standard_deviations(fit)
    # 400 groups: the ICC's standard error is about 0.025 and the slope's about 0.03.
    assert models.icc(sd["group"], sd["Residual"]) == pytest.approx(0.3, abs=0.075)
    assert fit.params["x"] == pytest.approx(0.5, abs=0.1)
    assert sd["Residual"] ** 2 + sd["group"] ** 2 == pytest.approx(1.0, abs=0.15)


def test_group_level_covariate_is_constant_within_groups():
    df = simulate.simulate_clustered(n_groups=20, group_size=5, seed=2)
    assert (df.groupby("group")["x"].nunique() == 1).all()
    individual = simulate.simulate_clustered(n_groups=20, group_size=5, covariate_level="individual")
    assert (individual.groupby("group")["x"].nunique() == 5).all()


def test_students_parameters_are_recovered():
    df = simulate.simulate_students(n_students=2000, n_exams=5, seed=8)
    fit = lmer("score ~ hours + (1 | student)", df)
    assert fit.params["hours"] == pytest.approx(0.75, abs=0.03)
    assert standard_deviations(fit)["student"] == pytest.approx(0.7, abs=0.05)
    assert fit.sigma == pytest.approx(0.2, abs=0.01)
    assert df["aptitude"].std() == pytest.approx(0.7, abs=0.05)
    # Uncorrelated design: hours carry no information about aptitude.
    assert abs(np.corrcoef(df["hours"], df["aptitude"])[0, 1]) < 0.05


def test_correlated_students_make_least_squares_biased():
    df = simulate.simulate_students(n_students=2000, n_exams=5, correlated=True, seed=9)
    # Population least-squares slope: 0.75 + Cov(hours, aptitude) / Var(hours), with
    # Cov = 0.5 * 0.7^2 and Var = 0.5^2 * 0.7^2 + 1.4^2 / 12, which is 1.607.
    population = 0.75 + 0.5 * 0.49 / (0.25 * 0.49 + 1.4**2 / 12)
    slope = smf.ols("score ~ hours", df).fit().params["hours"]
    assert slope == pytest.approx(population, abs=0.05)


def test_kansas_pooled_slope_is_negative_within_state_slope_positive():
    df = simulate.simulate_kansas(n_states=60, n_counties=15, seed=10)
    pooled = smf.ols("rep_share ~ income", df).fit().params["income"]
    controlled = smf.ols("rep_share ~ income + culture", df).fit().params["income"]
    assert pooled < 0
    assert controlled == pytest.approx(0.75, abs=0.1)
    assert df.groupby("state").size().eq(15).all()
