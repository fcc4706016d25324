"""The front doors: :func:`lmer` and :func:`glmer`, with lme4's checks and warnings."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from multilevel._checks import MultilevelInputError, require_dataframe
from multilevel.logit import _separation
from multilevel.mixed.formula import parse_formula
from multilevel.mixed.glm import FAMILIES, GlmmDeviance, collapse_cells
from multilevel.mixed.linear import LinearDeviance
from multilevel.mixed.optimize import minimize_deviance
from multilevel.mixed.pls import BlockSystem, DenseSystem, one_blas_thread
from multilevel.mixed.result import MixedModelResult, MixedModelWarning
from multilevel.mixed.terms import ModelData, build_model_data

__all__ = ["fit_glmm", "fit_linear", "glmer", "lmer"]


def _model_data(formula: str, data: object) -> ModelData:
    frame = require_dataframe(data)
    if frame.empty:
        raise MultilevelInputError("the data frame is empty: there is nothing to fit.")
    model = build_model_data(parse_formula(formula), frame)
    for term in model.terms:
        if term.n_levels < 2:
            raise MultilevelInputError(
                f"the grouping factor {term.group!r} has {term.n_levels} level: random effects "
                "need at least two groups (lme4: 'grouping factors must have > 1 sampled level'). "
                "Drop the term or use a factor with several groups."
            )
    for what, values in (("response", model.y), ("fixed-effects columns", model.X),
                         ("offset", model.offset)):
        if not np.all(np.isfinite(values)):
            raise MultilevelInputError(
                f"the {what} hold infinite values; remove or recode them before fitting "
                "(e.g. a log of zero).")
    names, X = model.x_names, model.X
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        q, r = np.linalg.qr(X)
        dependent = [n for n, d in zip(names, np.abs(np.diag(r))) if d < 1e-10 * np.abs(r).max()]
        raise MultilevelInputError(
            f"the fixed-effects columns are collinear ({X.shape[1]} columns, rank {rank}); "
            f"{dependent or names} can be written from the others. Drop one of them, or check for "
            "a covariate that is constant or the same as another."
        )
    _check_scale(X, names)
    return model


def _check_scale(X: np.ndarray, names: list[str]) -> None:
    """lme4's ``checkScaleX``: warn when continuous columns' SDs differ by more than 1000x."""
    continuous = [j for j in range(X.shape[1]) if not np.isin(X[:, j], (0.0, 1.0)).all()]
    sd = X[:, continuous].std(axis=0, ddof=1) if continuous else np.array([])
    sd = sd[sd > 0]
    if sd.size and (np.abs(np.log(sd)).max() > np.log(1e3)
                    or np.log(sd.max() / sd.min()) > np.log(1e3)):
        shown = ", ".join(f"{names[j]} (SD {s:.3g})" for j, s in zip(continuous, sd))
        warnings.warn(
            f"some predictor variables are on very different scales: {shown}. The estimates are "
            "computed on rescaled columns and are accurate, but consider rescaling (e.g. income "
            "in $10,000s) so that coefficients are readable (lme4 warns likewise).",
            MixedModelWarning, stacklevel=3,
        )


def _scaled(model: ModelData) -> tuple[ModelData, np.ndarray]:
    """``X`` with its columns divided by their SDs (intercept and constant columns kept)."""
    sd = model.X.std(axis=0)
    scale = np.where(sd > 0, sd, 1.0)
    return replace(model, X=model.X / scale), scale


def lmer(formula: str, data: pd.DataFrame, REML: bool = True) -> MixedModelResult:  # noqa: N803
    """Fit a linear mixed model by (restricted) maximum likelihood, as lme4's ``lmer``.

    The relative covariance parameters ``theta`` are the only ones optimised: for given
    ``theta`` the fixed effects and the residual variance have closed forms (the
    profiled deviance of Bates et al. 2015). One random term uses a block-diagonal
    factorisation; several (nested or crossed) a dense, blocked or sparse one, by size.

    Parameters
    ----------
    formula
        An lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``; see
        ``multilevel.mixed.formula.parse_formula`` for the random-term syntax.
    data
        One row per observation.
    REML
        Restricted maximum likelihood (lme4's default) or maximum likelihood.

    Returns
    -------
    MixedModelResult

    Examples
    --------
    >>> from multilevel.data import load_csv
    >>> fit = lmer("score ~ hours + (1 | student)", load_csv("students_exams"))
    >>> fit.ngroups, fit.is_singular
    ({'student': 100}, False)
    """
    model = _model_data(formula, data)
    y = model.y
    if np.ptp(y) == 0:
        raise MultilevelInputError(
            f"the response {model.parsed.response!r} is constant ({y[0]:g} in every row): there "
            "is no variation to model."
        )
    n = len(y)
    for term in model.terms:
        if term.n_levels * term.p >= n:
            raise MultilevelInputError(
                f"the term ({term.term.expr} | {term.group}) has {term.n_levels * term.p} random "
                f"effects for {n} observations: the group and residual variances cannot be told "
                "apart (lme4: 'number of levels of each grouping factor must be < number of "
                "observations'). Use a factor with fewer groups than rows, or fit a model "
                "without this random effect."
            )
    residual = y - model.offset - model.X @ np.linalg.lstsq(model.X, y - model.offset, rcond=None)[0]
    if residual @ residual <= 1e-20 * np.sum((y - y.mean()) ** 2):
        raise MultilevelInputError(
            "the fixed effects reproduce the response exactly (no residual variation): a "
            "mixed model cannot estimate any variance. Check that the response is not computed "
            "from the covariates."
        )
    return fit_linear(model, REML)


@one_blas_thread
def fit_linear(model: ModelData, reml: bool) -> MixedModelResult:
    """Fit checked model data (also used to refit for profiles and the bootstrap)."""
    scaled, scale = _scaled(model)
    deviance = LinearDeviance(scaled, reml, x_scale=scale)
    # Scalar terms: L-BFGS-B on the exact gradient; otherwise bobyqa, as lmer. The Nelder-Mead
    # polish near the boundary costs too many evaluations where each factorises thousands
    # of random effects.
    exact = deviance.value_and_gradient if deviance.has_gradient else None
    optimum = minimize_deviance(deviance, model.theta_start(), model.theta_lower(),
                                model.is_diagonal_theta(), derivative_free=exact is None,
                                value_and_gradient=exact, polish=model.q <= 2000,
                                newton=model.q <= 2000)
    return MixedModelResult.from_linear(model, deviance, scale, optimum)


def _response_for_family(model: ModelData, family: str, weights, data: pd.DataFrame) -> ModelData:
    """Check the response for ``family`` and put the binomial trials in place."""
    y, name = model.y, model.parsed.response
    if weights is not None:
        if family != "binomial":
            raise MultilevelInputError(
                "weights= are the numbers of trials of a binomial proportion; a Poisson model "
                "takes its exposure as offset=np.log(exposure) instead."
            )
        w = data[weights].to_numpy(float) if isinstance(weights, str) else np.asarray(weights, float)
        w = w[data.index.get_indexer(model.index)] if len(w) == len(data) else w
        if w.shape != y.shape or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise MultilevelInputError(
                f"weights must be {len(y)} positive numbers of trials, one per row.")
        if np.any((y < 0) | (y > 1)):
            raise MultilevelInputError(
                f"with weights, the response {name!r} must be a proportion between 0 and 1.")
        if not np.allclose(y * w, np.round(y * w), atol=1e-8):
            warnings.warn("non-integer numbers of successes (response x weights) in a binomial "
                          "fit (lme4 warns likewise).", MixedModelWarning, stacklevel=3)
        return replace(model, trials=w)
    if family == "binomial" and model.parsed.cbind is None:
        values = np.unique(y)
        if not np.isin(values, (0.0, 1.0)).all():
            hint = ("For proportions, give the numbers of trials as weights=, or write the "
                    "response as cbind(successes, failures).") if np.all((y >= 0) & (y <= 1)) \
                else f"Recode it as 0/1, e.g. (data[{name!r}] == 'yes').astype(int)."
            raise MultilevelInputError(
                f"the response {name!r} of a binomial model must be 0 or 1; found values "
                f"{values[:6].tolist()}. {hint}")
    if np.ptp(y) == 0 and model.parsed.cbind is None and weights is None:
        raise MultilevelInputError(
            f"the response {name!r} is constant ({y[0]:g} in every row): there is no variation "
            "to model (lme4: 'Response is constant')."
        )
    if family == "binomial" and model.parsed.cbind is not None:
        successes = y * model.trials
        if np.any(successes < 0) or np.any(model.trials - successes < 0) or \
                not np.allclose(successes, np.round(successes)):
            raise MultilevelInputError(
                "cbind(successes, failures) needs two columns of non-negative whole numbers.")
    if family == "poisson":
        if np.any(y < 0) or not np.allclose(y, np.round(y)):
            bad = y[(y < 0) | ~np.isclose(y, np.round(y))][:5].tolist()
            raise MultilevelInputError(
                f"the response {name!r} of a Poisson model must be counts (0, 1, 2, ...); found "
                f"{bad}. For rates, model the counts with offset=np.log(exposure)."
            )
    return model


def glmer(
    formula: str,
    data: pd.DataFrame,
    family: str = "binomial",
    nAGQ: int = 1,  # noqa: N803
    weights=None,
    offset=None,
) -> MixedModelResult:
    """Fit a generalized linear mixed model by maximum likelihood, as lme4's ``glmer``.

    The likelihood is integrated over the random effects by the Laplace approximation
    (``nAGQ=1``) or, for one scalar random term, adaptive Gauss-Hermite quadrature with
    ``nAGQ`` nodes; ``(theta, beta)`` are optimised jointly, as ``glmer``'s second stage.

    Parameters
    ----------
    formula
        An lme4 formula; for binomial data the response is 0/1, a proportion (with
        ``weights`` the trials), or ``cbind(successes, failures)``.
    data
        One row per observation (or per binomial cell).
    family
        ``"binomial"`` (logit link) or ``"poisson"`` (log link).
    nAGQ
        Quadrature nodes per group; 1 is the Laplace approximation.
    weights
        Binomial trials, a column name or one number per row.
    offset
        A column name or one number per row added to the linear predictor, e.g.
        ``np.log(exposure)``; ``offset(log(exposure))`` in the formula does the same.

    Returns
    -------
    MixedModelResult

    Examples
    --------
    >>> from multilevel.data import load_csv
    >>> fit = glmer("vote ~ income + (1 | state)", load_csv("red_blue_simulated"))
    >>> fit.family, fit.ngroups
    ('binomial', {'state': 48})
    """
    if family not in FAMILIES:
        raise MultilevelInputError(
            f"family must be one of {sorted(FAMILIES)}, got {family!r}. (For a continuous "
            "response use lmer.)")
    if not isinstance(nAGQ, (int, np.integer)) or nAGQ < 1 or nAGQ > 50:
        raise MultilevelInputError(f"nAGQ must be a whole number from 1 to 50, got {nAGQ!r}.")
    model = _model_data(formula, data)
    if nAGQ > 1 and (len(model.terms) > 1 or model.terms[0].p > 1):
        raise MultilevelInputError(
            "nAGQ > 1 is only available for a model with one scalar random-effects term, such "
            "as (1 | group) (lme4 has the same rule); use nAGQ=1 (Laplace) here.")
    model = _response_for_family(model, family, weights, data)
    if offset is not None:
        values = data[offset].to_numpy(float) if isinstance(offset, str) else \
            np.asarray(offset, float)
        if values.shape != (len(data),) or not np.all(np.isfinite(values)):
            raise MultilevelInputError(
                f"offset must be a column name or {len(data)} finite numbers, one per row.")
        model = replace(model, offset=model.offset + values[data.index.get_indexer(model.index)])
    result = fit_glmm(model, family, nAGQ)
    if result.separated:
        warnings.warn(
            "the fixed effects separate the outcomes (complete or quasi-complete separation): "
            "some estimates are really infinite and the reported values and standard errors are "
            "meaningless. Remove or combine the covariate that separates, or use a Bayesian fit "
            "with a prior on the coefficients.", MixedModelWarning, stacklevel=2)
    return result


@one_blas_thread
def fit_glmm(model: ModelData, family: str, nAGQ: int) -> MixedModelResult:  # noqa: N803
    """Fit checked model data (also used to refit for profiles and the bootstrap)."""
    fam = FAMILIES[family]
    # The binomial coefficients of 0/1 rows are all 1, which is why lme4 reports none.
    constant = fam.constant(model.y * model.trials, model.trials)
    cells, _ = collapse_cells(model)
    scaled, scale = _scaled(cells)
    deviance = GlmmDeviance(scaled, fam, nAGQ, constant)
    beta0 = deviance.glm_start()
    separated = family == "binomial" and _separated(cells, beta0 / scale)
    start = np.r_[model.theta_start(), beta0]
    lower = np.r_[model.theta_lower(), np.full(len(beta0), -np.inf)]
    mask = np.r_[model.is_diagonal_theta(), np.zeros(len(beta0), bool)]
    laplace = deviance if nAGQ == 1 else GlmmDeviance(scaled, fam, 1, constant)
    system = laplace.system
    exact = laplace.value_and_gradient if isinstance(system, BlockSystem) or \
        (isinstance(system, DenseSystem) and system.diagonal) else None
    n_theta = model.n_theta
    vector_terms = any(term.p > 1 for term in model.terms)
    optimum = minimize_deviance(
        laplace, start, lower, mask, polish=False, value_and_gradient=exact,
        canonical=(lambda x: np.r_[model.canonical_theta(x[:n_theta]), x[n_theta:]])
        if vector_terms else None)
    if nAGQ > 1:
        deviance.u = laplace.u
        optimum = minimize_deviance(deviance, optimum.x, lower, mask, starts=(1.0,), polish=False)
    result = MixedModelResult.from_glmm(model, deviance, scale, optimum, warn=not separated)
    result.separated = separated
    result.converged = result.converged and not separated
    return result


def _separated(cells: ModelData, glm_beta: np.ndarray) -> bool:
    """Do the fixed-effects columns alone separate successes from failures?

    When the logistic regression without random effects has a finite maximum (its Newton
    iteration converged to fitted probabilities away from 0 and 1), nothing separates
    (Albert and Anderson 1984) and the linear programmes are not needed.
    """
    eta = cells.offset + cells.X @ glm_beta
    if np.all(np.isfinite(eta)) and np.abs(eta).max() < 15:
        return False
    successes = cells.y * cells.trials
    has_success, has_failure = successes > 0, cells.trials - successes > 0
    x = np.vstack([cells.X[has_success], cells.X[has_failure]])
    y = np.r_[np.ones(has_success.sum()), np.zeros(has_failure.sum())]
    return _separation(x, y) != "none"
