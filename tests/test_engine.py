"""The engine's numerical pieces against each other and against finite differences.

The fixtures (tests/test_mixed_fixtures.py, tests/test_mixed_reference.py) check whole fits
against lme4; these tests pin the pieces that make those fits fast, so that a wrong shortcut
fails here with a pointed message: the four implementations of ``A = Lambda'Z'WZ Lambda + I``
agree, the linear deviance's exact gradient equals central differences, and a response far
from zero gives the same fit as one near it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import reference
from fixture_rows import linear_rows, reference_csv

import multilevel
from multilevel.mixed.fit import _model_data, _scaled
from multilevel.mixed.linear import LinearDeviance
from multilevel.mixed.pls import BlockedSystem, DenseSystem, SparseSystem, penalized_system


def crossed_rows(slope: bool, seed: int = 3) -> pd.DataFrame:
    """600 rows, a 400-level factor g (with a slope on x if ``slope``) and a 30-level factor h."""
    rng = np.random.default_rng(seed)
    g, h, x = rng.integers(0, 400, 600), rng.integers(0, 30, 600), rng.normal(size=600)
    y = 1 + 0.5 * x + rng.normal(0, 0.8, 400)[g] + rng.normal(0, 0.5, 30)[h] + rng.normal(size=600)
    if slope:
        y += rng.normal(0, 0.3, 400)[g] * x
    return pd.DataFrame({"y": y, "x": x, "g": g, "h": h})


@pytest.mark.parametrize("formula, slope, systems", [
    # scalar terms: the blocked system's fixed sparse maps against the general systems
    ("y ~ x + (1 | g) + (1 | h)", False, (BlockedSystem, DenseSystem, SparseSystem)),
    ("y ~ x + (1 + x | g) + (1 | h)", True, (SparseSystem, DenseSystem)),  # a vector term
])
def test_blocked_dense_and_sparse_systems_agree(formula, slope, systems):
    model = _model_data(formula, crossed_rows(slope))
    assert isinstance(penalized_system(model), systems[0])  # q = 430 or 830: not dense
    theta = np.linspace(0.3, 0.9, model.n_theta)
    weights = np.random.default_rng(0).uniform(0.2, 1.5, len(model.y))  # PIRLS-like weights
    rhs = np.random.default_rng(1).normal(size=(model.q, 2))
    results = []
    for system in (kind(model) for kind in systems):
        system.set_theta(theta)
        logdet = system.factor(system.ztwz(weights))
        blocks = np.concatenate([b.ravel() for b in system.inverse_blocks()])
        results.append((type(system).__name__, logdet, system.solve(rhs), blocks))
    for name, logdet, solved, blocks in results[1:]:
        assert logdet == pytest.approx(results[0][1], rel=1e-12), name
        np.testing.assert_allclose(solved, results[0][2], rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(blocks, results[0][3], rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("fixture, name", [
    ("lmer_engine", "penicillin_crossed_reml"),  # dense system
    ("lmer_levels", "scots_crossed_ml"),  # dense system, covariates
    ("lmer_levels", "star_schtype_reml"),  # blocked system
])
@pytest.mark.parametrize("reml", [True, False])
def test_linear_exact_gradient_equals_central_differences(fixture, name, reml):
    ref = reference(fixture)[name]
    rows = reference_csv(ref["data"]) if fixture == "lmer_engine" else linear_rows(fixture, name)
    model = _model_data(ref["formula"], rows)
    scaled, scale = _scaled(model)
    deviance = LinearDeviance(scaled, reml, x_scale=scale)
    assert deviance.has_gradient
    theta = np.linspace(0.3, 1.1, model.n_theta)
    _, gradient = deviance.value_and_gradient(theta)
    step = np.eye(len(theta)) * 1e-6
    central = [(deviance(theta + e) - deviance(theta - e)) / 2e-6 for e in step]
    np.testing.assert_allclose(gradient, central, rtol=1e-5, atol=1e-4)


def test_a_response_far_from_zero_gives_the_same_fit():
    """Adding 1e5 to the response moves the intercept by 1e5 and nothing else.

    The profiled deviance is computed from cross-products; without working on the OLS
    residual, a response this far from zero loses digits to cancellation.
    """
    rows = linear_rows("lmer_levels", "star_schtype_reml")
    near = multilevel.lmer("math ~ cltype + (1 | sch) + (1 | tch)", rows)
    far = multilevel.lmer("math ~ cltype + (1 | sch) + (1 | tch)",
                          rows.assign(math=rows["math"] + 1e5))
    np.testing.assert_allclose(far.theta, near.theta, rtol=1e-7)
    assert far.llf == pytest.approx(near.llf, abs=1e-7)
    shift = pd.Series(0.0, index=near.params.index)
    shift["(Intercept)"] = 1e5
    np.testing.assert_allclose(far.params, near.params + shift, rtol=1e-9)
