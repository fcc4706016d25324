"""Linear multilevel fitters: formulas, hand calculations, and lme4's reference values."""

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, reference

from multilevel import MultilevelInputError, data, models


def varcorr(fit: dict, group: str, var1: str | None = "(Intercept)") -> float:
    """A standard deviation from an lme4 fixture's VarCorr table."""
    for row in fit["varcorr"]:
        if row["grp"] == group and row.get("var1") == var1 and row.get("var2") is None:
            return row["sdcor"]
    raise KeyError((group, var1))


def test_icc_and_design_effect_equal_their_formulas():
    assert models.icc(0.7, 0.2) == pytest.approx(0.49 / 0.53)
    # The lecture's 96% is the square root of the variance share.
    assert np.sqrt(models.icc(0.7, 0.2)) == pytest.approx(0.9615, abs=1e-4)
    assert models.design_effect(20, 0.3) == pytest.approx(1 + 19 * 0.3)
    assert models.design_effect(1, 0.9) == 1
    with pytest.raises(MultilevelInputError):
        models.design_effect(10, 1.5)
    with pytest.raises(MultilevelInputError):
        models.icc(0, 0)


@pytest.mark.parametrize("name, reml", [("students_ri_reml", True), ("students_ri_ml", False)])
def test_fast_random_intercept_equals_lmer(name, reml):
    ref = reference("lmer_foundation")[name]
    fit = models.fit_random_intercept(data.load_csv("students_exams"), "score", "hours",
                                      "student", reml=reml)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    for term, value in ref["fixef"].items():
        key = "Intercept" if term == "(Intercept)" else term
        assert fit.params[key] == pytest.approx(value, rel=1e-6, abs=1e-9)
        assert fit.bse[key] == pytest.approx(ref["se"][term], rel=1e-5)
    assert fit.sigma_group == pytest.approx(varcorr(ref, "student"), rel=1e-5)
    assert fit.sigma_residual == pytest.approx(ref["sigma"], rel=1e-6)
    modes = np.array(ref["ranef"]["student"]["mode"]).ravel()
    np.testing.assert_allclose(fit.group_effects.to_numpy(), modes, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("name, formula, reml", [
    ("students_ri_reml", "score ~ hours", True),
    ("hsb_empty_reml", "mAch ~ 1", True),
    ("hsb_ses_reml", "mAch ~ ses", True),
    ("hsb_ses_ml", "mAch ~ ses", False),
])
def test_fit_mixed_equals_lmer(name, formula, reml):
    ref = reference("lmer_foundation")[name]
    frame = data.load_csv("students_exams") if name.startswith("students") else data.load_hsb()
    group = "student" if name.startswith("students") else "school"
    fit = models.fit_mixed(frame, formula, group=group, reml=reml)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-4)
    for term, value in ref["fixef"].items():
        assert fit.params[term.strip("()")] == pytest.approx(value, rel=1e-4)
        assert fit.bse[term.strip("()")] == pytest.approx(ref["se"][term], rel=1e-3)
    sds = fit.variance_components["sd"]
    assert sds.iloc[0] == pytest.approx(varcorr(ref, group), rel=1e-4)
    assert sds["Residual"] == pytest.approx(ref["sigma"], rel=1e-4)
    if not reml:
        assert fit.aic == pytest.approx(ref["aic"], abs=1e-3)
        assert fit.n_params == ref["df"]
    else:
        assert np.isnan(fit.aic)


def test_fast_and_statsmodels_random_intercept_agree_on_real_data():
    hsb = data.load_hsb()
    fast = models.fit_random_intercept(hsb, "mAch", "ses", "school")
    slow = models.fit_mixed(hsb, "mAch ~ ses", group="school")
    assert fast.loglik == pytest.approx(slow.loglik, abs=1e-4)
    assert fast.params["ses"] == pytest.approx(slow.params["ses"], rel=1e-4)


def test_cluster_robust_standard_error_equals_hand_formula():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"g": np.repeat(np.arange(12), 4), "x": rng.normal(size=48)})
    frame["y"] = 1 + frame["x"] + rng.normal(size=12)[frame["g"]] + rng.normal(size=48)
    fit = models.fit_ols(frame, "y", "x", cluster="g")
    X = np.column_stack([np.ones(48), frame["x"]])
    bread = np.linalg.inv(X.T @ X)
    resid = frame["y"] - X @ (bread @ X.T @ frame["y"])
    meat = sum(np.outer(X[frame["g"] == g].T @ resid[frame["g"] == g],
                        X[frame["g"] == g].T @ resid[frame["g"] == g]) for g in range(12))
    n, k, clusters = 48, 2, 12
    cr1 = clusters / (clusters - 1) * (n - 1) / (n - k) * bread @ meat @ bread
    np.testing.assert_allclose(fit.bse.to_numpy(), np.sqrt(np.diag(cr1)), rtol=1e-10)


def test_lr_test_matches_loglik_difference_and_refuses_reml():
    hsb = data.load_hsb()
    small = models.fit_mixed(hsb, "mAch ~ 1", group="school", reml=False)
    big = models.fit_mixed(hsb, "mAch ~ ses", group="school", reml=False)
    test = models.lr_test(small, big)
    assert test["df"] == 1
    assert test["statistic"] == pytest.approx(2 * (big.loglik - small.loglik))
    assert test["p_value"] < 1e-10
    with pytest.raises(MultilevelInputError, match="ML fits"):
        models.lr_test(models.fit_mixed(hsb, "mAch ~ 1", group="school"), big)
    with pytest.raises(MultilevelInputError, match="swap"):
        models.lr_test(big, small)


def test_fit_mixed_reports_optimisers_and_summary():
    fit = models.fit_mixed(data.load_csv("students_exams"), "score ~ hours", group="student")
    assert set(fit.attempts.index) == {"powell", "nm"}
    assert fit.attempts.loc[fit.method, "loglik"] == fit.attempts["loglik"].max()
    table = fit.fixed_effects
    assert (table["ci_lower"] < table["estimate"]).all() and (table["estimate"] < table["ci_upper"]).all()
    assert "REML" in fit.summary() and "hours" in fit.summary()
    assert len(fit.random_effects) == 100


def test_fit_mixed_needs_an_optimiser():
    with pytest.raises(MultilevelInputError, match="at least one optimiser"):
        models.fit_mixed(data.load_csv("students_exams"), "score ~ hours", "student", methods=())


def test_fixed_effects_within_equals_dummies_and_statsmodels():
    import statsmodels.formula.api as smf

    kansas = data.load_csv("kansas_counties")
    within = models.fit_fixed_effects(kansas, "rep_share", "income", "state")
    dummies = models.fit_fixed_effects(kansas, "rep_share", "income", "state", method="dummies")
    reference_fit = smf.ols("rep_share ~ income + C(state) - 1", kansas).fit()
    assert within.params["income"] == pytest.approx(dummies.params["income"], rel=1e-12)
    assert within.bse["income"] == pytest.approx(reference_fit.bse["income"], rel=1e-10)
    np.testing.assert_allclose(within.group_effects.to_numpy(),
                               reference_fit.params.drop("income").to_numpy(), rtol=1e-10)
    assert within.df_resid == len(kansas) - 1 - 15


def test_fixed_effects_rejects_group_invariant_covariate_by_name():
    kansas = data.load_csv("kansas_counties")
    kansas["state_law"] = kansas["state"].str[1:].astype(int) % 2
    with pytest.raises(MultilevelInputError, match="'state_law' does not vary within any 'state'"):
        models.fit_fixed_effects(kansas, "rep_share", ["income", "state_law"], "state")


def test_fe_dummies_keep_sorted_label_order():
    dummies = models.fe_dummies(["s2", "s10", "s1", "s2"], prefix="state_")
    assert list(dummies.columns) == ["state_s1", "state_s10", "state_s2"]
    assert dummies.sum(axis=1).eq(1).all() and dummies["state_s2"].tolist() == [1, 0, 0, 1]


@pytest.mark.parametrize("fitter", ["fast", "profiled"])
def test_small_variance_is_not_lost_on_the_boundary(fitter):
    # A student variance near zero: gradient optimisers started at lme4's start can stop at 0.
    ref = reference("lmer_foundation")["tiny_variance_reml"]
    frame = pd.read_csv(REFERENCE / "data" / "students_tiny_variance.csv")
    if fitter == "fast":
        fit = models.fit_random_intercept(frame, "score", "hours", "student")
        sd = fit.sigma_group
    else:
        fit = models.fit_mixed_profiled(frame, "score ~ hours", group="student")
        sd = fit.variance_components["sd"].iloc[0]
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert sd == pytest.approx(varcorr(ref, "student"), rel=1e-3)
