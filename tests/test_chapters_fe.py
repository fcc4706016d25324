"""Glue contract of the varying-intercepts and fixed-effects chapters (needs a built book)."""

import pytest
import statsmodels.formula.api as smf
from conftest import glued
from linearmodels.panel import PanelOLS

from multilevel import data, lmer, simulate

pytestmark = pytest.mark.book


def test_fixed_effects_chapter_glued_numbers():
    values = glued("chapters/fixed-effects")
    kansas = data.load_csv("kansas_counties")
    pooled = smf.ols("rep_share ~ income", kansas).fit()
    panel = kansas.set_index(["state", "county"])
    fe = PanelOLS(panel["rep_share"], panel[["income"]], entity_effects=True).fit()
    # The required names, the sign flip, and equality with a fresh fit.
    assert values["kansas_pooled_slope"] < 0 < values["kansas_fe_slope"]
    assert values["kansas_pooled_slope"] == pytest.approx(pooled.params["income"], rel=1e-12)
    assert values["kansas_fe_slope"] == pytest.approx(fe.params["income"], rel=1e-12)
    assert abs(values["kansas_fe_slope"] - 0.75) < 3 * values["kansas_fe_se"]
    assert values["kansas_culture_slope"] == pytest.approx(0.75, abs=0.1)
    assert values["kansas_culture_effect"] == pytest.approx(-3, abs=0.3)
    assert values["kansas_between_slope"] < values["kansas_pooled_slope"] < 0
    assert values["kansas_states_rising"] == 15
    var_m = 1.4**2 / 12
    assert values["kansas_population_pooled"] == pytest.approx(0.75 - 3 * var_m / (var_m + 0.04))
    # Rank-deficient least squares: 15 dummies + income + culture, rank 16.
    assert values["fe_n_columns"] == 17 and values["fe_rank"] == 16
    assert values["fe_condition_number"] > 1e12
    assert abs(values["fe_pinv_culture"] - values["fe_pinv_culture_shifted"]) > 0.5
    assert values["fe_mb_3000"] == pytest.approx(720.0)


def test_fixed_effects_chapter_incidental_parameters_study():
    values = glued("chapters/fixed-effects")
    # With T = 2 the FE logit slope converges to 2 beta (beta = 1).
    assert values["ip_big_2"] == pytest.approx(2.0, abs=0.12)
    assert values["ip_mean_2"] == pytest.approx(2.0, abs=4 * values["ip_mcse_2"])
    biases = [values[f"ip_bias_{t}"] for t in (2, 3, 5, 10, 20)]
    assert all(a > b for a, b in zip(biases, biases[1:])), biases
    assert 0 < values["ip_bias_20"] < 15 and values["ip_bias_5"] > 15
    assert values["ip_cover_5"] < values["ip_cover_20"] < 95
    assert values["ip_kept_2"] < 50 < values["ip_kept_20"]
    assert values["ip_fits"] == 250
    # Exercises: Neyman-Scott halving, conditional logit, random intercept close to FE.
    assert values["ex_ns_ml"] == pytest.approx(0.005, rel=0.15)
    assert values["ex_ns_corrected"] == pytest.approx(0.01, rel=0.15)
    assert values["ex_cl_fe"] == pytest.approx(2 * values["ex_cl_conditional"], rel=1e-6)
    assert abs(values["ex_cl_conditional"] - 1) < 3 * values["ex_cl_conditional_se"]
    assert values["ex_re_theta"] > 0.95
    assert abs(values["ex_re_slope"] - values["kansas_fe_slope"]) < 0.05  # "close to"
    assert values["ex_nc_pooled_se"] < values["ex_nc_fe_se"]


def test_varying_intercepts_chapter_glued_numbers():
    values = glued("chapters/varying-intercepts")
    schools = simulate.simulate_varying_intercepts(n_groups=30, min_size=2, max_size=40, seed=9)
    assert values["vi_rows"] == len(schools)
    random = lmer("y ~ x + (1 | group)", schools)
    sd_group = random.varcorr.set_index("grp").loc["group", "sdcor"]
    assert values["vi_sigma_random"] == pytest.approx(sd_group, rel=1e-10)
    for name in ("vi_slope_fixed", "vi_slope_random", "vi_slope_mixed"):
        assert values[name] == pytest.approx(0.5, abs=0.1)
    # Shrinkage helps: fixed-effect intercepts are the least accurate, mixed the most.
    assert values["vi_rmse_fixed"] > values["vi_rmse_random"] > values["vi_rmse_mixed"]
    assert values["vi_sigma_mixed"] < values["vi_sigma_random"]
    assert values["vi_gamma1"] == pytest.approx(0.8, abs=0.2)
    assert 0 < values["vi_small_lambda"] < values["vi_large_lambda"] < 1
    assert values["vi_small_n"] == 2 and values["vi_large_n"] == 40
    # Exercises.
    assert values["ex_eq_lambda"] > 0.9
    assert values["ex_cor_fixed"] == pytest.approx(0.5, abs=0.1)
    assert values["ex_cor_fixed"] < values["ex_cor_random"] < values["ex_cor_mixed"]
    # "The largest difference is ..." between lmer and statsmodels' MixedLM: both at the optimum.
    assert values["ex_mlm_diff"] < 1e-4
