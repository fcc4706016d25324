"""The logit mixed model as chapters/glmm-fitting.md explains it, through the public API.

The chapter rebuilds ``glmer``'s steps from its public pieces (``parse_formula``,
``build_model_data``: ``Z`` and ``Lambda(theta)``) and checks them against the fitted
result (``ranef(condvar=True)``, ``llf``, refits with ``nAGQ``). These tests hold the
pieces and the claims the chapter relies on; every fit against lme4's fixtures is in
``tests/test_mixed_fixtures.py``.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
import fixture_rows
from conftest import glued, reference
from scipy import special

import multilevel
from multilevel import MultilevelInputError, data
from multilevel.mixed.formula import parse_formula
from multilevel.mixed.terms import build_model_data
from multilevel.simulate import simulate_red_blue

FITS = reference("glmer_reference")
INTERCEPT = "vote ~ income + (1 | state)"
CROSS_LEVEL = "vote ~ state_avg_income * income + (1 + income | state)"


@cache
def votes() -> pd.DataFrame:
    return data.load_csv("red_blue_simulated")


@cache
def fitted(formula: str, n_agq: int = 1) -> multilevel.MixedModelResult:
    return multilevel.glmer(formula, votes(), nAGQ=n_agq)


# ----------------------------------------------------------- the public pieces
def test_model_matrices_are_the_chapters_z_and_lambda():
    model = build_model_data(parse_formula(INTERCEPT), votes())
    z = model.z_matrix()
    assert z.shape == (len(votes()), 48) and z.nnz == len(votes())
    np.testing.assert_array_equal(z.sum(axis=1), np.ones(len(votes())))
    # Column j of Z marks the voters of the j-th state in sorted order.
    states = model.terms[0].levels
    assert list(states) == sorted(votes()["state"].unique())
    sizes = votes().groupby("state").size()
    np.testing.assert_array_equal(z.sum(axis=0), sizes.loc[states].to_numpy())
    lam = model.lambda_matrix(np.array([0.4]))
    np.testing.assert_allclose(lam.toarray(), 0.4 * np.eye(48))
    assert model.x_names == ["(Intercept)", "income"]


def test_hand_written_pirls_and_laplace_equal_the_fit():
    """The chapter's numpy PIRLS reproduces ranef(condvar=True) and the Laplace llf."""
    fit = fitted(INTERCEPT)
    model = build_model_data(parse_formula(INTERCEPT), votes())
    zl = model.z_matrix() @ model.lambda_matrix(fit.theta)
    beta, u = fit.params.to_numpy(), np.zeros(48)
    for _ in range(50):
        p = special.expit(model.X @ beta + zl @ u)
        h = 1 + zl.multiply(zl).T @ (p * (1 - p))
        u = u + (zl.T @ (model.y - p) - u) / h
    eta = model.X @ beta + zl @ u
    laplace = np.sum(model.y * eta - np.logaddexp(0, eta)) - 0.5 * u @ u - 0.5 * np.log(h).sum()
    assert laplace == pytest.approx(fit.llf, abs=1e-6)
    ranef = fit.ranef(condvar=True)["state"].loc[model.terms[0].levels]
    np.testing.assert_allclose(ranef["(Intercept)"], fit.theta[0] * u, atol=1e-6)
    np.testing.assert_allclose(ranef["(Intercept)_sd"], fit.theta[0] / np.sqrt(h), rtol=1e-6)


def test_quadrature_converges_like_glmer():
    """More nodes move the log-likelihood towards the 25-node value, by glmer's steps."""
    names = sorted((ref["nAGQ"], name) for name, ref in FITS.items()
                   if name.startswith("red_blue_intercept"))
    ours = np.array([fitted(INTERCEPT, k).llf for k, _ in names])
    theirs = np.array([FITS[name]["loglik"] for _, name in names])
    ours_gap, their_gap = ours[-1] - ours, theirs[-1] - theirs
    np.testing.assert_allclose(ours_gap, their_gap, atol=1e-4)
    assert ours_gap[0] > 10 * abs(ours_gap[-2])  # Laplace is clearly further off than 20 nodes
    assert np.all(np.diff(ours_gap[:4]) < 0)  # 1, 2, 3, 5 nodes: rising steadily here


def test_counts_with_cbind_give_the_row_fit():
    """The chapter's collapsing: cells fitted with cbind() = rows, up to log C(n, k)."""
    rows = votes().iloc[::5]
    cells = rows.groupby(["state", "income"])["vote"].agg(yes="sum", n="size").reset_index()
    cells["no"] = cells["n"] - cells["yes"]
    by_row = multilevel.glmer("vote ~ income + (1 + income | state)", rows)
    by_cell = multilevel.glmer("cbind(yes, no) ~ income + (1 + income | state)", cells)
    log_choose = (special.gammaln(cells["n"] + 1) - special.gammaln(cells["yes"] + 1)
                  - special.gammaln(cells["no"] + 1)).sum()
    assert log_choose > 100
    assert by_cell.llf - log_choose == pytest.approx(by_row.llf, abs=1e-6)
    np.testing.assert_allclose(by_cell.params, by_row.params, atol=1e-5)
    np.testing.assert_allclose(by_cell.theta, by_row.theta, atol=1e-4)


def test_singular_fits_in_the_chapter_are_flagged_without_a_warning():
    no_differences = simulate_red_blue(
        seed=1, n_respondents=2000, intercept_by_state_income=0.0, slope_by_state_income=0.0,
        sd_intercept=0.0, sd_slope=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flat = multilevel.glmer(INTERCEPT, no_differences)
        slope = multilevel.glmer("vote ~ income + (1 + income | state)", no_differences)
    assert flat.is_singular and flat.theta[0] == 0.0
    assert slope.is_singular and slope.theta[-1] < 1e-4 and slope.varcorr["sdcor"].iloc[2] > 0.999
    assert "singular" in str(flat.summary())
    assert not fitted(INTERCEPT).is_singular


def test_quadrature_needs_one_scalar_term():
    with pytest.raises(MultilevelInputError, match="one scalar random-effects term"):
        multilevel.glmer("vote ~ income + (1 + income | state)", votes(), nAGQ=5)


# ------------------------------------------------------------- the simulation
def test_red_blue_simulation_has_the_papers_design():
    frame = simulate_red_blue()
    assert list(frame.columns) == ["state", "income", "vote", "state_avg_income"]
    assert frame.equals(simulate_red_blue())
    sizes = frame.groupby("state").size()
    assert len(sizes) == 48 and not {"Alaska", "Hawaii"} & set(sizes.index)
    assert 20_000 <= len(frame) <= 25_000 and sizes.min() < 50 and sizes.max() > 2_000
    assert set(frame["income"]) == set(range(-2, 3)) and set(frame["vote"]) == {0, 1}
    averages = frame.groupby("state")["state_avg_income"].agg(["min", "max"])
    assert (averages["min"] == averages["max"]).all()
    means = frame.groupby("state")["income"].mean().round(4)
    np.testing.assert_allclose(averages["min"], means, atol=1e-12)
    # The fitted within-state income slopes: steep in Mississippi, flat in Connecticut.
    slope = fitted(CROSS_LEVEL).coef()["state"]
    slope = slope["income"] + slope["state_avg_income:income"] * averages["min"]
    assert 0.3 < slope["Mississippi"] < 0.55 and -0.1 < slope["Connecticut"] < 0.15
    assert slope["Connecticut"] < slope["Ohio"] < slope["Mississippi"]
    with pytest.raises(MultilevelInputError, match="n_respondents"):
        simulate_red_blue(n_respondents=10)


def test_recovers_the_simulated_truth():
    """Many respondents per state: the estimates centre on the truth, within sampling error."""
    truth = {"(Intercept)": 0.1, "state_avg_income": -1.0, "income": 0.2,
             "state_avg_income:income": -0.6}
    sd_intercept, sd_slope, correlation = 0.3, 0.1, -0.3
    estimates, errors, sds = [], [], []
    for seed in range(8):
        frame = simulate_red_blue(
            seed=100 + seed, n_respondents=100_000, intercept=truth["(Intercept)"],
            intercept_by_state_income=truth["state_avg_income"], income_slope=truth["income"],
            slope_by_state_income=truth["state_avg_income:income"], sd_intercept=sd_intercept,
            sd_slope=sd_slope, correlation=correlation)
        fit = multilevel.glmer(CROSS_LEVEL, frame)
        estimates.append(fit.params[list(truth)])
        errors.append(fit.bse[list(truth)])
        sds.append(fit.varcorr["sdcor"].to_numpy()[:3])
    mean, se = pd.concat(estimates, axis=1).mean(axis=1), pd.concat(errors, axis=1).mean(axis=1)
    assert np.all(np.abs(mean - pd.Series(truth)) < 3.5 * se / np.sqrt(8))
    mean_sd = np.mean(sds, axis=0)
    # SD of an SD estimated from 48 states is about sd / sqrt(2 * 47); the mean of 8 fits.
    assert abs(mean_sd[0] - sd_intercept) < 4 * sd_intercept / np.sqrt(94 * 8)
    assert abs(mean_sd[1] - sd_slope) < 4 * sd_slope / np.sqrt(94 * 8) + 0.01
    assert abs(mean_sd[2] - correlation) < 0.25


# ------------------------------------------------------------ the predictions
def test_predict_new_groups_follow_the_population_curve():
    fit = fitted(CROSS_LEVEL)
    income = np.arange(-2, 3)
    new = pd.DataFrame({"state": "Atlantis", "income": income, "state_avg_income": 0.1})
    beta = fit.params
    population = special.expit(
        beta["(Intercept)"] + beta["state_avg_income"] * 0.1
        + (beta["income"] + beta["state_avg_income:income"] * 0.1) * income)
    predicted = fit.predict(new, type="response", allow_new_levels=True)
    np.testing.assert_allclose(predicted, population, rtol=1e-12)
    np.testing.assert_allclose(fit.predict(new, re_form="~0", type="response"), population,
                               rtol=1e-12)
    with pytest.raises(MultilevelInputError, match="Atlantis"):
        fit.predict(new)


def test_predict_known_groups_use_their_conditional_modes():
    fit = fitted(CROSS_LEVEL)
    rows = votes().groupby("state").head(3)
    b = fit.ranef()["state"].loc[rows["state"]]
    beta = fit.params
    avg, income = rows["state_avg_income"].to_numpy(), rows["income"].to_numpy()
    intercept = beta["(Intercept)"] + beta["state_avg_income"] * avg + b["(Intercept)"].to_numpy()
    slope = beta["income"] + beta["state_avg_income:income"] * avg + b["income"].to_numpy()
    predicted = fit.predict(rows, type="response")
    np.testing.assert_allclose(predicted, special.expit(intercept + slope * income), rtol=1e-12)
    assert predicted.index.equals(rows.index)
    assert not np.allclose(predicted, fit.predict(rows, re_form="~0", type="response"))


# --------------------------------------------------------- the chapter's glue
@pytest.mark.book
def test_glmm_fitting_chapter_glue():
    values = glued("chapters/glmm-fitting")
    fits = {ref["nAGQ"]: ref["loglik"] for name, ref in FITS.items()
            if name.startswith("red_blue_intercept")}
    assert values["agq_laplace_gap"] == pytest.approx(fits[25] - fits[1], abs=1e-4)
    assert values["agq_5_gap"] == pytest.approx(fits[25] - fits[5], abs=1e-6)
    assert values["agq_3_gap"] == pytest.approx(fits[25] - fits[3], abs=1e-5)
    # "The test suite checks these settings against lme4's glmer": the same settings.
    assert values["agq_n_settings"] == len(fits)
    assert values["fit_modes_gap"] < 1e-6 and values["fit_condsd_gap"] < 1e-6
    assert values["fit_laplace_gap"] < 1e-6 and values["fit_one_node_gap"] < 1e-6
    assert 0 < values["fit_large_laplace_error"] < values["fit_small_laplace_error"] < 0.01
    assert values["fit_large_sd"] < values["fit_small_sd"]
    # The 25-node totals over states add up to the Laplace gap at the Laplace estimates.
    assert values["ex_laplace_total"] == pytest.approx(values["agq_laplace_gap"], rel=0.05)
    assert values["ex_laplace_slope"] < 0
    assert values["collapse_rows"] == len(votes()) and values["collapse_cells"] == 240
    assert values["collapse_gap"] < 1e-6 and values["collapse_params_gap"] < 1e-4
    assert values["flat_singular"] == "True" and values["flat_theta"] == 0.0
    assert abs(values["ex_flat_cor"]) == pytest.approx(1.0, abs=1e-6)
    assert values["ex_flat_ll_gain"] > 0


def continuous_logit(rows: int = 3000, seed: int = 5) -> pd.DataFrame:
    """0/1 rows, a continuous covariate (no two rows share a binomial cell), two nested factors."""
    rng = np.random.default_rng(seed)
    a, b, x = rng.integers(0, 12, rows), rng.integers(0, 4, rows), rng.normal(size=rows)
    eta = -0.4 + 0.8 * x + rng.normal(0, 0.7, 12)[a] + rng.normal(0, 0.4, 48)[a * 4 + b]
    return pd.DataFrame({"y": (rng.random(rows) < special.expit(eta)).astype(int), "x": x,
                         "a": a, "b": b})


@pytest.mark.parametrize("formula, rows, family", [
    (CROSS_LEVEL, votes, "binomial"),  # one term with a 2 x 2 block per state
    ("y ~ x + (1 + x | a)", continuous_logit, "binomial"),  # 0/1 rows, not collapsed
    ("y ~ x + (1 | a/b)", continuous_logit, "binomial"),  # two scalar terms, dense A
    ("deaths ~ uvb + (1 | nation/region) + offset(log(expected))",
     lambda: fixture_rows.reference_csv("mmmec"), "poisson"),
])
def test_exact_laplace_gradient_equals_central_differences(formula, rows, family):
    """The optimiser's exact gradient of the Laplace deviance, away from the optimum."""
    deviance = multilevel.glmer(formula, rows(), family=family)._deviance
    x = np.r_[np.linspace(0.4, 0.9, deviance.n_theta), np.linspace(-0.3, 0.2, deviance.p)]
    _, gradient = deviance.value_and_gradient(x)
    step = np.eye(len(x)) * 1e-6
    central = [(deviance(x + e) - deviance(x - e)) / 2e-6 for e in step]
    np.testing.assert_allclose(gradient, central, rtol=1e-5, atol=1e-4)


def test_unit_trial_logit_kernel_equals_logaddexp():
    """The log-likelihood of 0/1 rows summed through column products equals np.logaddexp's."""
    rows = continuous_logit(rows=5000)
    deviance = multilevel.glmer("y ~ x + (1 | a)", rows)._deviance
    assert deviance.unit_trials and len(deviance.successes) == 5000
    rng = np.random.default_rng(0)
    # Probabilities down to 1e-17, and all near 1/2 (every factor near 2: the overflow risk).
    for eta in (rng.normal(0, 8, 5000), rng.uniform(-0.01, 0.01, 5000)):
        direct = np.sum(deviance.successes * eta - np.logaddexp(0.0, eta))
        assert deviance._kernel_total(eta) == pytest.approx(direct, rel=1e-13)
