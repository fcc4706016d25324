"""Panel data: the quasi-demeaning weight, the Hausman test, Mundlak, and the estimators the
wage-panel chapter takes from linearmodels, statsmodels and multilevel.lmer.

Checked against hand formulas, lme4 (tests/reference/lmer_students.R) and linearmodels.
"""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from conftest import reference
from linearmodels.panel import BetweenOLS, PanelOLS, PooledOLS, RandomEffects

from multilevel import MultilevelInputError, data, lmer, models, plots
from multilevel.models.panel import hausman_test, quasi_demeaning_theta

TIME_VARYING = ["union", "married", "exper", "expersq"]
COVARIATES = TIME_VARYING + ["educ", "black", "hisp"]
MEANS = [f"{c}_mean" for c in TIME_VARYING]
FORMULA = "lwage ~ " + " + ".join(COVARIATES)


@pytest.fixture(scope="module")
def wages():
    return data.load_wage_panel()


@pytest.fixture(scope="module")
def panel(wages):
    return wages.set_index(["nr", "year"])


@pytest.fixture(scope="module")
def wages_m(wages):
    return wages.join(wages.groupby("nr")[TIME_VARYING].transform("mean").add_suffix("_mean"))


@pytest.fixture(scope="module")
def lm_fits(panel):
    exog = panel[COVARIATES].assign(const=1.0)[["const"] + COVARIATES]
    return {
        "pooled": PooledOLS(panel["lwage"], exog).fit(),
        "between": BetweenOLS(panel["lwage"], exog).fit(),
        "random": RandomEffects(panel["lwage"], exog).fit(),
        "fixed": PanelOLS(panel["lwage"], panel[TIME_VARYING], entity_effects=True).fit(),
    }


@pytest.fixture(scope="module")
def reml(wages):
    """The chapter's random-effects fit."""
    return lmer(FORMULA + " + (1 | nr)", wages)


def lme4_name(term: str) -> str:
    return "(Intercept)" if term in ("Intercept", "const") else term


def gls_covariance(frame, response, covariates, group, sigma_group, sigma_residual):
    """(X' V^-1 X)^-1 summed group by group, with V = s_e^2 I + s_u^2 11' for each group."""
    xtvx = 0.0
    for _, rows in frame.groupby(group):
        X = np.column_stack([np.ones(len(rows))] + [rows[c].to_numpy(float) for c in covariates])
        V = sigma_residual**2 * np.eye(len(rows)) + sigma_group**2 * np.ones((len(rows),) * 2)
        xtvx = xtvx + X.T @ np.linalg.solve(V, X)
    return np.linalg.inv(xtvx)


# -- quasi-demeaning weight -------------------------------------------------------------------

def test_quasi_demeaning_theta_equals_formula_and_limits():
    assert quasi_demeaning_theta(0.7, 0.2, 5) == pytest.approx(
        1 - np.sqrt(0.04 / (0.04 + 5 * 0.49)))
    sizes = np.array([1, 2, 50])
    np.testing.assert_allclose(quasi_demeaning_theta(0.5, 1.0, sizes),
                               1 - np.sqrt(1 / (1 + sizes * 0.25)))
    assert quasi_demeaning_theta(0.0, 1.0, 8) == 0.0  # no group variance: pooled OLS
    assert quasi_demeaning_theta(10.0, 0.01, 1000) > 0.9999  # towards fixed effects
    assert isinstance(quasi_demeaning_theta(0.7, 0.2, 5), float)
    # The package exports the same function (models/__init__.py switches its import).
    assert models.quasi_demeaning_theta(0.7, 0.2, [1, 5]).tolist() == \
        quasi_demeaning_theta(0.7, 0.2, [1, 5]).tolist()


@pytest.mark.parametrize("args, message", [
    ((-0.1, 0.2, 5), "sigma_group"),
    ((0.7, np.nan, 5), "sigma_residual"),
    ((0.7, 0.0, 5), "sigma_residual` is 0"),
    ((0.7, 0.2, 0), "group_size"),
])
def test_quasi_demeaning_theta_rejects_bad_input(args, message):
    with pytest.raises(MultilevelInputError, match=message):
        quasi_demeaning_theta(*args)


def test_theta_formula_reproduces_linearmodels_theta(lm_fits):
    variances = lm_fits["random"].variance_decomposition
    theta = quasi_demeaning_theta(np.sqrt(variances["Effects"]), np.sqrt(variances["Residual"]), 8)
    assert theta == pytest.approx(float(np.asarray(lm_fits["random"].theta).ravel()[0]), rel=1e-10)


# -- random effects with covariance: the GLS hand formula and linearmodels -----------------------
# (lmer against lme4's fixtures on the wage panel: tests/test_mixed_fixtures.py)

def test_lmer_covariance_equals_gls_hand_formula():
    """The Hausman and Wald tests use lmer's cov_params(): the GLS covariance at the estimates."""
    frame = data.load_csv("students_exams_correlated").iloc[:200]  # 40 students, quick
    fit = lmer("score ~ hours + (1 | student)", frame)
    sigma_group, sigma = fit.varcorr["sdcor"]
    hand = gls_covariance(frame, "score", ["hours"], "student", sigma_group, sigma)
    np.testing.assert_allclose(fit.cov_params().to_numpy(), hand, rtol=1e-6)
    np.testing.assert_allclose(fit.bse.to_numpy(), np.sqrt(np.diag(hand)), rtol=1e-6)


def test_linearmodels_random_effects_differ_only_slightly_from_reml(lm_fits, reml):
    lm_params = lm_fits["random"].params.rename(lme4_name)
    gap = (reml.params - lm_params[reml.params.index]).abs()
    # Swamy-Arora and REML variance estimates differ, so the estimates differ, but by far
    # less than a standard error.
    assert 0 < gap.max() < 0.002
    assert (gap / reml.bse).max() < 0.1


# -- pooled, between, fixed: each two ways, as the chapter's cross-check -------------------------

def test_pooled_between_fixed_two_ways_agree(wages, lm_fits):
    pooled = smf.ols(FORMULA, wages).fit()
    np.testing.assert_allclose(pooled.params.to_numpy(), lm_fits["pooled"].params.to_numpy(),
                               rtol=1e-9)
    np.testing.assert_allclose(pooled.bse.to_numpy(), lm_fits["pooled"].std_errors.to_numpy(),
                               rtol=1e-8)
    means = wages.groupby("nr")[["lwage"] + COVARIATES].mean()
    between = smf.ols(FORMULA, means).fit()
    np.testing.assert_allclose(between.params.to_numpy(), lm_fits["between"].params.to_numpy(),
                               rtol=1e-9)
    np.testing.assert_allclose(between.bse.to_numpy(), lm_fits["between"].std_errors.to_numpy(),
                               rtol=1e-8)
    assert int(between.nobs) == 545
    dummies = smf.ols("lwage ~ 0 + " + " + ".join(TIME_VARYING) + " + C(nr)", wages).fit()
    fixed = lm_fits["fixed"]
    np.testing.assert_allclose(dummies.params[TIME_VARYING], fixed.params, rtol=1e-9)
    np.testing.assert_allclose(dummies.bse[TIME_VARYING], fixed.std_errors, rtol=1e-8)


def test_panelols_refuses_time_invariant_covariates(panel):
    from linearmodels.panel.utility import AbsorbingEffectError

    with pytest.raises(AbsorbingEffectError, match="educ"):
        PanelOLS(panel["lwage"], panel[COVARIATES], entity_effects=True).fit()


# -- Hausman test ---------------------------------------------------------------------------

def test_hausman_equals_hand_formula_with_independent_pieces(wages, lm_fits, reml):
    """b and V for fixed effects from linearmodels, for random effects from lme4 + a GLS formula."""
    ref = reference("lmer_students")["wage_re_reml"]
    fe = lm_fits["fixed"]
    cov_re = gls_covariance(wages, "lwage", COVARIATES, "nr", ref["varcorr"][0]["sdcor"],
                            ref["sigma"])
    index = [1 + COVARIATES.index(t) for t in TIME_VARYING]
    v_re = cov_re[np.ix_(index, index)]
    q = fe.params[TIME_VARYING].to_numpy() - np.array([ref["fixef"][t] for t in TIME_VARYING])
    hand = float(q @ np.linalg.solve(fe.cov.loc[TIME_VARYING, TIME_VARYING].to_numpy() - v_re, q))
    test = hausman_test(fe, reml)  # the chapter's pair: PanelOLS and lmer
    assert test.statistic == pytest.approx(hand, rel=1e-5)
    assert test.df == 4 and test.positive_definite and test.n_dropped == 0
    assert list(test.comparison.index) == TIME_VARYING
    assert test.p_value < 1e-3


def test_hausman_on_linearmodels_fits_equals_linearmodels_own_test(lm_fits):
    ours = hausman_test(lm_fits["fixed"], lm_fits["random"])
    theirs = lm_fits["random"].hausman(lm_fits["fixed"])
    assert ours.statistic == pytest.approx(theirs.statistic.stat, rel=1e-10)
    assert ours.df == theirs.statistic.df
    assert ours.p_value == pytest.approx(theirs.statistic.pval, rel=1e-8)


def test_hausman_scalar_case_equals_textbook_formula_with_lme4_values():
    """H = (b_FE - b_RE)^2 / (se_FE^2 - se_RE^2), RE from lmer, FE from dummy-variable OLS."""
    frame = data.load_csv("students_exams_correlated")
    ref = reference("lmer_students")["correlated_reml"]
    dummies = smf.ols("score ~ hours + C(student) - 1", frame).fit()  # statsmodels: cov_params()
    b_fe, se_fe = dummies.params["hours"], dummies.bse["hours"]
    hand = (b_fe - ref["fixef"]["hours"]) ** 2 / (se_fe**2 - ref["se"]["hours"] ** 2)
    test = hausman_test(dummies, lmer("score ~ hours + (1 | student)", frame))
    assert test.statistic == pytest.approx(hand, rel=1e-4)
    assert test.df == 1 and list(test.comparison.index) == ["hours"]
    # Random effects are rejected on the correlated data and not on the uncorrelated data.
    assert test.p_value < 1e-10
    clean = data.load_csv("students_exams")
    clean_test = hausman_test(smf.ols("score ~ hours + C(student) - 1", clean).fit(),
                              lmer("score ~ hours + (1 | student)", clean))
    assert clean_test.p_value > 0.05


def fake_fit(params, cov, nobs=None):
    names = list(params)
    return SimpleNamespace(params=pd.Series(params, dtype=float),
                           cov=pd.DataFrame(cov, index=names, columns=names), nobs=nobs)


def test_hausman_singular_difference_uses_generalised_inverse_and_rank():
    fe = fake_fit({"a": 1.0, "b": 2.0}, [[2.0, 0.0], [0.0, 1.0]])
    re = fake_fit({"a": 0.5, "b": 1.0}, [[1.0, 0.0], [0.0, 1.0]])  # difference diag(1, 0)
    test = hausman_test(fe, re)
    assert test.df == 1 and not test.positive_definite and test.n_dropped == 1
    assert test.statistic == pytest.approx(0.25)  # 0.5^2 / 1; the b direction has no variance
    np.testing.assert_allclose(test.eigenvalues, [0.0, 1.0], atol=1e-12)
    assert np.isnan(test.comparison.loc["b", "std_error_difference"])
    assert "not positive definite" in test.summary() and "1 of 2" in test.summary()


def test_hausman_indefinite_difference_drops_negative_direction():
    # Rotated so that the non-positive direction is not a coordinate axis.
    rotation = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2)
    diff = rotation @ np.diag([2.0, -0.5]) @ rotation.T
    re_cov = np.eye(2)
    fe = fake_fit({"a": 1.0, "b": 0.0}, re_cov + diff)
    re = fake_fit({"a": 0.0, "b": 0.0}, re_cov)
    test = hausman_test(fe, re)
    q = np.array([1.0, 0.0])
    kept = rotation[:, 0]
    assert test.df == 1 and test.n_dropped == 1
    assert test.statistic == pytest.approx((kept @ q) ** 2 / 2.0)
    assert test.statistic >= 0


def test_hausman_positive_definite_case_equals_direct_inverse():
    fe = fake_fit({"a": 1.0, "b": -1.0}, [[3.0, 0.5], [0.5, 2.0]])
    re = fake_fit({"a": 0.2, "b": -0.4}, [[1.0, 0.2], [0.2, 1.0]])
    q = np.array([0.8, -0.6])
    diff = np.array([[2.0, 0.3], [0.3, 1.0]])
    test = hausman_test(fe, re)
    assert test.statistic == pytest.approx(q @ np.linalg.solve(diff, q))
    assert test.df == 2 and test.positive_definite
    assert test.summary() == f"Hausman test: chi2(2) = {test.statistic:.2f}, p = {test.p_value:.3g}"


def test_hausman_without_any_positive_direction_returns_nan():
    fe = fake_fit({"a": 1.0}, [[1.0]])
    re = fake_fit({"a": 0.0}, [[2.0]])
    test = hausman_test(fe, re)
    assert test.df == 0 and np.isnan(test.statistic) and np.isnan(test.p_value)


def test_hausman_reads_each_kind_of_fit_alike(lm_fits, reml):
    """linearmodels (.cov), statsmodels and lmer (.cov_params()) give one covariance each."""
    fe = lm_fits["fixed"]
    as_statsmodels = SimpleNamespace(params=fe.params, cov_params=lambda: fe.cov, nobs=fe.nobs)
    as_lmer_like = SimpleNamespace(params=reml.params, cov_params=reml.cov_params, nobs=reml.nobs)
    direct = hausman_test(fe, reml)
    ducked = hausman_test(as_statsmodels, as_lmer_like)
    assert ducked.statistic == pytest.approx(direct.statistic, rel=1e-12)
    # The intercept, named "(Intercept)" by lmer and "const" by linearmodels, is never compared.
    assert "(Intercept)" not in direct.comparison.index
    both_random = hausman_test(lm_fits["random"], reml)
    assert "const" not in both_random.comparison.index and len(both_random.comparison) == 7


def test_hausman_rejects_bad_input(lm_fits, reml):
    fe, re = lm_fits["fixed"], reml
    with pytest.raises(MultilevelInputError, match="different numbers of observations"):
        hausman_test(fe, fake_fit({"union": 0.1}, [[0.01]], nobs=100))
    with pytest.raises(MultilevelInputError, match="share no coefficient"):
        hausman_test(fe, fake_fit({"other": 0.1}, [[0.01]]))
    with pytest.raises(MultilevelInputError, match=r"\['educ'\] are not estimated by both"):
        hausman_test(fe, re, names=["union", "educ"])
    with pytest.raises(MultilevelInputError, match="`random` must be a fitted model .*got str"):
        hausman_test(fe, "not a fit")
    no_covariance = SimpleNamespace(params=pd.Series({"union": 0.1}))
    with pytest.raises(MultilevelInputError, match="`fixed` must be a fitted model.*cov_params"):
        hausman_test(no_covariance, re)
    one = hausman_test(fe, re, names="union")  # a subset of the coefficients
    assert one.df == 1 and list(one.comparison.index) == ["union"]


# -- Mundlak: group means and the Wald test -------------------------------------------------

def test_mundlak_random_effects_reproduce_fixed_effects(wages_m, lm_fits):
    mundlak = lmer(FORMULA + " + " + " + ".join(MEANS) + " + (1 | nr)", wages_m)
    np.testing.assert_allclose(mundlak.params[TIME_VARYING], lm_fits["fixed"].params, rtol=1e-8)
    # Pooled least squares with the means gives the within coefficients as well.
    pooled = smf.ols(FORMULA + " + " + " + ".join(MEANS), wages_m).fit(
        cov_type="cluster", cov_kwds={"groups": wages_m["nr"]})
    np.testing.assert_allclose(pooled.params[TIME_VARYING], lm_fits["fixed"].params, rtol=1e-9)
    # The chapter's Wald statistic b' V^-1 b; with one coefficient, the square of its z value.
    b, v = mundlak.params[MEANS], mundlak.cov_params().loc[MEANS, MEANS]
    wald = float(b @ np.linalg.solve(v, b))
    assert 20 < wald < 40
    one = mundlak.params["union_mean"] ** 2 / mundlak.cov_params().loc["union_mean", "union_mean"]
    assert one == pytest.approx(mundlak.tvalues["union_mean"] ** 2)
    # statsmodels' cluster-robust Wald test is the same quadratic form in its covariance.
    robust = pooled.wald_test(", ".join(f"{m} = 0" for m in MEANS), use_f=False, scalar=True)
    rb, rv = pooled.params[MEANS], pooled.cov_params().loc[MEANS, MEANS]
    assert robust.statistic == pytest.approx(float(rb @ np.linalg.solve(rv, rb)))


# -- the older helpers, still used by correlated-effects.md (they go with it; issue 9) -----------

# -- coefficient plot -------------------------------------------------------------------------

def test_coefficient_plot_draws_rows_in_order_with_intervals():
    table = pd.DataFrame({"estimate": [1.6, 0.79, 0.76], "std_error": [0.05, 0.02, 0.02]},
                         index=["least squares", "random", "fixed"])
    ax = plots.coefficient_plot(table, reference=0.75, reference_label="truth")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["least squares", "random", "fixed"]
    assert ax.get_yticks()[0] > ax.get_yticks()[-1]  # first row on top
    assert len(ax.containers) == 3  # one errorbar per row
    assert ax.get_legend().get_texts()[0].get_text() == "truth"


def test_coefficient_plot_rejects_bad_input():
    table = pd.DataFrame({"estimate": [1.0], "std_error": [np.nan]})
    with pytest.raises(MultilevelInputError, match="missing values"):
        plots.coefficient_plot(table)
    with pytest.raises(MultilevelInputError, match="level"):
        plots.coefficient_plot(table.fillna(0.1), level=95)
    with pytest.raises(MultilevelInputError, match="not found"):
        plots.coefficient_plot(table, estimate="coef")
