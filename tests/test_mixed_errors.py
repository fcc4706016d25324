"""Bad input and silent wrong answers in the mixed-model engine (issue 9).

The contract: bad input raises ``multilevel.MultilevelInputError`` with a message that says what
is wrong and what to do; where lme4 warns or refuses, the engine warns
(``multilevel.MixedModelWarning``) or refuses too, and it never returns a wrong number silently.

Every data set is simulated here with a fixed numpy seed. The same frames were written to CSV and
fitted with R 4.2.2 and lme4 1.1-31; what lme4 does (its message, or its numbers) is recorded beside
each test, and the numbers are asserted where the engine must agree with lme4.
"""

from __future__ import annotations

import re
import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import multilevel

# --------------------------------------------------------------------------------------------
# Data (each a few hundred rows; fixtures return a fresh frame, so tests may edit them)
# --------------------------------------------------------------------------------------------


def linear_data(seed: int = 20261130) -> pd.DataFrame:
    """200 rows, 20 groups ``g`` of 10: numeric ``x`` and ``z``, a string column ``s`` (a/b/c),
    schools with classes nested in them (class labels 1-4 reused in every school), and an
    income both in millions (``income_m``) and in dollars (``income``)."""
    rng = np.random.default_rng(seed)
    n_groups, per = 20, 10
    n = n_groups * per
    group = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=n)
    u0 = rng.normal(0.0, 1.0, n_groups)
    u1 = rng.normal(0.0, 0.5, n_groups)
    s = rng.choice(np.array(["a", "b", "c"]), size=n)
    school = group // 4
    klass = group % 4 + 1
    v_school = rng.normal(0.0, 0.8, 5)
    income_m = rng.uniform(0.2, 3.0, size=n)
    z = rng.normal(size=n)
    y = (1.0 + 0.5 * x + 0.4 * income_m + u0[group] + u1[group] * x + 0.6 * (s == "b")
         + v_school[school] + rng.normal(0.0, 0.8, size=n))
    return pd.DataFrame({
        "y": y, "x": x, "z": z, "s": s,
        "g": [f"g{k:02d}" for k in group],
        "school": [f"sch{k}" for k in school],
        "klass": klass,
        "income_m": income_m,
        "income": income_m * 1e6,
    })


def binary_data(seed: int = 20261131) -> pd.DataFrame:
    """300 rows, 25 groups of 12: a 0/1 response ``y``, numeric ``x``, income in millions and in
    dollars."""
    rng = np.random.default_rng(seed)
    n_groups, per = 25, 12
    n = n_groups * per
    group = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=n)
    income_m = rng.uniform(0.2, 3.0, size=n)
    u = rng.normal(0.0, 1.0, n_groups)
    y = rng.binomial(1, expit(-0.3 + 0.8 * x + 0.5 * income_m + u[group]))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k:02d}" for k in group],
                         "income_m": income_m, "income": income_m * 1e6})


def count_data(seed: int = 20261132) -> pd.DataFrame:
    """200 rows, 20 groups of 10: Poisson ``count`` with an ``exposure``, numeric ``x``."""
    rng = np.random.default_rng(seed)
    n_groups, per = 20, 10
    n = n_groups * per
    group = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=n)
    exposure = rng.uniform(0.5, 3.0, size=n)
    u = rng.normal(0.0, 0.6, n_groups)
    count = rng.poisson(exposure * np.exp(0.2 + 0.4 * x + u[group]))
    return pd.DataFrame({"count": count, "x": x, "exposure": exposure,
                         "g": [f"g{k:02d}" for k in group]})


def separated_data(seed: int = 20261133) -> pd.DataFrame:
    """240 rows, 20 groups of 12: ``x`` separates ``y`` completely (y = 1 exactly when x > 0)."""
    rng = np.random.default_rng(seed)
    n_groups, per = 20, 12
    n = n_groups * per
    group = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=n)
    return pd.DataFrame({"y": (x > 0).astype(int), "x": x,
                         "g": [f"g{k:02d}" for k in group]})


def quasi_separated_data(seed: int = 20261134) -> pd.DataFrame:
    """240 rows, 20 groups of 12: every row with ``d == 1`` has y = 1 (quasi-complete
    separation); the rows with d == 0 are an ordinary random-intercept logit."""
    rng = np.random.default_rng(seed)
    n_groups, per = 20, 12
    n = n_groups * per
    group = np.repeat(np.arange(n_groups), per)
    d = rng.binomial(1, 0.3, n)
    u = rng.normal(0.0, 1.0, n_groups)
    y = np.where(d == 1, 1, rng.binomial(1, expit(-0.5 + u[group])))
    return pd.DataFrame({"y": y, "d": d, "g": [f"g{k:02d}" for k in group]})


@pytest.fixture
def linear() -> pd.DataFrame:
    return linear_data()


@pytest.fixture
def binary() -> pd.DataFrame:
    return binary_data()


@pytest.fixture
def counts() -> pd.DataFrame:
    return count_data()


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


@contextmanager
def clean():
    """Fits lme4 makes without a warning must not raise a MixedModelWarning either."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", multilevel.MixedModelWarning)
        yield


def refuses_or_warns(call, pattern: str):
    """Run ``call()``. Pass if it raises MultilevelInputError whose message matches `pattern`
    (case-insensitive), or returns after a MixedModelWarning whose message matches it. Any other
    exception propagates (and fails the test). Returns the fit (None when it refused) and the
    engine's messages."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("error", category=DeprecationWarning, module="multilevel")
        try:
            fit = call()
        except multilevel.MultilevelInputError as err:
            assert re.search(pattern, str(err), re.IGNORECASE), (
                f"the error does not say what is wrong ({pattern!r}): {err}")
            return None, [str(err)]
    ours = [str(w.message) for w in caught if issubclass(w.category, multilevel.MixedModelWarning)]
    assert any(re.search(pattern, m, re.IGNORECASE) for m in ours), (
        f"returned a fit without a MixedModelWarning matching {pattern!r}; "
        f"engine warnings: {ours}; all warnings: {[str(w.message) for w in caught]}")
    return fit, ours


def fit_ignoring_engine_warnings(call):
    """Run ``call()`` letting MixedModelWarnings pass (e.g. a singular fit, as lme4 messages)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", multilevel.MixedModelWarning)
        return call()


def assert_same_fit(fit, other, rtol=1e-4):
    """Two fits of the same model written two ways agree."""
    np.testing.assert_allclose(fit.params.to_numpy(), other.params.to_numpy(), rtol=rtol)
    assert list(fit.params.index) == list(other.params.index)
    np.testing.assert_allclose(fit.bse.to_numpy(), other.bse.to_numpy(), rtol=rtol)
    np.testing.assert_allclose(fit.llf, other.llf, rtol=1e-6)
    np.testing.assert_allclose(fit.theta, other.theta, rtol=rtol, atol=1e-5)
    np.testing.assert_allclose(fit.sigma, other.sigma, rtol=rtol)


def assert_lme4_linear(fit, params: dict, reml_crit: float, theta=None):
    """A REML lmer fit equals lme4's: estimates relative 1e-4 and the REML criterion."""
    assert list(fit.params.index) == list(params)
    np.testing.assert_allclose(fit.params.to_numpy(), list(params.values()), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fit.deviance, reml_crit, rtol=1e-6)
    if theta is not None:
        np.testing.assert_allclose(fit.theta, theta, rtol=1e-4, atol=1e-5)


def assert_lme4_glmm(fit, params: dict, loglik: float):
    """A glmer fit equals lme4's: estimates 1e-3, log-likelihood within 1e-3 and never lower."""
    assert list(fit.params.index) == list(params)
    np.testing.assert_allclose(fit.params.to_numpy(), list(params.values()), rtol=1e-3, atol=1e-5)
    assert fit.llf >= loglik - 1e-4
    assert abs(fit.llf - loglik) < 1e-3


# --------------------------------------------------------------------------------------------
# The classes
# --------------------------------------------------------------------------------------------


def test_error_and_warning_classes():
    assert issubclass(multilevel.MultilevelInputError, ValueError)
    assert issubclass(multilevel.MixedModelWarning, UserWarning)
    for name in ("lmer", "glmer", "lrtest"):
        assert callable(getattr(multilevel, name))


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------

# lme4: "object 'effort' not found" (same for a name in the random part).
@pytest.mark.parametrize("fitter, formula, name", [
    ("lmer", "y ~ effort + (1 | g)", "effort"),
    ("lmer", "y ~ x + I(effort ** 2) + (1 | g)", "effort"),
    ("glmer", "y ~ effort + (1 | g)", "effort"),
    ("glmer", "outcome ~ x + (1 | g)", "outcome"),
], ids=["lmer-fixed", "lmer-inside-I", "glmer-fixed", "glmer-response"])
def test_missing_column_is_named(linear, binary, fitter, formula, name):
    data = linear if fitter == "lmer" else binary
    with pytest.raises(multilevel.MultilevelInputError, match=rf"\b{name}\b") as err:
        getattr(multilevel, fitter)(formula, data)
    assert re.search(r"not found|missing|unknown|no column|not in", str(err.value), re.I)


# lme4: "object 'effort' not found", "object 'classroom' not found", "object 'klas' not found".
@pytest.mark.parametrize("formula, name", [
    ("y ~ x + (1 + effort | g)", "effort"),
    ("y ~ x + (effort || g)", "effort"),
    ("y ~ x + (1 | classroom)", "classroom"),
    ("y ~ x + (1 | school/klas)", "klas"),
    ("y ~ x + (1 | school:klas)", "klas"),
], ids=["slope", "uncorrelated-slope", "grouping", "nested", "interaction"])
def test_unknown_name_in_random_part_is_named(linear, formula, name):
    with pytest.raises(multilevel.MultilevelInputError, match=rf"\b{name}\b") as err:
        multilevel.lmer(formula, linear)
    assert re.search(r"not found|missing|unknown|no column|not in", str(err.value), re.I)


# lme4 drops the rows silently (na.action = na.omit: 198 rows fitted); the engine refuses and
# says which column and how to drop the rows.
@pytest.mark.parametrize("column", ["score", "hours", "classroom"])
def test_nan_in_a_used_column_is_named(linear, column):
    data = linear.rename(columns={"y": "score", "x": "hours", "g": "classroom"})
    data.loc[[3, 7], column] = np.nan if column != "classroom" else None
    with pytest.raises(multilevel.MultilevelInputError, match=rf"\b{column}\b") as err:
        multilevel.lmer("score ~ hours + (1 | classroom)", data)
    message = str(err.value)
    assert re.search(r"NaN|missing", message, re.I)
    assert re.search(r"dropna|drop", message, re.I)


def test_nan_in_an_unused_column_does_not_matter(linear):
    with clean():
        reference = multilevel.lmer("y ~ x + (1 | g)", linear)
        linear.loc[[3, 7], "z"] = np.nan
        fit = multilevel.lmer("y ~ x + (1 | g)", linear)
    assert fit.nobs == 200
    assert_same_fit(fit, reference, rtol=1e-8)


# lme4: lmer(grade ~ ...) with a character response: "response must be numeric".
def test_string_response_to_lmer_is_refused(linear):
    data = linear.rename(columns={"s": "grade"})
    with pytest.raises(multilevel.MultilevelInputError, match=r"\bgrade\b") as err:
        multilevel.lmer("grade ~ x + (1 | g)", data)
    assert re.search(r"numeric|number", str(err.value), re.I)


# lme4: glmer with a character response: "response must be numeric or factor"; as a factor
# ("no" < "yes", the first level is failure) it fits: fixef 0.425329080270, 0.970890939652,
# logLik -176.18352326. The engine refuses naming the column, or reads it as R reads a factor.
def test_string_response_to_glmer_is_refused_or_read_as_a_factor(binary):
    data = binary.assign(outcome=np.where(binary["y"] == 1, "yes", "no"))
    try:
        fit = multilevel.glmer("outcome ~ x + (1 | g)", data)
    except multilevel.MultilevelInputError as err:
        assert re.search(r"\boutcome\b", str(err)), str(err)
        assert re.search(r"numeric|number|0/1|binary", str(err), re.I), str(err)
        return
    assert_lme4_glmm(fit, {"(Intercept)": 0.425329080270, "x": 0.970890939652}, -176.18352326)


# A string column on the fixed side is a categorical predictor, as in R (treatment contrasts,
# first level the baseline). lme4: fixef (Intercept) 2.583407952744, x 0.313216474508,
# sb 0.686083722741, sc 0.000133805193; REML criterion 576.136080651; no warning.
def test_string_covariate_on_the_fixed_side_is_categorical(linear):
    with clean():
        fit = multilevel.lmer("y ~ x + s + (1 | g)", linear)
    assert_lme4_linear(fit, {"(Intercept)": 2.583407952744, "x": 0.313216474508,
                             "sb": 0.686083722741, "sc": 0.000133805193}, 576.136080651,
                       theta=[1.50291476182])
    np.testing.assert_allclose(fit.bse["sb"], 0.1585499366549, rtol=1e-4)


# lme4: (1 + s | g) with a character s expands s into dummies inside the term: a 3 x 3
# covariance (6 thetas), a boundary fit (message "boundary (singular) fit: see
# help('isSingular')"), REML criterion 584.536197088. The engine does the same (at least as
# good a criterion), or refuses naming the column.
def test_string_column_in_a_random_slope(linear):
    data = linear.rename(columns={"s": "grade"})
    try:
        fit = fit_ignoring_engine_warnings(
            lambda: multilevel.lmer("y ~ x + (1 + grade | g)", data))
    except multilevel.MultilevelInputError as err:
        assert re.search(r"\bgrade\b", str(err)), str(err)
        return
    assert len(fit.theta) == 6
    assert fit.deviance <= 584.536197088 + 1e-3
    np.testing.assert_allclose(fit.params["(Intercept)"], 2.613319970821, rtol=1e-3)


# lme4 (lmer and glmer): "grouping factors must have > 1 sampled level".
@pytest.mark.parametrize("fitter", ["lmer", "glmer"])
def test_single_group_is_refused(linear, binary, fitter):
    data = (linear if fitter == "lmer" else binary).query("g == 'g00'")
    with pytest.raises(multilevel.MultilevelInputError, match=r"level|groups"):
        getattr(multilevel, fitter)("y ~ x + (1 | g)", data)


# lme4: "y values must be 0 <= y <= 1" for both.
@pytest.mark.parametrize("recode", ["some-2s", "coded-1-2"])
def test_non_binary_response_to_binomial_is_refused(binary, recode):
    if recode == "some-2s":
        binary.loc[:4, "y"] = 2
    else:
        binary["y"] = binary["y"] + 1
    with pytest.raises(multilevel.MultilevelInputError,
                       match=r"binary|0/1|0 and 1|0 or 1|0 <= y <= 1|between 0 and 1"):
        multilevel.glmer("y ~ x + (1 | g)", binary, family="binomial")


# lme4: warning "non-integer #successes in a binomial glm!", then the error "pwrssUpdate did
# not converge in (maxit) iterations". The engine says the trials are missing.
def test_proportion_without_weights_is_refused(binary):
    binary["p"] = np.clip(expit(binary["x"]), 0.05, 0.95)
    with pytest.raises(multilevel.MultilevelInputError, match=r"weights|trials"):
        multilevel.glmer("p ~ x + (1 | g)", binary, family="binomial")


# lme4: negative: "negative values not allowed for the 'Poisson' family"; non-integer: only
# warnings "non-integer x = 1.500000" (one per value) and a fit with logLik -Inf.
@pytest.mark.parametrize("problem", ["negative", "non-integer"])
def test_bad_counts_to_poisson_are_refused(counts, problem):
    if problem == "negative":
        counts.loc[:2, "count"] = -1
    else:
        counts["count"] = counts["count"] + 0.5
    with pytest.raises(multilevel.MultilevelInputError,
                       match=r"negative|integer|0, 1, 2|whole number"):
        multilevel.glmer("count ~ x + (1 | g)", counts, family="poisson")


# lme4: lmer: "0 (non-NA) cases"; glmer: "Invalid grouping factor specification, g".
@pytest.mark.parametrize("fitter", ["lmer", "glmer"])
def test_empty_frame_is_refused(linear, binary, fitter):
    data = (linear if fitter == "lmer" else binary).iloc[:0]
    with pytest.raises(multilevel.MultilevelInputError,
                       match=r"empty|no rows|0 rows|zero rows|no observations|0 observations"):
        getattr(multilevel, fitter)("y ~ x + (1 | g)", data)


# lme4 (lmer and glmer): "No random effects terms specified in formula".
@pytest.mark.parametrize("fitter", ["lmer", "glmer"])
def test_formula_without_a_random_term_is_refused(linear, binary, fitter):
    data = linear if fitter == "lmer" else binary
    with pytest.raises(multilevel.MultilevelInputError, match=r"random"):
        getattr(multilevel, fitter)("y ~ x", data)


# The statsmodels-formula trap: `y ~ x | g` without parentheses. patsy/formulaic read `|` as a
# bitwise OR of x and g (a fixed effect). lme4 does NOT refuse it: it reads the whole right-hand
# side as one random term, i.e. y ~ 1 + (x | g): fixef (Intercept) 2.90196898362 only, thetas
# 1.45144887954 -0.0939236028112 0.475115096695, REML criterion 596.405720409 (same for
# `y ~ 1 + x | g` and `y ~ x + x | g`). The engine reads it as lme4 does, or refuses and says to
# put the term in parentheses; never a fixed effect "x | g".
def test_bar_without_parentheses_is_not_a_fixed_effect(linear):
    try:
        fit = multilevel.lmer("y ~ x | g", linear)
    except multilevel.MultilevelInputError as err:
        assert re.search(r"parenthes|\(\s*x\s*\|\s*g\s*\)", str(err), re.I), str(err)
        return
    assert_lme4_linear(fit, {"(Intercept)": 2.90196898362}, 596.405720409,
                       theta=[1.45144887954, -0.0939236028112, 0.475115096695])


# lme4: "object 'negbin' of mode 'function' was not found" (Gamma is an lme4 family that the
# engine does not offer: it must say which families it has).
@pytest.mark.parametrize("family", ["negbin", "gamma"])
def test_unknown_family_is_refused(binary, family):
    with pytest.raises(multilevel.MultilevelInputError, match=r"family") as err:
        multilevel.glmer("y ~ x + (1 | g)", binary, family=family)
    message = str(err.value)
    assert family in message.lower()
    assert "binomial" in message and "poisson" in message


# lme4 (both): "nAGQ > 1 is only available for models with a single, scalar random-effects term".
@pytest.mark.parametrize("formula", ["y ~ x + (x | g)", "y ~ x + (1 | g) + (1 | h)",
                                     "y ~ x + (x || g)"],
                         ids=["vector-valued", "two-terms", "uncorrelated"])
def test_nagq_above_one_needs_a_single_scalar_term(binary, formula):
    binary["h"] = np.tile(np.arange(12), 25)
    with pytest.raises(multilevel.MultilevelInputError, match=r"nAGQ"):
        multilevel.glmer(formula, binary, family="binomial", nAGQ=5)


# The positive control: a single scalar term with nAGQ=5. lme4: fixef 0.426467716923,
# 0.970884425061; logLik -175.985701039; theta 0.999729477038.
def test_nagq_above_one_with_a_single_scalar_term_fits(binary):
    with clean():
        fit = multilevel.glmer("y ~ x + (1 | g)", binary, family="binomial", nAGQ=5)
    assert fit.nAGQ == 5
    assert_lme4_glmm(fit, {"(Intercept)": 0.426467716923, "x": 0.970884425061}, -175.985701039)


# --------------------------------------------------------------------------------------------
# Silent wrong answers to end
# --------------------------------------------------------------------------------------------

# (1) Separation.
# complete (y = 1 exactly when x > 0): lme4 refuses with the error "pwrssUpdate did not converge
#   in (maxit) iterations" (no word about separation).
# quasi-complete (every d == 1 row has y = 1): lme4 returns d = 43304 (SE 8.1e6) with the
#   warnings "unable to evaluate scaled gradient" and "Model failed to converge: degenerate
#   Hessian with 1 negative eigenvalues".
# The engine warns or refuses; a complete separation must be named as such.
@pytest.mark.parametrize("case", ["complete", "quasi-complete"])
def test_separation_is_never_silent(case):
    if case == "complete":
        data, formula, pattern = separated_data(), "y ~ x + (1 | g)", r"separat"
    else:
        data, formula, pattern = quasi_separated_data(), "y ~ d + (1 | g)", r"separat|converg"
    fit, messages = refuses_or_warns(
        lambda: multilevel.glmer(formula, data, family="binomial"), pattern)
    if fit is not None and not any(re.search("separat", m, re.I) for m in messages):
        # warned only that the optimiser failed: the result must not claim convergence
        assert not fit.converged


# (2) One row per group in a linear model: group and residual variance are not identifiable.
# lme4: "number of levels of each grouping factor must be < number of observations
# (problems: g)".
def test_one_row_per_group_in_lmer_is_refused(linear):
    one = linear.drop_duplicates("g")
    with pytest.raises(multilevel.MultilevelInputError, match=r"level|observation") as err:
        multilevel.lmer("y ~ x + (1 | g)", one)
    assert re.search(r"\bg\b", str(err.value))


# ... but a GLMM may have one level per row (an observation-level random effect for
# overdispersion): lme4 allows nlevels <= nobs there. lme4: glmer(count ~ x + (1|g) + (1|obs),
# poisson): fixef 0.579389859444, 0.346828157068; logLik -371.181204044; no warning (bobyqa,
# Nelder_Mead and nloptwrap with maxfun 1e5 all reach logLik -371.1812040, so it is the optimum).
def test_observation_level_random_effect_in_glmer_is_allowed(counts):
    counts["obs"] = np.arange(len(counts))
    with clean():
        fit = multilevel.glmer("count ~ x + (1 | g) + (1 | obs)", counts, family="poisson")
    # glmer's default PIRLS tolerance (tolPwrss = 1e-7) leaves its Laplace deviance 0.004
    # too high on this model; with glmerControl(tolPwrss = 1e-12) lme4 gives these values.
    assert_lme4_glmm(fit, {"(Intercept)": 0.578441182946, "x": 0.347173034538}, -371.179404752)


# (3) A covariate on a large scale (income in dollars).
# lme4 lmer at 1e6 and at 1e4: warning "Some predictor variables are on very different scales:
#   consider rescaling", and correct estimates and SEs: income_m SE 0.0829123895392 in millions,
#   so 8.29123895392e-08 per dollar; intercept SE 0.3118690200357 either way.
# lme4 glmer at 1e6: the same warning, then the error "(maxstephalfit) PIRLS step-halvings
#   failed to reduce deviance in pwrssUpdate". In millions: fixef 0.0727364511814,
#   0.1636656841323; SEs 0.336309232131, 0.158746199579; logLik -195.554099367.
# The engine warns and gets the SEs right (for glmer it may instead refuse, telling to rescale).
@pytest.mark.parametrize("fitter, scale", [("lmer", 1e4), ("lmer", 1e6), ("glmer", 1e6)],
                         ids=["lmer-1e4", "lmer-1e6", "glmer-1e6"])
def test_covariate_on_a_large_scale_warns_and_keeps_the_right_standard_errors(
        linear, binary, fitter, scale):
    data = (linear if fitter == "lmer" else binary).copy()
    data["income_big"] = data["income_m"] * scale
    fit_ = getattr(multilevel, fitter)
    with clean():
        small = fit_("y ~ income_m + (1 | g)", data)
    if fitter == "lmer":
        with pytest.warns(multilevel.MixedModelWarning, match=r"scale"):
            big = fit_("y ~ income_big + (1 | g)", data)
        np.testing.assert_allclose(small.bse["income_m"], 0.0829123895392, rtol=1e-4)
    else:
        big, _ = refuses_or_warns(lambda: fit_("y ~ income_big + (1 | g)", data), r"scale")
        # lme4's SE (finite-difference Hessian) 0.158746; its RX-based SE is 0.155058
        np.testing.assert_allclose(small.bse["income_m"], 0.158746199579, rtol=1e-2)
        if big is None:
            return
    np.testing.assert_allclose(big.params["income_big"] * scale, small.params["income_m"],
                               rtol=1e-4)
    np.testing.assert_allclose(big.bse["income_big"] * scale, small.bse["income_m"], rtol=1e-3)
    np.testing.assert_allclose(big.bse["(Intercept)"], small.bse["(Intercept)"], rtol=1e-3)
    np.testing.assert_allclose(big.llf + (np.log(scale) if fitter == "lmer" else 0.0),
                               small.llf, rtol=1e-6)


# (4) A constant response.
# lme4 lmer: no error and no warning, only the message "boundary (singular) fit: see
#   help('isSingular')"; it returns logLik Inf, REML criterion -Inf, and vcov() fails with
#   "not a positive definite matrix".
# lme4 glmer (binomial, all y = 1): the error "Response is constant".
@pytest.mark.parametrize("fitter", ["lmer", "glmer"])
def test_constant_response_is_never_silent(linear, binary, fitter):
    data = linear.assign(y=3.0) if fitter == "lmer" else binary.assign(y=1)
    fit, _ = refuses_or_warns(lambda: getattr(multilevel, fitter)("y ~ x + (1 | g)", data),
                           r"constant|no variation|zero variance|identical|all (the )?same")
    if fit is not None:
        assert not np.isnan(fit.llf)


# (4') A response exactly linear in a covariate (zero residual variance).
# lme4 lmer: warnings "Model failed to converge with max|grad| = 4.77783 (tol = 0.002,
#   component 1)" and "Model is nearly unidentifiable: very large eigenvalue - Rescale
#   variables?"; returns logLik 6561.021 (absurd) and SEs of 7e-17.
def test_exactly_linear_response_is_never_silent(linear):
    data = linear.assign(y=2.0 + 3.0 * linear["x"])
    fit, _ = refuses_or_warns(
        lambda: multilevel.lmer("y ~ x + (1 | g)", data),
        r"exact|perfect|residual|zero|singular|converg|identif|constant")
    if fit is not None:
        assert not np.isnan(fit.llf)


# (5) lme4 formula terms the engine understands, equal to their hand-expanded form and to lme4.
# nested (1 | school/klass) == (1 | school) + (1 | sk), sk = "school:klass" built by hand
#   (class labels 1-4 repeat across schools, so (1 | klass) alone would be wrong: 4 levels, not 20).
#   lme4: fixef 2.788439444732, 0.295424369712; REML criterion 592.971237335;
#   theta 1.13070108934 (klass:school, 20 levels) 0.890434750642 (school, 5 levels).
# (1 | school:klass) == (1 | sk). lme4: fixef 2.78852488691, 0.29722740277; REML crit
#   595.698593054; theta 1.39513510007.
# (x || g) == (1 | g) + (0 + x | g). lme4: fixef 2.787040603862, 0.307595793267; REML crit
#   590.648270258; theta 1.45631123917 0.346727447705.
# No warnings from lme4 for any of them.
@pytest.mark.parametrize("formula, expanded, ngroups, params, crit, theta", [
    ("y ~ x + (1 | school/klass)", "y ~ x + (1 | school) + (1 | sk)", [5, 20],
     {"(Intercept)": 2.788439444732, "x": 0.295424369712}, 592.971237335,
     [1.13070108934, 0.890434750642]),
    ("y ~ x + (1 | school:klass)", "y ~ x + (1 | sk)", [20],
     {"(Intercept)": 2.78852488691, "x": 0.29722740277}, 595.698593054, [1.39513510007]),
    ("y ~ x + (x || g)", "y ~ x + (1 | g) + (0 + x | g)", [20],
     {"(Intercept)": 2.787040603862, "x": 0.307595793267}, 590.648270258,
     [1.45631123917, 0.346727447705]),
], ids=["nested", "interaction", "uncorrelated"])
def test_lme4_random_terms_equal_their_expansion(linear, formula, expanded, ngroups, params,
                                                 crit, theta):
    linear["sk"] = linear["school"] + ":" + linear["klass"].astype(str)
    with clean():
        fit = multilevel.lmer(formula, linear)
        hand = multilevel.lmer(expanded, linear)
    assert sorted(set(fit.ngroups.values())) == ngroups
    assert_same_fit(fit, hand)
    assert_lme4_linear(fit, params, crit, theta=theta)


# offset() in the formula == the offset argument (an array or a column name) == lme4.
# lme4: glmer(count ~ x + offset(log(exposure)) + (1|g), poisson) and with offset=log(exposure):
#   fixef 0.146265298359, 0.318502871603; logLik -338.4730133; theta 0.448128476308.
def test_offset_in_a_poisson_formula(counts):
    counts["log_exposure"] = np.log(counts["exposure"])
    with clean():
        in_formula = multilevel.glmer("count ~ x + offset(log(exposure)) + (1 | g)", counts,
                                      family="poisson")
        as_array = multilevel.glmer("count ~ x + (1 | g)", counts, family="poisson",
                                    offset=np.log(counts["exposure"].to_numpy()))
        as_column = multilevel.glmer("count ~ x + (1 | g)", counts, family="poisson",
                                     offset="log_exposure")
    assert_same_fit(in_formula, as_array)
    assert_same_fit(in_formula, as_column)
    assert_lme4_glmm(in_formula, {"(Intercept)": 0.146265298359, "x": 0.318502871603},
                     -338.4730133)
    np.testing.assert_allclose(in_formula.theta, [0.448128476308], rtol=1e-3)


# lmer with offset(z) == lmer on y - z. lme4: fixef 2.798102353368, 0.407602012809; REML crit
# 763.262197081; theta 0.92538160762 (both ways).
def test_offset_in_a_linear_formula(linear):
    linear["y_minus_z"] = linear["y"] - linear["z"]
    with clean():
        fit = multilevel.lmer("y ~ x + offset(z) + (1 | g)", linear)
        by_hand = multilevel.lmer("y_minus_z ~ x + (1 | g)", linear)
    assert_same_fit(fit, by_hand)
    assert_lme4_linear(fit, {"(Intercept)": 2.798102353368, "x": 0.407602012809},
                       763.262197081, theta=[0.92538160762])
