"""The binomial-logit GLMM fitter against lme4's glmer (tests/reference/glmer_reference.json).

Tolerances (the standard the fitter is held to):

- log-likelihood within 1e-3 of glmer's, for every fit;
- for non-singular fits, fixed effects, random-effect SDs and correlations within
  1e-3 absolute or 1e-3 relative (whichever is larger), and the conditional
  modes and variances of the random effects within 2e-3 absolute;
- standard errors within 1e-2 relative of glmer's ``vcov``, and within 1e-3
  relative of glmer's with its PIRLS converged (the fixture's
  ``converged_pirls``: refitted with ``tolPwrss = 1e-10``, Hessian of its
  deviance with step 1e-3). ``vcov`` differentiates with step 1e-4 a deviance
  whose PIRLS stops at ``tolPwrss = 1e-7``; that costs it up to ~1% on small
  data sets. Against the converged glmer the log-likelihood agrees to 1e-6 and
  the estimates to 1e-4.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, reference
from scipy import special

from multilevel import _glmm_numerics as num
from multilevel._checks import MultilevelInputError
from multilevel.glmm import fit_glmer
from multilevel.simulate import simulate_red_blue

FITS = reference("glmer_reference")
NON_SINGULAR = [name for name, ref in FITS.items() if not ref["singular"]]
SINGULAR = [name for name, ref in FITS.items() if ref["singular"]]


@cache
def dataset(name: str) -> pd.DataFrame:
    """A data set the R script read, found where its ``reference_data()`` looks."""
    for folder in (ROOT / "tests" / "reference" / "data", ROOT / "data"):
        if (path := folder / f"{name}.csv").exists():
            return pd.read_csv(path)
    raise FileNotFoundError(name)


@cache
def fitted(name: str):
    ref = FITS[name]
    return fit_glmer(dataset(ref["data"]), ref["formula"], n_agq=ref["nAGQ"])


def python_term(r_name: str) -> str:
    return "Intercept" if r_name == "(Intercept)" else r_name


def reference_series(values: dict) -> pd.Series:
    return pd.Series({python_term(k): v for k, v in values.items()})


def assert_close(ours, theirs, abs_tol: float, rel_tol: float = 0.0, what: str = "") -> None:
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    gap = np.abs(ours - theirs)
    allowed = np.maximum(abs_tol, rel_tol * np.abs(theirs))
    assert np.all(gap <= allowed), f"{what}: ours {ours}, glmer {theirs}, gap {gap}"


# ----------------------------------------------------------------- vs glmer
def test_reference_covers_the_required_models():
    formulas = {ref["formula"] for ref in FITS.values()}
    assert "vote ~ state_avg_income * income + (1 + income | state)" in formulas
    agq = {ref["nAGQ"] for name, ref in FITS.items() if name.startswith("red_blue_intercept")}
    assert {1, 2, 5, 10, 25} <= agq
    assert len(SINGULAR) >= 2 and len(NON_SINGULAR) >= 10


@pytest.mark.parametrize("name", sorted(FITS))
def test_loglik_matches_glmer(name):
    ref, fit = FITS[name], fitted(name)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    assert fit.n_obs == ref["n_obs"] and fit.n_groups == ref["n_groups"]
    assert fit.aic == pytest.approx(ref["aic"], abs=2e-3)
    assert fit.bic == pytest.approx(ref["bic"], abs=2e-3)
    assert fit.n_obs - fit.n_params == ref["df_resid"]


@pytest.mark.parametrize("name", sorted(FITS))
def test_singular_flag_matches_glmer(name):
    fit = fitted(name)
    assert fit.is_singular == FITS[name]["singular"]
    assert ("singular" in fit.summary()) == FITS[name]["singular"]


@pytest.mark.parametrize("name", NON_SINGULAR)
def test_estimates_match_glmer(name):
    ref, fit = FITS[name], fitted(name)
    theirs = reference_series(ref["fixef"])
    assert_close(fit.params[theirs.index], theirs, 1e-3, 1e-3, "fixed effects")
    assert_close(fit.random_sd, list(ref["sd"].values()), 1e-3, 1e-3, "random-effect SDs")
    corr = np.atleast_2d(ref["corr"])
    assert_close(fit.random_corr.to_numpy(), corr, 1e-3, 1e-3, "correlations")


@pytest.mark.parametrize("name", sorted(FITS))
def test_standard_errors_match_glmer(name):
    ref, fit = FITS[name], fitted(name)
    assert fit.vcov_method == "hessian"
    theirs = reference_series(ref["se"])
    ours = fit.fixed_effects["std_error"][theirs.index]
    assert_close(ours, theirs, 0.0, 1e-2, "SE vs vcov()")
    converged = ref["converged_pirls"]
    assert "error" not in converged, converged
    assert_close(ours, reference_series(converged["se"])[theirs.index], 0.0, 1e-3, "SE")


@pytest.mark.parametrize("name", sorted(FITS))
def test_matches_glmer_with_converged_pirls(name):
    converged, fit = FITS[name]["converged_pirls"], fitted(name)
    assert fit.loglik == pytest.approx(converged["loglik"], abs=1e-6)
    theirs = reference_series(converged["fixef"])
    assert_close(fit.params[theirs.index], theirs, 1e-4, 1e-4, "fixed effects")
    assert_close(fit.random_sd, list(converged["sd"].values()), 1e-4, 1e-4, "SDs")


@pytest.mark.parametrize("name", NON_SINGULAR)
def test_conditional_modes_match_glmer(name):
    ref, fit = FITS[name], fitted(name)
    terms = [python_term(t) for t in ref["ranef"]["terms"]]
    ours = fit.random_effects.loc[ref["ranef"]["levels"]]
    assert_close(ours[terms].to_numpy(), np.reshape(ref["ranef"]["modes"], (-1, len(terms))), 2e-3)
    condvar = np.reshape(ref["ranef"]["condvar"], (-1, len(terms), len(terms)))
    positions = ours.index.map(fit.random_effects.index.get_loc)
    assert_close(fit.conditional_cov[positions], condvar, 2e-3)
    variances = ours[[f"{t}_var" for t in terms]].to_numpy()
    assert_close(variances, np.diagonal(condvar, axis1=1, axis2=2), 2e-3)


def test_singular_fits_lie_on_the_boundary():
    for name in SINGULAR:
        fit, ref = fitted(name), FITS[name]
        rows, cols = num.theta_index(len(fit.random_cov))
        diagonal = fit.theta[rows == cols]  # Lambda's diagonal: a zero makes Sigma singular
        assert diagonal.min() < 1e-6 and diagonal.min() >= 0
        # At a singular optimum the estimates are less determined; the fixed effects still agree.
        theirs = reference_series(ref["fixef"])
        assert_close(fit.params[theirs.index], theirs, 1e-3, 1e-3, "fixed effects")


@pytest.mark.parametrize("prefix", ["red_blue_intercept", "few_groups_intercept"])
def test_quadrature_converges_like_glmer(prefix):
    """More nodes move the log-likelihood towards the 25-node value, by glmer's steps."""
    names = sorted((FITS[n]["nAGQ"], n) for n in FITS if n.startswith(prefix) and "agq" in n)
    names = [(1, prefix)] + names
    ours = np.array([fitted(n).loglik for _, n in names])
    theirs = np.array([FITS[n]["loglik"] for _, n in names])
    ours_gap, their_gap = np.abs(ours - ours[-1]), np.abs(theirs - theirs[-1])
    assert_close(ours_gap, their_gap, 1e-4, what="distance from nAGQ=25")
    assert ours_gap[0] > 10 * ours_gap[-2]  # Laplace is clearly further off than 20 nodes
    assert np.all(np.diff(ours_gap[[i for i, (k, _) in enumerate(names) if k in (1, 5, 10)]]) < 0)


# ---------------------------------------------------------------- internals
def test_collapsing_rows_leaves_the_loglik_unchanged():
    data = dataset("red_blue_simulated").iloc[::10]
    merged = fit_glmer(data, "vote ~ income + (1 + income | state)")
    rowwise = fit_glmer(data, "vote ~ income + (1 + income | state)", collapse=False)
    assert merged.n_cells < rowwise.n_cells == len(data)
    assert merged.loglik == pytest.approx(rowwise.loglik, abs=1e-7)
    assert_close(merged.params, rowwise.params, 1e-5)
    # The deviance at one parameter value, row by row and in counts.
    x = np.c_[np.ones(len(data)), data["income"]]
    codes = pd.factorize(data["state"], sort=True)[0]
    y = data["vote"].to_numpy(float)
    params = np.array([0.5, -0.1, 0.2, 0.1, 0.3])
    values = [
        num.Objective(num.collapse(x, x, codes, y, merge), 1)(params) for merge in (True, False)
    ]
    assert values[0] == pytest.approx(values[1], rel=1e-12)


def test_laplace_gradient_equals_finite_differences():
    data = dataset("glmm_two_covariates")
    x = np.c_[np.ones(len(data)), data["x"], data["x2"]]
    cells = num.collapse(x, x, pd.factorize(data["group"])[0], data["y"].to_numpy(float), True)
    objective = num.Objective(cells, 1)
    params = np.array([0.6, 0.2, -0.2, 0.3, 0.1, 0.2, -0.3, 0.5, -0.4])
    _, gradient = objective.value_and_gradient(params)
    step = 1e-6
    shifts = np.eye(9) * step
    numeric = [(objective(params + e) - objective(params - e)) / (2 * step) for e in shifts]
    assert_close(gradient, numeric, 1e-4, 1e-6, "gradient")


def test_recovers_the_simulated_truth():
    """Many respondents per state: the estimates centre on the truth, within sampling error."""
    truth = {
        "Intercept": 0.1,
        "state_avg_income": -1.0,
        "income": 0.2,
        "state_avg_income:income": -0.6,
    }
    sd_intercept, sd_slope, correlation = 0.3, 0.1, -0.3
    estimates, errors, sds = [], [], []
    for seed in range(8):
        data = simulate_red_blue(
            seed=100 + seed,
            n_respondents=100_000,
            intercept=truth["Intercept"],
            intercept_by_state_income=truth["state_avg_income"],
            income_slope=truth["income"],
            slope_by_state_income=truth["state_avg_income:income"],
            sd_intercept=sd_intercept,
            sd_slope=sd_slope,
            correlation=correlation,
        )
        fit = fit_glmer(data, "vote ~ state_avg_income * income + (1 + income | state)")
        estimates.append(fit.params[list(truth)])
        errors.append(fit.fixed_effects["std_error"][list(truth)])
        sds.append([*fit.random_sd, fit.random_corr.iloc[1, 0]])
    mean, se = pd.concat(estimates, axis=1).mean(axis=1), pd.concat(errors, axis=1).mean(axis=1)
    assert np.all(np.abs(mean - pd.Series(truth)) < 3.5 * se / np.sqrt(8))
    mean_sd = np.mean(sds, axis=0)
    # SD of an SD estimated from 48 states is about sd / sqrt(2 * 47); the mean of 8 fits.
    assert abs(mean_sd[0] - sd_intercept) < 4 * sd_intercept / np.sqrt(94 * 8)
    assert abs(mean_sd[1] - sd_slope) < 4 * sd_slope / np.sqrt(94 * 8) + 0.01
    assert abs(mean_sd[2] - correlation) < 0.25


def test_red_blue_simulation_has_the_papers_design():
    data = simulate_red_blue()
    assert list(data.columns) == ["state", "income", "vote", "state_avg_income"]
    assert data.equals(simulate_red_blue())
    sizes = data.groupby("state").size()
    assert len(sizes) == 48 and not {"Alaska", "Hawaii"} & set(sizes.index)
    assert 20_000 <= len(data) <= 25_000 and sizes.min() < 50 and sizes.max() > 2_000
    assert set(data["income"]) == set(range(-2, 3)) and set(data["vote"]) == {0, 1}
    averages = data.groupby("state")["state_avg_income"].agg(["min", "max"])
    assert (averages["min"] == averages["max"]).all()
    means = data.groupby("state")["income"].mean().round(4)
    np.testing.assert_allclose(averages["min"], means, atol=1e-12)
    # The fitted within-state income slopes: steep in Mississippi, flat in Connecticut.
    fit = fitted("red_blue_cross_level")
    beta, b = fit.params, fit.random_effects["income"]
    slope = beta["income"] + beta["state_avg_income:income"] * averages["min"] + b
    assert 0.3 < slope["Mississippi"] < 0.55 and -0.1 < slope["Connecticut"] < 0.15
    assert slope["Connecticut"] < slope["Ohio"] < slope["Mississippi"]
    with pytest.raises(MultilevelInputError, match="n_respondents"):
        simulate_red_blue(n_respondents=10)


# -------------------------------------------------------------- the results
def test_predict_new_groups_follow_the_population_curve():
    fit = fitted("red_blue_cross_level")
    income = np.arange(-2, 3)
    new = pd.DataFrame({"state": "Atlantis", "income": income, "state_avg_income": 0.1})
    beta = fit.params
    population = special.expit(
        beta["Intercept"]
        + beta["state_avg_income"] * 0.1
        + (beta["income"] + beta["state_avg_income:income"] * 0.1) * income
    )
    np.testing.assert_allclose(fit.predict(new), population, rtol=1e-12)
    np.testing.assert_allclose(fit.predict(new, include_random=False), population, rtol=1e-12)
    with pytest.raises(MultilevelInputError, match="were not in the fitted data"):
        fit.predict(new, new_groups="error")


def test_predict_known_groups_use_their_conditional_modes():
    fit = fitted("red_blue_cross_level")
    rows = dataset("red_blue_simulated").groupby("state").head(3)
    b = fit.random_effects.loc[rows["state"]]
    beta = fit.params
    avg, income = rows["state_avg_income"].to_numpy(), rows["income"].to_numpy()
    intercept = beta["Intercept"] + beta["state_avg_income"] * avg + b["Intercept"].to_numpy()
    slope = beta["income"] + beta["state_avg_income:income"] * avg + b["income"].to_numpy()
    expected = special.expit(intercept + slope * income)
    predicted = fit.predict(rows)
    np.testing.assert_allclose(predicted, expected, rtol=1e-12)
    assert predicted.index.equals(rows.index)
    assert not np.allclose(predicted, fit.predict(rows, include_random=False))


def test_summary_reads_like_glmer():
    fit = fitted("red_blue_slope")
    text = fit.summary()
    for piece in ("Laplace Approximation", "Random effects:", "Fixed effects:", "Corr",
                  "Number of obs: 22003, groups:  state, 48", f"{fit.loglik:.1f}"):
        assert piece in text
    assert "nAGQ = 25" in fitted("red_blue_intercept_agq25").summary()


def test_formula_and_arguments_give_the_same_fit():
    data = dataset("glmm_few_groups")
    a = fit_glmer(data, "y ~ x + (1 + x | group)")
    b = fit_glmer(data, "y ~ x", group="group", random="1 + x")
    assert a.loglik == b.loglik and a.formula == b.formula


def test_normal_fits_raise_no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_glmer(dataset("glmm_singular"), "y ~ x + (1 + x | group)")
    assert fit.converged and fit.is_singular


# ---------------------------------------------------------------- bad input
@pytest.fixture
def small() -> pd.DataFrame:
    return dataset("glmm_few_groups").copy()


@pytest.mark.parametrize(
    ("change", "formula", "kwargs", "message"),
    [
        (lambda d: d.assign(y=d["y"] * 2), "y ~ x + (1 | group)", {}, "must be binary"),
        (lambda d: d, "y ~ income + (1 | group)", {}, r"not found in the data"),
        (lambda d: d, "y ~ x + (1 | county)", {}, r"not found in the data"),
        (lambda d: d.assign(x=d["x"].where(d.index > 3)), "y ~ x + (1 | group)", {}, "missing"),
        (lambda d: d.assign(group="g01"), "y ~ x + (1 | group)", {}, "at least 2 groups"),
        (lambda d: d.assign(x=d["x"].astype(str)), "y ~ x + (1 | group)", {}, "must be numeric"),
        (lambda d: d.assign(y=1), "y ~ x + (1 | group)", {}, "needs both 0s and 1s"),
        (lambda d: d, "y x + (1 | group)", {}, "must be a string like"),
        (lambda d: d, "y ~ x +", {"group": "group"}, "cannot parse"),
        (lambda d: d, "log(y) ~ x", {"group": "group"}, "must be one column name"),
        (lambda d: d, "y ~ x", {}, "name the grouping column"),
        (lambda d: d, "y ~ x", {"group": "group", "random": "1 | group"}, "right-hand side"),
        (lambda d: d, "y ~ x", {"group": "group", "random": "x +"}, "cannot parse"),
        (lambda d: d, "y ~ x + (1 | group) + (0 + x | group)", {}, "only one random-effects term"),
        (lambda d: d, "y ~ x + (1 | group)", {"group": "group"}, "not both"),
        (lambda d: d, "y ~ x + (1 + x | group)", {"n_agq": 5}, "single random effect"),
        (lambda d: d, "y ~ x + (1 | group)", {"n_agq": 30}, "from 1 to 25"),
        (lambda d: d.assign(x2=2 * d["x"]), "y ~ x + x2 + (1 | group)", {}, "linearly dependent"),
    ],
)
def test_bad_input_gets_a_clear_error(small, change, formula, kwargs, message):
    with pytest.raises(MultilevelInputError, match=message):
        fit_glmer(change(small), formula, **kwargs)


def test_not_a_dataframe():
    with pytest.raises(MultilevelInputError, match="must be a pandas DataFrame"):
        fit_glmer([[0, 1]], "y ~ x + (1 | group)")
