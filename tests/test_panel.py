"""Panel-data helpers: quasi-demeaning, between, random effects with covariance, Hausman, Mundlak.

Checked against hand formulas, lme4 (tests/reference/lmer_students.R) and linearmodels.
"""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from conftest import reference
from linearmodels.panel import BetweenOLS, PanelOLS, PooledOLS, RandomEffects

from multilevel import MultilevelInputError, data, models, plots

TIME_VARYING = ["union", "married", "exper", "expersq"]
COVARIATES = TIME_VARYING + ["educ", "black", "hisp"]
MEANS = [f"{c}_mean" for c in TIME_VARYING]


@pytest.fixture(scope="module")
def wages():
    return data.load_wage_panel()


@pytest.fixture(scope="module")
def panel(wages):
    return wages.set_index(["nr", "year"])


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
def helper_fits(wages):
    return {
        "pooled": models.fit_ols(wages, "lwage", COVARIATES),
        "between": models.fit_between(wages, "lwage", COVARIATES, "nr"),
        "random": models.fit_random_intercept(wages, "lwage", COVARIATES, "nr"),
        "fixed": models.fit_fixed_effects(wages, "lwage", TIME_VARYING, "nr"),
    }


def lme4_name(term: str) -> str:
    return "(Intercept)" if term == "Intercept" else term


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
    assert models.quasi_demeaning_theta(0.7, 0.2, 5) == pytest.approx(
        1 - np.sqrt(0.04 / (0.04 + 5 * 0.49)))
    sizes = np.array([1, 2, 50])
    np.testing.assert_allclose(models.quasi_demeaning_theta(0.5, 1.0, sizes),
                               1 - np.sqrt(1 / (1 + sizes * 0.25)))
    assert models.quasi_demeaning_theta(0.0, 1.0, 8) == 0.0  # no group variance: pooled OLS
    assert models.quasi_demeaning_theta(10.0, 0.01, 1000) > 0.9999  # towards fixed effects
    assert isinstance(models.quasi_demeaning_theta(0.7, 0.2, 5), float)


@pytest.mark.parametrize("args, message", [
    ((-0.1, 0.2, 5), "sigma_group"),
    ((0.7, np.nan, 5), "sigma_residual"),
    ((0.7, 0.0, 5), "sigma_residual` is 0"),
    ((0.7, 0.2, 0), "group_size"),
])
def test_quasi_demeaning_theta_rejects_bad_input(args, message):
    with pytest.raises(MultilevelInputError, match=message):
        models.quasi_demeaning_theta(*args)


def test_theta_formula_reproduces_linearmodels_theta(lm_fits):
    variances = lm_fits["random"].variance_decomposition
    theta = models.quasi_demeaning_theta(np.sqrt(variances["Effects"]),
                                         np.sqrt(variances["Residual"]), 8)
    assert theta == pytest.approx(float(np.asarray(lm_fits["random"].theta).ravel()[0]), rel=1e-10)


# -- random effects with covariance: lme4 and the GLS hand formula ---------------------------------

@pytest.mark.parametrize("name, mundlak", [("wage_re_reml", False), ("wage_mundlak_reml", True)])
def test_fit_random_intercept_equals_lmer_on_wage_panel(wages, name, mundlak):
    ref = reference("lmer_students")[name]
    frame = models.add_group_means(wages, TIME_VARYING, "nr") if mundlak else wages
    fit = models.fit_random_intercept(frame, "lwage", COVARIATES + (MEANS if mundlak else []), "nr")
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-5)
    for term in fit.params.index:
        assert fit.params[term] == pytest.approx(ref["fixef"][lme4_name(term)], rel=1e-5,
                                                 abs=1e-8)
        assert fit.bse[term] == pytest.approx(ref["se"][lme4_name(term)], rel=1e-5)
    assert fit.sigma_group == pytest.approx(ref["varcorr"][0]["sdcor"], rel=1e-5)
    assert fit.sigma_residual == pytest.approx(ref["sigma"], rel=1e-6)
    assert fit.nobs == ref["nobs"] and fit.n_groups == 545


def test_fit_random_intercept_covariance_equals_gls_hand_formula():
    frame = data.load_csv("students_exams_correlated").iloc[:200]  # 40 students, quick
    fit = models.fit_random_intercept(frame, "score", "hours", "student")
    hand = gls_covariance(frame, "score", ["hours"], "student", fit.sigma_group,
                          fit.sigma_residual)
    np.testing.assert_allclose(fit.cov_params.to_numpy(), hand, rtol=1e-8)
    np.testing.assert_allclose(fit.bse.to_numpy(), np.sqrt(np.diag(hand)), rtol=1e-8)
    assert fit.theta.iloc[0] == pytest.approx(
        models.quasi_demeaning_theta(fit.sigma_group, fit.sigma_residual, 5))


def test_linearmodels_random_effects_differ_only_slightly_from_reml(lm_fits, helper_fits):
    lm_params = lm_fits["random"].params.rename({"const": "Intercept"})
    gap = (helper_fits["random"].params - lm_params).abs()
    # Swamy-Arora and REML variance estimates differ, so the estimates differ, but by far
    # less than a standard error.
    assert 0 < gap.max() < 0.002
    assert (gap / helper_fits["random"].bse).max() < 0.1


# -- pooled, between, fixed: equal to linearmodels ------------------------------------------

@pytest.mark.parametrize("name", ["pooled", "between", "fixed"])
def test_helper_estimators_equal_linearmodels(lm_fits, helper_fits, name):
    ours = helper_fits[name]
    theirs = lm_fits[name]
    params = ours.params.rename({"Intercept": "const"})
    bse = ours.bse.rename({"Intercept": "const"})
    np.testing.assert_allclose(params[theirs.params.index], theirs.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(bse[theirs.params.index], theirs.std_errors, rtol=1e-8)


def test_between_estimator_is_least_squares_on_group_means(wages):
    means = wages.groupby("nr")[["lwage", "union", "educ"]].mean()
    hand = smf.ols("lwage ~ union + educ", means).fit()
    fit = models.fit_between(wages, "lwage", ["union", "educ"], "nr")
    np.testing.assert_allclose(fit.params.to_numpy(), hand.params.to_numpy(), rtol=1e-10)
    assert int(fit.nobs) == 545


def test_between_estimator_rejects_bad_input(wages):
    frame = wages.assign(constant_everywhere=1.0)
    with pytest.raises(MultilevelInputError, match="collinear with each other or constant"):
        models.fit_between(frame, "lwage", ["union", "constant_everywhere"], "nr")
    few = wages[wages["nr"].isin(wages["nr"].unique()[:3])]
    with pytest.raises(MultilevelInputError, match="more groups than coefficients"):
        models.fit_between(few, "lwage", ["union", "married", "exper"], "nr")
    with pytest.raises(MultilevelInputError, match="at least one covariate"):
        models.fit_between(wages, "lwage", [], "nr")


# -- Hausman test ---------------------------------------------------------------------------

def test_hausman_equals_hand_formula_with_independent_pieces(panel, wages, helper_fits):
    """b and V for fixed effects from linearmodels, for random effects from lme4 + a GLS formula."""
    ref = reference("lmer_students")["wage_re_reml"]
    fe = PanelOLS(panel["lwage"], panel[TIME_VARYING], entity_effects=True).fit()
    cov_re = gls_covariance(wages, "lwage", COVARIATES, "nr", ref["varcorr"][0]["sdcor"],
                            ref["sigma"])
    index = [1 + COVARIATES.index(t) for t in TIME_VARYING]
    v_re = cov_re[np.ix_(index, index)]
    q = fe.params[TIME_VARYING].to_numpy() - np.array([ref["fixef"][t] for t in TIME_VARYING])
    hand = float(q @ np.linalg.solve(fe.cov.loc[TIME_VARYING, TIME_VARYING].to_numpy() - v_re, q))
    test = models.hausman_test(helper_fits["fixed"], helper_fits["random"])
    assert test.statistic == pytest.approx(hand, rel=1e-5)
    assert test.df == 4 and test.positive_definite and test.n_dropped == 0
    assert list(test.comparison.index) == TIME_VARYING
    assert test.p_value < 1e-3


def test_hausman_on_linearmodels_fits_equals_linearmodels_own_test(lm_fits):
    ours = models.hausman_test(lm_fits["fixed"], lm_fits["random"])
    theirs = lm_fits["random"].hausman(lm_fits["fixed"])
    assert ours.statistic == pytest.approx(theirs.statistic.stat, rel=1e-10)
    assert ours.df == theirs.statistic.df
    assert ours.p_value == pytest.approx(theirs.statistic.pval, rel=1e-8)


def test_hausman_scalar_case_equals_textbook_formula_with_lme4_values():
    """H = (b_FE - b_RE)^2 / (se_FE^2 - se_RE^2), RE from lmer, FE from dummy-variable OLS."""
    frame = data.load_csv("students_exams_correlated")
    ref = reference("lmer_students")["correlated_reml"]
    dummies = smf.ols("score ~ hours + C(student) - 1", frame).fit()
    b_fe, se_fe = dummies.params["hours"], dummies.bse["hours"]
    hand = (b_fe - ref["fixef"]["hours"]) ** 2 / (se_fe**2 - ref["se"]["hours"] ** 2)
    fe = models.fit_fixed_effects(frame, "score", "hours", "student")
    for re in (models.fit_mixed(frame, "score ~ hours", group="student"),
               models.fit_random_intercept(frame, "score", "hours", "student")):
        test = models.hausman_test(fe, re)
        assert test.statistic == pytest.approx(hand, rel=1e-4)
        assert test.df == 1
    # Random effects are rejected on the correlated data and not on the uncorrelated data.
    assert test.p_value < 1e-10
    clean = data.load_csv("students_exams")
    clean_test = models.hausman_test(models.fit_fixed_effects(clean, "score", "hours", "student"),
                                     models.fit_random_intercept(clean, "score", "hours", "student"))
    assert clean_test.p_value > 0.05


def fake_fit(params, cov, nobs=None):
    names = list(params)
    return SimpleNamespace(params=pd.Series(params, dtype=float),
                           cov=pd.DataFrame(cov, index=names, columns=names), nobs=nobs)


def test_hausman_singular_difference_uses_generalised_inverse_and_rank():
    fe = fake_fit({"a": 1.0, "b": 2.0}, [[2.0, 0.0], [0.0, 1.0]])
    re = fake_fit({"a": 0.5, "b": 1.0}, [[1.0, 0.0], [0.0, 1.0]])  # difference diag(1, 0)
    test = models.hausman_test(fe, re)
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
    test = models.hausman_test(fe, re)
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
    test = models.hausman_test(fe, re)
    assert test.statistic == pytest.approx(q @ np.linalg.solve(diff, q))
    assert test.df == 2 and test.positive_definite


def test_hausman_without_any_positive_direction_returns_nan():
    fe = fake_fit({"a": 1.0}, [[1.0]])
    re = fake_fit({"a": 0.0}, [[2.0]])
    test = models.hausman_test(fe, re)
    assert test.df == 0 and np.isnan(test.statistic) and np.isnan(test.p_value)


def test_hausman_rejects_bad_input(helper_fits, wages):
    fe, re = helper_fits["fixed"], helper_fits["random"]
    with pytest.raises(MultilevelInputError, match="different numbers of observations"):
        models.hausman_test(fe, fake_fit({"union": 0.1}, [[0.01]], nobs=100))
    with pytest.raises(MultilevelInputError, match="share no coefficient"):
        models.hausman_test(fe, fake_fit({"other": 0.1}, [[0.01]]))
    with pytest.raises(MultilevelInputError, match=r"\['educ'\] are not estimated by both"):
        models.hausman_test(fe, re, terms=["union", "educ"])
    with pytest.raises(MultilevelInputError, match="must be a fit from multilevel.models"):
        models.hausman_test(fe, "not a fit")
    with pytest.raises(MultilevelInputError, match="`tol` must lie"):
        models.hausman_test(fe, re, tol=-1)
    one = models.hausman_test(fe, re, terms="union")  # a subset of the coefficients
    assert one.df == 1


# -- Mundlak: group means and the Wald test -------------------------------------------------

def test_add_group_means_adds_means_and_leaves_input_alone(wages):
    out = models.add_group_means(wages, ["union", "exper"], "nr")
    np.testing.assert_allclose(out["union_mean"], wages.groupby("nr")["union"].transform("mean"))
    assert list(out.columns) == list(wages.columns) + ["union_mean", "exper_mean"]
    assert "union_mean" not in wages.columns
    custom = models.add_group_means(wages, "union", "nr", suffix="_avg")
    assert "union_avg" in custom.columns


def test_add_group_means_rejects_bad_input(wages):
    with pytest.raises(MultilevelInputError, match="already exist"):
        models.add_group_means(wages.assign(union_mean=0.0), "union", "nr")
    with pytest.raises(MultilevelInputError, match="not found"):
        models.add_group_means(wages, "unoin", "nr")
    with pytest.raises(MultilevelInputError, match="must be numeric"):
        models.add_group_means(wages.assign(label="x"), "label", "nr")
    with pytest.raises(MultilevelInputError, match="at least one column"):
        models.add_group_means(wages, [], "nr")


def test_mundlak_random_effects_reproduce_fixed_effects(wages, helper_fits):
    frame = models.add_group_means(wages, TIME_VARYING, "nr")
    mundlak = models.fit_random_intercept(frame, "lwage", COVARIATES + MEANS, "nr")
    np.testing.assert_allclose(mundlak.params[TIME_VARYING], helper_fits["fixed"].params,
                               rtol=1e-9)
    # Pooled least squares with the means gives the within coefficients as well.
    pooled = models.fit_ols(frame, "lwage", COVARIATES + MEANS, cluster="nr")
    np.testing.assert_allclose(pooled.params[TIME_VARYING], helper_fits["fixed"].params,
                               rtol=1e-9)


def test_wald_test_equals_hand_formula(wages):
    frame = models.add_group_means(wages, TIME_VARYING, "nr")
    fit = models.fit_random_intercept(frame, "lwage", COVARIATES + MEANS, "nr")
    test = models.wald_test(fit, MEANS)
    b = fit.params[MEANS].to_numpy()
    v = fit.cov_params.loc[MEANS, MEANS].to_numpy()
    assert test["statistic"] == pytest.approx(b @ np.linalg.inv(v) @ b, rel=1e-10)
    assert test["df"] == 4 and test["p_value"] < 1e-3
    # A single coefficient: the square of its z statistic.
    one = models.wald_test(fit, "union_mean")
    z = fit.params["union_mean"] / fit.bse["union_mean"]
    assert one["statistic"] == pytest.approx(z**2)
    # statsmodels results work too (cluster-robust covariance).
    robust = models.fit_ols(frame, "lwage", COVARIATES + MEANS, cluster="nr")
    rb = robust.params[MEANS].to_numpy()
    rv = robust.cov_params().loc[MEANS, MEANS].to_numpy()
    expected = rb @ np.linalg.solve(rv, rb)
    assert models.wald_test(robust, MEANS)["statistic"] == pytest.approx(expected)


def test_wald_test_rejects_bad_input(wages):
    fit = models.fit_random_intercept(wages, "lwage", ["union", "married"], "nr")
    with pytest.raises(MultilevelInputError, match="not coefficients of the fit"):
        models.wald_test(fit, "unoin")
    with pytest.raises(MultilevelInputError, match="at least one coefficient"):
        models.wald_test(fit, [])


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
