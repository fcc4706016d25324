"""The Bayesian chapter (chapters/bayesian.md): its data, its model code and its glued results.

The model code is the chapter's own: the functions defined in its code cells are
executed here (nothing else of the chapter runs), so that a change to the chapter's
model is tested too. Sampling here uses a few dozen draws; the long runs happen in
the book build, whose glued numbers the ``book`` tests read.
"""

from __future__ import annotations

import ast
import warnings

import jupytext
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, glued
from scipy import special

from multilevel import data

CHAPTER = "chapters/bayesian"
PARAMETERS = ["mu_alpha", "mu_beta", "sigma_alpha", "sigma_beta", "rho"]


def quiet_imports():
    """Import the Bayesian stack as the chapter does, without its once-a-day notices."""
    warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing", category=FutureWarning)
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS",
                            category=UserWarning)
    import nutpie
    import pymc as pm

    return pm, nutpie


@pytest.fixture(scope="module")
def chapter():
    """The chapter's functions and upper-case constants, defined from its code cells."""
    pm, nutpie = quiet_imports()
    import multilevel

    votes = data.load_csv("red_blue_simulated")
    namespace = {"np": np, "pd": pd, "pm": pm, "nutpie": nutpie, "special": special,
                 "warnings": warnings, "multilevel": multilevel, "votes": votes}
    notebook = jupytext.read(ROOT / f"{CHAPTER}.md")
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                exec(compile(ast.Module(body=[node], type_ignores=[]), CHAPTER, "exec"), namespace)
            elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id.isupper()
                                                      for t in node.targets):
                try:
                    exec(compile(ast.Module(body=[node], type_ignores=[]), CHAPTER, "exec"),
                         namespace)
                except NameError:  # a constant computed from the chapter's data, not needed here
                    pass
    return namespace


@pytest.fixture(scope="module")
def poll():
    return data.load_csv("red_blue_small_poll")


def test_small_poll_is_every_tenth_row_of_the_survey(poll):
    survey = data.load_csv("red_blue_simulated")
    pd.testing.assert_frame_equal(poll, survey.iloc[::10].reset_index(drop=True))
    assert len(poll) == 2201 and poll["state"].nunique() == 48


def test_collapsed_binomial_likelihood_equals_the_bernoulli_one(chapter, poll):
    # The chapter's model, once with one "cell" per voter (a binomial with n = 1 is a
    # Bernoulli) and once with the collapsed state-and-income counts.
    voters = poll.assign(republican=poll["vote"], voters=1,
                         state_idx=pd.Categorical(poll["state"], categories=chapter["STATES"]).codes)
    cells = chapter["to_cells"](poll)
    assert cells["voters"].sum() == len(poll)
    logliks = []
    for frame in (voters, cells):
        model = chapter["multilevel_logit"](frame)
        loglik = model.compile_logp(vars=[model["republican_obs"]], jacobian=False)
        logliks.append(loglik)
    constant = (special.gammaln(cells["voters"] + 1) - special.gammaln(cells["republican"] + 1)
                - special.gammaln(cells["voters"] - cells["republican"] + 1)).sum()
    rng = np.random.default_rng(1)
    point = chapter["multilevel_logit"](cells).initial_point()
    for _ in range(3):
        values = {name: value + rng.normal(0, 0.3, np.shape(value)) for name, value in point.items()}
        bernoulli, binomial = (float(f(values)) for f in logliks)
        assert bernoulli == pytest.approx(binomial - constant, abs=1e-6)


def test_sampler_with_a_fixed_seed_gives_identical_draws(chapter, poll):
    # A few states only: the same model code, a small compile and a short run.
    cells = chapter["to_cells"](poll[poll["state"].isin(chapter["STATES"][::6])])
    compiled = chapter["nutpie"].compile_pymc_model(chapter["multilevel_logit"](cells))
    first, second = (chapter["sample"](compiled, seed=7, draws=40, tune=40) for _ in range(2))
    for name in ("mu", "sigma", "rho", "b"):
        np.testing.assert_array_equal(first.posterior[name].values, second.posterior[name].values)
    third = chapter["sample"](compiled, seed=8, draws=40, tune=40)
    assert not np.array_equal(first.posterior["mu"].values, third.posterior["mu"].values)


def test_simulation_of_boundary_fits_is_reproducible(chapter):
    runs = []
    for _ in range(2):
        rng = np.random.default_rng(chapter["SEED"])
        cells, effects = chapter["simulate_survey"](8, 10, rng)
        fit, caught = chapter["fit_ml"](cells)
        runs.append((cells, effects, fit.params.to_numpy(), fit.theta, fit.is_singular))
    pd.testing.assert_frame_equal(runs[0][0], runs[1][0])
    for a, b in zip(runs[0][1:], runs[1][1:]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.book
def test_reported_model_converged():
    values = glued(CHAPTER)
    assert values["bayes_rhat_max"] <= 1.01
    assert values["bayes_ess_bulk_min"] >= 400
    assert values["bayes_divergences"] == 0
    # The centred demonstration is there to diverge: on the whole poll it may or may not
    # (the funnel is mild there), on eight of its states it must, more than the non-centred.
    assert values["bayes_centred_divergences"] >= 0
    assert values["bayes_centred_divergences_eight"] > values["bayes_noncentred_divergences_eight"]


@pytest.mark.book
def test_full_survey_posterior_agrees_with_glmer():
    values = glued(CHAPTER)
    for name in PARAMETERS:
        mean, sd, ml = (values[f"bayes_full_{name}_{part}"] for part in ("mean", "sd", "ml"))
        assert abs(mean - ml) <= 2 * sd, f"{name}: posterior {mean:.4f} (sd {sd:.4f}), glmer {ml:.4f}"
    assert values["bayes_full_income_mean"] == pytest.approx(values["bayes_full_mu_beta_mean"])


@pytest.mark.book
def test_issue_glue_names_are_there_with_sensible_values():
    values = glued(CHAPTER)
    assert values["bayes_poll_rows"] == 2201
    assert isinstance(values["bayes_ml_singular"], bool)
    assert values["bayes_ml_sd_income"] >= 0
    lower, mean, upper = (values[f"bayes_post_sd_income_{part}"] for part in ("lower", "mean", "upper"))
    assert 0 < lower < mean < upper
    assert 0 < values["bayes_post_income_mean"] < 0.5
    assert 0 < values["bayes_full_income_mean"] < 0.5
