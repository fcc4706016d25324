"""Maximum-likelihood logistic multilevel models, fitted the way lme4's ``glmer`` fits them.

statsmodels has no maximum-likelihood GLMM (its ``BinomialBayesMixedGLM`` is a
variational Bayes fit with independent random effects), so the book fits its
binomial-logit multilevel models here. The model has one grouping factor and
correlated random effects::

    logit P(y_ij = 1) = x_ij' beta + z_ij' b_j,    b_j = Lambda u_j,    u_j ~ N(0, I),

where ``Lambda`` is the lower-triangular Cholesky factor of the random-effects
covariance; its lower-triangle elements, column by column, are lme4's ``theta``.

How the fit works, and how it matches ``glmer`` (lme4 1.1-31, ``family = binomial``):

1. Rows with the same covariates and group are collapsed into binomial counts.
   The log-likelihood stays that of the original 0/1 rows (no binomial
   coefficient), so it is unchanged and equals ``logLik(glmer(...))``.
2. For given ``(theta, beta)`` the conditional modes ``u_j`` come from penalised
   iteratively reweighted least squares (PIRLS: Newton steps with step halving)
   for all groups at once; each group's q x q system is one slice of a batch.
3. The log-likelihood is the Laplace approximation or, for a scalar random
   effect, adaptive Gauss-Hermite quadrature with ``n_agq`` nodes centred and
   scaled at each group's mode (``glmer``'s ``nAGQ``).
4. ``(theta, beta)`` are optimised jointly, as ``glmer``'s second stage does, by
   BFGS on the exact gradient of the Laplace deviance, from two starts (the
   best log-likelihood wins); quadrature fits then start from the Laplace
   optimum. A diagonal ``theta`` within 1e-5 of zero is set to zero when that is
   no worse (lme4's boundary check); below 1e-4 the fit is flagged singular.
5. Standard errors follow ``vcov.merMod``'s default (``use.hessian = TRUE``):
   the finite-difference Hessian of the deviance over ``(theta, beta)`` with
   lme4's stencil (``deriv12``, step 1e-4), inverted whole and restricted to
   ``beta``; if it is not positive definite, the covariance of ``beta`` given
   ``theta`` ("RX"), as lme4 falls back to.

How close to ``glmer``? The log-likelihood agrees to 1e-3 or better and is never
lower; estimates to 1e-3. ``glmer`` stops PIRLS at ``tolPwrss = 1e-7`` and
differentiates that slightly unconverged deviance for ``vcov``, which costs its
standard errors up to ~1% on small data sets. Refitted with ``tolPwrss = 1e-10``,
``glmer`` agrees with this module to ~1e-7 in log-likelihood, ~1e-5 in the
estimates and ~1e-4 (relative) in the standard errors (``tests/test_glmm.py``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic import Formula, ModelSpec, model_matrix
from formulaic.errors import FormulaicError
from scipy import special

from multilevel import _glmm_numerics as num
from multilevel._checks import (
    MultilevelInputError,
    check_model_data,
    require_binary,
    require_dataframe,
)

__all__ = ["GlmerResult", "fit_glmer", "group_coefficients"]

#: A diagonal element of Lambda below this marks a singular fit (lme4's ``isSingular``).
SINGULAR_TOL = 1e-4
_BAR_TERM = re.compile(r"\+?\s*\(\s*([^()|]*?)\s*\|\s*([^()|]+?)\s*\)")


# ------------------------------------------------------------------ the result
@dataclass
class GlmerResult:
    """A fitted binomial-logit multilevel model (what ``glmer`` returns, as a dataclass).

    Attributes
    ----------
    formula
        The model in lme4 notation, e.g. ``"vote ~ income + (1 + income | state)"``.
    group
        Name of the grouping column.
    fixed_effects
        One row per fixed effect: ``estimate``, ``std_error``, ``z_value``, ``p_value``.
    vcov
        Covariance matrix of the fixed effects (see ``vcov_method``).
    random_cov
        Covariance matrix of the random effects (q x q).
    random_effects
        One row per group (sorted labels): the conditional modes of the random
        effects (one column per term, ``ranef``) and their conditional variances
        (columns ``<term>_var``, ``condVar``), e.g. for caterpillar plots.
    theta
        Lower triangle of Lambda, column by column (lme4's ``theta``).
    loglik
        Maximised (approximate) log-likelihood.
    n_obs, n_groups, n_cells
        Rows, groups, and distinct (covariates, group) cells the rows collapsed into.
    n_agq
        Quadrature nodes per group (1 = Laplace approximation).
    is_singular
        True when a diagonal element of ``theta`` is below 1e-4 (lme4's
        ``isSingular``): a variance estimated as zero or a correlation as +-1.
    converged
        True when the scaled gradient at the optimum is below 0.002 (lme4's check).
    vcov_method
        ``"hessian"`` (lme4's default) or ``"rx"`` (its fallback).
    conditional_cov
        Conditional covariance matrix of each group's random effects, (groups, q, q).
    fixed_spec, random_spec
        formulaic model specs, which rebuild the design matrices for new data.

    Examples
    --------
    >>> from multilevel.simulate import simulate_red_blue
    >>> fit = fit_glmer(simulate_red_blue(seed=1), "vote ~ income + (1 + income | state)")
    >>> fit.random_corr.shape, fit.random_effects.shape
    ((2, 2), (48, 4))
    """

    formula: str
    group: str
    fixed_effects: pd.DataFrame
    vcov: pd.DataFrame
    random_cov: pd.DataFrame
    random_effects: pd.DataFrame
    theta: np.ndarray
    loglik: float
    n_obs: int
    n_groups: int
    n_cells: int
    n_agq: int
    is_singular: bool
    converged: bool
    vcov_method: str
    conditional_cov: np.ndarray = field(repr=False)
    fixed_spec: ModelSpec = field(repr=False)
    random_spec: ModelSpec = field(repr=False)

    @property
    def params(self) -> pd.Series:
        """Fixed-effect estimates."""
        return self.fixed_effects["estimate"]

    @property
    def random_sd(self) -> pd.Series:
        """Standard deviations of the random effects."""
        sd = np.sqrt(np.diag(self.random_cov))
        return pd.Series(sd, index=self.random_cov.index, name="sd")

    @property
    def random_corr(self) -> pd.DataFrame:
        """Correlation matrix of the random effects (NaN where a variance is zero)."""
        sd = self.random_sd.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = self.random_cov.to_numpy() / np.outer(sd, sd)
        return pd.DataFrame(corr, index=self.random_cov.index, columns=self.random_cov.columns)

    @property
    def n_params(self) -> int:
        """Number of estimated parameters (fixed effects plus ``theta``)."""
        return len(self.fixed_effects) + len(self.theta)

    @property
    def deviance(self) -> float:
        """-2 log-likelihood, the ``deviance`` column of ``glmer``'s summary."""
        return -2.0 * self.loglik

    @property
    def aic(self) -> float:
        """Akaike's information criterion, ``deviance + 2 n_params``."""
        return self.deviance + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        """Schwarz's criterion, ``deviance + log(n_obs) n_params``."""
        return self.deviance + np.log(self.n_obs) * self.n_params

    def predict(
        self, data: pd.DataFrame, new_groups: str = "population", include_random: bool = True
    ) -> pd.Series:
        """Predicted probabilities that the outcome is 1.

        Parameters
        ----------
        data
            Rows to predict, with the model's covariates (and the grouping column
            when ``include_random``).
        new_groups
            Groups the model was not fitted on: ``"population"`` gives them random
            effects of zero (the population curve), ``"error"`` raises.
        include_random
            False: the population curve for every row, whatever its group.

        Returns
        -------
        pandas.Series
            Probabilities, indexed like ``data``.

        Examples
        --------
        >>> from multilevel.simulate import simulate_red_blue
        >>> fit = fit_glmer(simulate_red_blue(seed=1), "vote ~ income + (1 | state)")
        >>> new = pd.DataFrame({"state": ["Ohio", "Atlantis"], "income": [0, 0]})
        >>> p = fit.predict(new)
        >>> bool(np.isclose(p.iloc[1], 1 / (1 + np.exp(-fit.params["Intercept"]))))
        True
        """
        if new_groups not in ("population", "error"):
            raise MultilevelInputError(
                f"`new_groups` must be 'population' or 'error', got {new_groups!r}."
            )
        columns = require_dataframe(data).columns
        needed = _formula_variables(self.fixed_spec.formula, columns)
        if include_random:
            needed |= _formula_variables(self.random_spec.formula, columns)
        group = self.group if include_random else None
        check_model_data(data, None, sorted(needed), group=group, min_groups=1)
        x = _model_matrix(self.fixed_spec, data).to_numpy(dtype=float)
        eta = x @ self.params.to_numpy()
        if include_random:
            z = _model_matrix(self.random_spec, data).to_numpy(dtype=float)
            index = self.random_effects.index.get_indexer(data[self.group])
            unknown = index < 0
            if unknown.any() and new_groups == "error":
                labels = pd.unique(data[self.group][unknown])[:5].tolist()
                raise MultilevelInputError(
                    f"group(s) {labels} of {self.group!r} were not in the fitted data. "
                    "Use new_groups='population' to predict them with random effects of zero."
                )
            modes = self.random_effects[self.random_cov.columns].to_numpy()[np.maximum(index, 0)]
            eta = eta + np.where(unknown, 0.0, np.einsum("ik,ik->i", z, modes))
        return pd.Series(special.expit(eta), index=data.index, name="probability")

    def summary(self) -> str:
        """A printout laid out like ``summary(glmer(...))``.

        Examples
        --------
        >>> from multilevel.simulate import simulate_red_blue
        >>> fit = fit_glmer(simulate_red_blue(seed=1), "vote ~ income + (1 | state)")
        >>> print(fit.summary().splitlines()[0])
        Generalized linear mixed model fit by maximum likelihood (Laplace Approximation)
        """
        method = (
            "Laplace Approximation"
            if self.n_agq == 1
            else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {self.n_agq}"
        )
        fit_table = pd.DataFrame(
            {
                "AIC": [f"{self.aic:.1f}"],
                "BIC": [f"{self.bic:.1f}"],
                "logLik": [f"{self.loglik:.1f}"],
                "deviance": [f"{self.deviance:.1f}"],
                "df.resid": [str(self.n_obs - self.n_params)],
            }
        )
        lines = [
            f"Generalized linear mixed model fit by maximum likelihood ({method})",
            " Family: binomial  ( logit )",
            f"Formula: {self.formula}",
            "",
            fit_table.to_string(index=False),
            "",
            "Random effects:",
            _random_table(self.group, self.random_sd, self.random_corr),
            f"Number of obs: {self.n_obs}, groups:  {self.group}, {self.n_groups}",
            "",
            "Fixed effects:",
            _fixed_table(self.fixed_effects),
            "---",
            "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
        ]
        if self.is_singular:
            lines.append("boundary (singular) fit: a variance is zero or a correlation is +-1")
        if not self.converged:
            lines.append("Warning: the optimiser may not have converged (scaled gradient > 0.002)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _left_aligned(rows: list[list[str]]) -> str:
    """Lay out a table of strings in left-aligned columns, as R prints VarCorr."""
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join(
        " " + " ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows
    )


def _random_table(group: str, sd: pd.Series, corr: pd.DataFrame) -> str:
    q = len(sd)
    rows = [["Groups", "Name", "Variance", "Std.Dev."] + (["Corr"] + [""] * (q - 2)) * (q > 1)]
    for k, name in enumerate(sd.index):
        row = [group if k == 0 else "", str(name), f"{sd.iloc[k] ** 2:.4g}", f"{sd.iloc[k]:.4g}"]
        row += [f"{corr.iloc[k, m]:.2f}" for m in range(k)]
        rows.append(row + [""] * (len(rows[0]) - len(row)))
    return _left_aligned(rows)


def _fixed_decimals(values: pd.Series) -> str:
    """A format with enough decimals to show every value to 4 significant digits (printCoefmat)."""
    magnitudes = np.abs(values.to_numpy())
    magnitudes = magnitudes[magnitudes > 0]
    needed = 3 - np.floor(np.log10(magnitudes)) if magnitudes.size else [0]
    return f"{{:.{int(np.clip(np.max(needed), 0, 10))}f}}"


def _fixed_table(fixed: pd.DataFrame) -> str:
    stars = pd.cut(
        fixed["p_value"], [-1, 0.001, 0.01, 0.05, 0.1, 2], labels=["***", "**", "*", ".", ""]
    )
    table = pd.DataFrame(
        {
            "Estimate": fixed["estimate"].map(_fixed_decimals(fixed["estimate"]).format),
            "Std. Error": fixed["std_error"].map(_fixed_decimals(fixed["std_error"]).format),
            "z value": fixed["z_value"].map("{:.3f}".format),
            "Pr(>|z|)": fixed["p_value"].map(lambda p: "<2e-16" if p < 2e-16 else f"{p:.3g}"),
            "": stars.astype(str),
        }
    )
    table.index.name = None
    return table.to_string()


# ------------------------------------------------------------------- formulas
def _formula_variables(rhs: object, columns: pd.Index) -> set[str]:
    """Data columns a right-hand side reads (not functions such as ``np.log``).

    formulaic lists the variables it needs, but not those inside stateful
    transforms such as ``center(x)``; any column named in the text counts too.
    """
    named = {str(variable) for variable in Formula(str(rhs)).required_variables}
    mentioned = set(re.findall(r"[A-Za-z_]\w*", str(rhs))) & set(map(str, columns))
    return named | mentioned


def _model_matrix(spec_or_formula: str | ModelSpec, data: pd.DataFrame) -> pd.DataFrame:
    """Build a design matrix with formulaic, turning its errors into clear ones."""
    formula = str(getattr(spec_or_formula, "formula", spec_or_formula))
    try:
        if isinstance(spec_or_formula, str):
            matrix = model_matrix(spec_or_formula, data)
        else:
            matrix = spec_or_formula.get_model_matrix(data)
    except (FormulaicError, SyntaxError, ValueError, TypeError, NameError) as error:
        message = f"cannot build a design matrix from {formula!r}: {error}"
        raise MultilevelInputError(message) from error
    if len(matrix) != len(data):
        raise MultilevelInputError(f"{formula!r} dropped rows; check the data for missing values.")
    return matrix


def _parse_formula(
    formula: str, group: str | None, random: str | None
) -> tuple[str, str, str, str]:
    """Split ``formula`` into response, fixed part, grouping column and random part.

    Takes ``"y ~ x"`` with ``group=`` and ``random=`` given separately, or lme4's
    ``"y ~ x + (1 + x | g)"`` with one bar term.
    """
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise MultilevelInputError(
            f"`formula` must be a string like 'vote ~ income', got {formula!r}."
        )
    response, rhs = (part.strip() for part in formula.split("~"))
    bars = _BAR_TERM.findall(rhs)
    if len(bars) > 1:
        raise MultilevelInputError("only one random-effects term '(... | group)' is supported.")
    if bars:
        if group is not None or random is not None:
            raise MultilevelInputError(
                "give the random part either in the formula or as group=/random=, not both."
            )
        random, group = bars[0]
        rhs = _BAR_TERM.sub("", rhs).strip().lstrip("+").strip() or "1"
    if not response.isidentifier():
        raise MultilevelInputError(
            f"the left-hand side of {formula!r} must be one column name, got {response!r}."
        )
    if not isinstance(group, str) or not group:
        raise MultilevelInputError(
            "name the grouping column: group='state', or '(1 | state)' in the formula."
        )
    random = "1" if random is None else random
    if not isinstance(random, str) or not random.strip() or any(c in random for c in "|~"):
        raise MultilevelInputError(
            f"`random` must be a right-hand side like '1' or '1 + income', got {random!r}."
        )
    for part in (rhs, random):
        if "|" in part or "~" in part:
            raise MultilevelInputError(f"cannot read {part!r}: one '(... | group)' term at most.")
        try:
            Formula(part)
        except (FormulaicError, SyntaxError, ValueError) as error:
            raise MultilevelInputError(f"cannot parse {part!r} in {formula!r}: {error}") from error
    return response, rhs, group, random.strip()


# ------------------------------------------------------------------ the fitter
def fit_glmer(
    data: pd.DataFrame,
    formula: str,
    group: str | None = None,
    random: str | None = None,
    n_agq: int = 1,
    collapse: bool = True,
) -> GlmerResult:
    """Fit a binomial-logit multilevel model by maximum likelihood, like lme4's ``glmer``.

    Parameters
    ----------
    data
        One row per observation.
    formula
        ``"response ~ fixed part"``: a 0/1 response column and a formulaic
        right-hand side (``"state_avg_income * income"``). The random part may be
        written inside it as in lme4, with one bar term:
        ``"vote ~ income + (1 + income | state)"``.
    group
        Grouping column, when the formula has no bar term.
    random
        Random part, when the formula has no bar term: ``"1"`` (random
        intercepts, the default), ``"1 + income"`` (correlated intercepts and
        slopes), ``"0 + income"`` (slopes only).
    n_agq
        Quadrature nodes per group: 1 is the Laplace approximation (``glmer``'s
        default); 2 to 25 is adaptive Gauss-Hermite quadrature, for a single
        random effect only (``glmer``'s ``nAGQ``).
    collapse
        Fit on binomial counts of identical rows (same likelihood, less work).
        False keeps every row as it is; the results are the same.

    Returns
    -------
    GlmerResult

    Raises
    ------
    MultilevelInputError
        For a missing column, missing values, a response that is not 0/1, a
        non-numeric covariate, fewer than two groups, or a formula or random
        part that cannot be read.

    Examples
    --------
    >>> from multilevel.simulate import simulate_red_blue
    >>> df = simulate_red_blue(seed=1)
    >>> fit = fit_glmer(df, "vote ~ state_avg_income * income", group="state", random="1 + income")
    >>> fit.fixed_effects.columns.tolist()
    ['estimate', 'std_error', 'z_value', 'p_value']
    >>> fit.n_groups, fit.random_sd.index.tolist()
    (48, ['Intercept', 'income'])
    """
    response, rhs, group, random = _parse_formula(formula, group, random)
    if isinstance(n_agq, bool) or not isinstance(n_agq, (int, np.integer)) or not 1 <= n_agq <= 25:
        raise MultilevelInputError(f"`n_agq` must be an integer from 1 to 25, got {n_agq!r}.")
    columns = require_dataframe(data).columns
    variables = sorted(_formula_variables(rhs, columns) | _formula_variables(random, columns))
    frame = check_model_data(data, response, variables, group=group, min_groups=2)
    require_binary(frame, response)
    y = frame[response].to_numpy(dtype=float)
    if y.min() == y.max():
        raise MultilevelInputError(
            f"response {response!r} is always {y[0]:g}; a logit model needs both 0s and 1s."
        )
    # The design matrices are built from `data`, not `frame`: a name that the variable
    # search missed must still be found (and formulaic's own checks then apply).
    fixed_matrix, random_matrix = _model_matrix(rhs, data), _model_matrix(random, data)
    q = random_matrix.shape[1]
    if q == 0:
        raise MultilevelInputError(f"the random part {random!r} has no terms; use '1'.")
    if n_agq > 1 and q > 1:
        raise MultilevelInputError(
            "n_agq > 1 needs a single random effect per group (e.g. random='1'); use n_agq=1."
        )
    codes, levels = pd.factorize(frame[group], sort=True)
    if len(frame) <= levels.size * q:
        raise MultilevelInputError(
            f"{len(frame)} rows cannot identify {levels.size * q} random effects "
            f"({levels.size} groups x {q} terms)."
        )
    cells = num.collapse(
        fixed_matrix.to_numpy(float), random_matrix.to_numpy(float), codes, y, collapse
    )
    if np.linalg.matrix_rank(cells.X) < cells.X.shape[1]:
        raise MultilevelInputError(
            f"the fixed-effects columns {list(fixed_matrix.columns)} are linearly dependent; "
            "drop one of them."
        )

    objective = num.Objective(cells, int(n_agq))
    params, deviance = num.fit_parameters(objective)
    hessian = num.hessian(objective, params, deviance)
    cov_beta, vcov_method = num.fixed_covariance(objective, params, hessian)
    converged = num.is_converged(objective, params, hessian)
    if not converged:
        warnings.warn(
            f"fit_glmer: the optimiser may not have converged for {formula!r} "
            "(scaled gradient > 0.002); check the estimates.",
            RuntimeWarning,
            stacklevel=2,
        )

    theta, beta = objective.split(params)
    lam = num.lambda_matrix(theta, q)
    modes = objective.modes(params)
    fixed_names, random_names = list(fixed_matrix.columns), list(random_matrix.columns)
    std_error = np.sqrt(np.diag(cov_beta))
    fixed_effects = pd.DataFrame(
        {
            "estimate": beta,
            "std_error": std_error,
            "z_value": beta / std_error,
            "p_value": 2.0 * special.ndtr(-np.abs(beta / std_error)),
        },
        index=pd.Index(fixed_names, name="term"),
    )
    # b_j = Lambda u_j, so its conditional covariance is Lambda H_j^-1 Lambda' (lme4's condVar).
    conditional_cov = lam @ np.linalg.inv(modes.curvature) @ lam.T
    random_effects = pd.DataFrame(
        modes.u @ lam.T, index=pd.Index(levels, name=group), columns=random_names
    )
    for k, name in enumerate(random_names):
        random_effects[f"{name}_var"] = conditional_cov[:, k, k]
    return GlmerResult(
        formula=f"{response} ~ {rhs} + ({random} | {group})",
        group=group,
        fixed_effects=fixed_effects,
        vcov=pd.DataFrame(cov_beta, index=fixed_names, columns=fixed_names),
        random_cov=pd.DataFrame(lam @ lam.T, index=random_names, columns=random_names),
        random_effects=random_effects,
        theta=theta.copy(),
        loglik=-0.5 * deviance,
        n_obs=len(frame),
        n_groups=int(levels.size),
        n_cells=int(cells.trials.size),
        n_agq=int(n_agq),
        is_singular=bool(np.any(theta[num.theta_lower_bounds(q) == 0] < SINGULAR_TOL)),
        converged=converged,
        vcov_method=vcov_method,
        conditional_cov=conditional_cov,
        fixed_spec=fixed_matrix.model_spec,
        random_spec=random_matrix.model_spec,
    )


# ------------------------------------------------------- each group's coefficients
def group_coefficients(fit: GlmerResult, data: pd.DataFrame) -> pd.DataFrame:
    """Each group's own intercept and slopes: the fixed part for the group plus its random effect.

    In a model such as ``vote ~ state_avg_income * income + (1 + income | state)``
    state ``j``'s income slope is ``beta_income + beta_interaction *
    state_avg_income_j + b_j``: the fixed part evaluated at the group's level-2
    values, plus the conditional mode of its random effect. For every term of
    the random part this function returns that sum and its pieces.

    Level-2 variables are the fixed-part variables constant within every group
    of ``data``; the others are individual-level. The fixed part of the
    intercept is the linear predictor with every individual-level variable at
    zero; that of a slope on ``x`` is the change in the linear predictor when
    ``x`` goes from 0 to 1 (the slope, when the model is linear in ``x``).

    Parameters
    ----------
    fit
        A fitted model.
    data
        The data it was fitted on (or any rows of the same groups).

    Returns
    -------
    pandas.DataFrame
        One row per group of ``data`` (sorted), with, for each random term ``t``
        (``Intercept``, ``income``, ...): ``t`` (the group's coefficient),
        ``t_fixed``, ``t_mode`` and ``t_se`` (the conditional standard deviation
        of the random effect, ``condVar``; the fixed part's uncertainty is not
        included); then ``n`` (rows of the group) and the level-2 variables.

    Examples
    --------
    >>> from multilevel.simulate import simulate_red_blue
    >>> df = simulate_red_blue(seed=1)
    >>> fit = fit_glmer(df, "vote ~ state_avg_income * income + (1 + income | state)")
    >>> slopes = group_coefficients(fit, df)
    >>> beta, row = fit.params, slopes.loc["Ohio"]
    >>> fixed = beta["income"] + beta["state_avg_income:income"] * row["state_avg_income"]
    >>> bool(np.isclose(row["income"], fixed + fit.random_effects.loc["Ohio", "income"]))
    True
    """
    if not isinstance(fit, GlmerResult):
        raise MultilevelInputError(
            f"`fit` must be a GlmerResult from fit_glmer, got {type(fit).__name__}."
        )
    columns = require_dataframe(data).columns
    fixed_vars = sorted(_formula_variables(fit.fixed_spec.formula, columns))
    random_vars = sorted(_formula_variables(fit.random_spec.formula, columns))
    frame = check_model_data(data, None, sorted(set(fixed_vars) | set(random_vars)),
                             group=fit.group, min_groups=1)
    unknown = sorted(set(frame[fit.group]) - set(fit.random_effects.index))[:5]
    if unknown:
        raise MultilevelInputError(
            f"group(s) {unknown} of {fit.group!r} were not in the fitted data; "
            "pass the data the model was fitted on."
        )
    by_group = frame.groupby(fit.group, sort=True)
    constant = by_group.nunique().le(1).all()
    level2 = [v for v in fixed_vars if v != fit.group and constant.get(v, False)]
    terms = list(fit.random_cov.columns)
    slopes = [t for t in terms if t != "Intercept"]
    for term in slopes:
        if term not in frame.columns or term in level2:
            raise MultilevelInputError(
                f"random term {term!r} must be an individual-level column of `data` "
                "(one that varies within groups)."
            )
    base = by_group.first()
    for variable in fixed_vars:
        if variable not in level2:
            base[variable] = 0.0
    beta = fit.params.to_numpy()

    def linear_predictor(rows: pd.DataFrame) -> np.ndarray:
        return _model_matrix(fit.fixed_spec, rows.reset_index()).to_numpy(dtype=float) @ beta

    eta0 = linear_predictor(base)
    fixed = {"Intercept": eta0}
    for term in slopes:
        fixed[term] = linear_predictor(base.assign(**{term: 1.0})) - eta0
    modes = fit.random_effects.loc[base.index]
    out = pd.DataFrame(index=base.index)
    for term in terms:
        fixed_part = fixed.get(term, np.zeros(len(base)))
        out[term] = fixed_part + modes[term].to_numpy()
        out[f"{term}_fixed"] = fixed_part
        out[f"{term}_mode"] = modes[term].to_numpy()
        out[f"{term}_se"] = np.sqrt(modes[f"{term}_var"].to_numpy())
    out["n"] = by_group.size()
    for variable in level2:
        out[variable] = base[variable]
    return out
