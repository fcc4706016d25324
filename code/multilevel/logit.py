"""Single-level logistic regressions: full pooling, no pooling and fixed effects.

The pooling chapters set the multilevel logit model (:mod:`multilevel.glmm`)
beside ordinary logits: one for all rows (full pooling), one per group (no
pooling), one with a dummy per group (fixed effects). They are statsmodels'
``Logit``, wrapped so that data for which the maximum-likelihood estimate does
not exist (a single outcome, separation) are recognised before fitting and
reported, and so that statsmodels' warnings are caught and reported, not printed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from multilevel._checks import (
    MultilevelInputError,
    as_list,
    check_model_data,
    require_binary,
)

__all__ = ["NO_POOLING_STATUS", "LogitFit", "find_separation", "fit_logit", "fit_no_pooling"]

#: What each status of :func:`fit_no_pooling` means, in the order the checks run.
NO_POOLING_STATUS: dict[str, str] = {
    "ok": "estimated",
    "too few rows": "fewer rows than coefficients",
    "one outcome": "every response is 0, or every response is 1",
    "no variation": "a covariate is constant (or the covariates are collinear) in the group",
    "complete separation": "a line through the covariates splits the 0s from the 1s",
    "quasi-complete separation": "a line splits the 0s from the 1s, with some rows on it",
    "not converged": "statsmodels' Newton iterations did not converge",
}


@dataclass(frozen=True)
class LogitFit:
    """A logistic regression fitted by maximum likelihood (see :func:`fit_logit`).

    Attributes
    ----------
    coefficients
        One row per coefficient: ``estimate``, ``std_error``, ``z_value``, ``p_value``.
    vcov
        Covariance matrix of the estimates (inverse observed information).
    loglik
        Maximised log-likelihood.
    nobs
        Rows fitted.
    n_iter
        Newton iterations statsmodels used.
    notes
        Warnings statsmodels raised during a fit that did converge (normally
        none); they are kept here instead of being printed.

    Examples
    --------
    >>> from multilevel.simulate import simulate_red_blue
    >>> fit = fit_logit(simulate_red_blue(seed=1), "vote", "income")
    >>> fit.coefficients.index.tolist(), fit.n_params
    (['Intercept', 'income'], 2)
    """

    coefficients: pd.DataFrame
    vcov: pd.DataFrame
    loglik: float
    nobs: int
    n_iter: int
    notes: tuple[str, ...] = ()

    @property
    def params(self) -> pd.Series:
        """Estimated coefficients."""
        return self.coefficients["estimate"]

    @property
    def bse(self) -> pd.Series:
        """Standard errors of the coefficients."""
        return self.coefficients["std_error"]

    @property
    def n_params(self) -> int:
        """Number of estimated coefficients."""
        return len(self.coefficients)

    @property
    def aic(self) -> float:
        """Akaike's information criterion, ``-2 loglik + 2 n_params``."""
        return -2.0 * self.loglik + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        """Schwarz's criterion, ``-2 loglik + log(nobs) n_params``."""
        return -2.0 * self.loglik + np.log(self.nobs) * self.n_params

    def predict(self, data: pd.DataFrame) -> pd.Series:
        """Predicted probabilities that the response is 1, for the rows of ``data``.

        Examples
        --------
        >>> from multilevel.simulate import simulate_red_blue
        >>> fit = fit_logit(simulate_red_blue(seed=1), "vote", "income")
        >>> p = fit.predict(pd.DataFrame({"income": [-2, 2]}))
        >>> bool(p.iloc[0] < p.iloc[1])
        True
        """
        covariates = [name for name in self.params.index if name != "Intercept"]
        frame = check_model_data(data, None, covariates)
        x = frame[covariates].to_numpy(dtype=float)
        if "Intercept" in self.params.index:
            x = np.column_stack([np.ones(len(frame)), x])
        return pd.Series(special.expit(x @ self.params.to_numpy()), index=data.index,
                         name="probability")


def _logit_design(
    data: object, response: str, covariates: str | list[str], intercept: bool
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validated response vector, design matrix and coefficient names."""

    covariates = as_list(covariates)
    if not isinstance(intercept, bool):
        raise MultilevelInputError(f"`intercept` must be True or False, got {intercept!r}.")
    if not covariates and not intercept:
        raise MultilevelInputError("name at least one covariate, or keep the intercept.")
    if "Intercept" in covariates:
        raise MultilevelInputError(
            "'Intercept' is added by intercept=True; rename the column called 'Intercept'."
        )
    frame = check_model_data(data, response, covariates)
    require_binary(frame, response)
    y = frame[response].to_numpy(dtype=float)
    x = frame[covariates].to_numpy(dtype=float)
    if intercept:
        x = np.column_stack([np.ones(len(frame)), x])
    return y, x, (["Intercept"] if intercept else []) + covariates


def _separation(x: np.ndarray, y: np.ndarray) -> str:
    """``"none"``, ``"quasi-complete"`` or ``"complete"``, by two linear programmes.

    Write ``s_i = 2 y_i - 1`` and ``a_i = s_i x_i``. The maximum-likelihood estimate
    is finite exactly when no direction ``b`` has ``a_i' b >= 0`` for every row and
    ``> 0`` for some (Albert and Anderson, 1984). Complete separation: some ``b``
    has ``a_i' b >= 1`` for every row (a feasibility problem). Quasi-complete: the
    largest ``sum_i a_i' b`` subject to ``a_i' b >= 0`` and ``|b_k| <= 1`` is
    positive (Konis, 2007). Duplicate rows are dropped first; they change nothing.
    """
    from scipy.optimize import linprog

    a = np.unique((2.0 * y - 1.0)[:, None] * x, axis=0)
    scale = np.abs(a).max(axis=0)
    a = a / np.where(scale > 0, scale, 1.0)
    quasi = linprog(-a.sum(axis=0), A_ub=-a, b_ub=np.zeros(len(a)),
                    bounds=[(-1.0, 1.0)] * a.shape[1], method="highs")
    if quasi.status != 0:  # pragma: no cover - the box keeps this programme bounded
        raise RuntimeError(f"the separation check failed: {quasi.message}")
    if -quasi.fun <= 1e-7 * len(a):
        return "none"
    complete = linprog(np.zeros(a.shape[1]), A_ub=-a, b_ub=-np.ones(len(a)),
                       bounds=[(None, None)] * a.shape[1], method="highs")
    return "complete" if complete.status == 0 else "quasi-complete"


def _diagnose(x: np.ndarray, y: np.ndarray) -> str:
    """The first status of :data:`NO_POOLING_STATUS` that applies, before any fitting."""
    n, p = x.shape
    if n <= p:
        return "too few rows"
    if y.min() == y.max():
        return "one outcome"
    if np.linalg.matrix_rank(x) < p:
        return "no variation"
    separation = _separation(x, y)
    return "ok" if separation == "none" else f"{separation} separation"


def _statsmodels_logit(x: np.ndarray, y: np.ndarray) -> tuple[object, list[str]]:
    """statsmodels' Logit by Newton's method; the names of the warnings it raised are returned."""
    import statsmodels.api as sm

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            result = sm.Logit(y, x).fit(
                method="newton", maxiter=100, disp=0
            )
            result.bse  # noqa: B018 - computed now, so a warning it raises is caught here
    return result, list(dict.fromkeys(w.category.__name__ for w in caught))


def find_separation(
    data: pd.DataFrame, response: str, covariates: str | list[str], intercept: bool = True
) -> str:
    """Does a logit of ``response`` on ``covariates`` have a finite maximum-likelihood estimate?

    A logistic regression has no finite estimate when the covariates *separate*
    the outcomes: when some line (a linear combination of the covariates) puts
    every 1 on one side and every 0 on the other (complete separation) or on the
    line itself (quasi-complete separation) (Albert and Anderson, 1984). Then the
    likelihood keeps rising as a coefficient runs off to infinity, and a fitting
    routine stops somewhere arbitrary with huge standard errors. Small groups
    separate easily: 3 voters in a state who all vote alike are completely
    separated by the intercept alone. The check solves two small linear
    programmes (Konis, 2007), so it is exact, not a rule of thumb.

    Parameters
    ----------
    data
        One row per observation.
    response
        Binary (0/1) outcome column.
    covariates
        Covariate column(s) (may be empty when ``intercept`` is True).
    intercept
        Include a constant.

    Returns
    -------
    str
        ``"none"`` (the estimate exists), ``"quasi-complete"`` or ``"complete"``.

    Examples
    --------
    >>> df = pd.DataFrame({"income": [-2, -1, 0, 1, 2], "vote": [0, 0, 1, 1, 1]})
    >>> find_separation(df, "vote", "income")
    'complete'
    >>> find_separation(df.assign(vote=[0, 0, 1, 0, 1]), "vote", "income")
    'none'
    >>> find_separation(df.assign(vote=[0, 0, 0, 1, 1], income=[-2, -1, 0, 0, 2]), "vote", "income")
    'quasi-complete'
    """
    y, x, _ = _logit_design(data, response, covariates, intercept)
    if len(y) == 0:
        raise MultilevelInputError("`data` has no rows.")
    return _separation(x, y)


def fit_logit(
    data: pd.DataFrame, response: str, covariates: str | list[str], intercept: bool = True
) -> LogitFit:
    """Logistic regression by maximum likelihood (statsmodels' ``Logit``), checked first.

    The same fit as R's ``glm(response ~ covariates, family = binomial)``. Before
    fitting, the data are checked for what makes the estimate not exist: a
    single outcome, covariates that are constant or collinear, and separation
    (:func:`find_separation`); each raises an error that names it. statsmodels'
    warnings are caught: non-convergence raises an error, and any other warning
    of a converged fit is kept in ``notes``.

    Parameters
    ----------
    data
        One row per observation.
    response
        Binary (0/1) outcome column.
    covariates
        Covariate column(s). For the fixed-effects model, add one 0/1 column per
        group (:func:`multilevel.models.fe_dummies`) and set ``intercept=False``.
    intercept
        Include a constant, named ``Intercept``.

    Returns
    -------
    LogitFit

    Raises
    ------
    MultilevelInputError
        For a missing column, missing or non-numeric values, a response that is
        not 0/1, data for which the estimate does not exist, or a fit that does
        not converge.

    Examples
    --------
    >>> from multilevel.simulate import simulate_red_blue
    >>> fit = fit_logit(simulate_red_blue(seed=1), "vote", "income")
    >>> print(f"income slope {fit.params['income']:.3f} (SE {fit.bse['income']:.3f})")
    income slope 0.142 (SE 0.011)
    """
    y, x, names = _logit_design(data, response, covariates, intercept)
    status = _diagnose(x, y)
    shown = names if len(names) <= 6 else [*names[:5], f"... ({len(names)} coefficients)"]
    if status != "ok":
        raise MultilevelInputError(
            f"the logit of {response!r} on {shown} has no finite maximum-likelihood estimate: "
            f"{status} ({NO_POOLING_STATUS[status]}). Drop or merge the offending rows or "
            "groups, or use a model that pools information (a random-effects logit)."
        )
    result, messages = _statsmodels_logit(x, y)
    if not result.mle_retvals["converged"]:
        raise MultilevelInputError(
            f"the logit of {response!r} on {shown} did not converge (statsmodels warned: "
            f"{', '.join(messages) or 'nothing'}); check for near-separation."
        )
    return _logit_fit(result, names, len(y), messages)


def _logit_fit(result: object, names: list[str], nobs: int, messages: list[str]) -> LogitFit:
    estimate = np.asarray(result.params, dtype=float)
    std_error = np.asarray(result.bse, dtype=float)
    z_value = estimate / std_error
    coefficients = pd.DataFrame(
        {
            "estimate": estimate,
            "std_error": std_error,
            "z_value": z_value,
            "p_value": 2.0 * special.ndtr(-np.abs(z_value)),
        },
        index=pd.Index(names, name="term"),
    )
    vcov = np.asarray(result.cov_params(), dtype=float)
    return LogitFit(
        coefficients=coefficients,
        vcov=pd.DataFrame(vcov, index=names, columns=names),
        loglik=float(result.llf),
        nobs=int(nobs),
        n_iter=int(result.mle_retvals["iterations"]),
        notes=tuple(messages),
    )


def fit_no_pooling(
    data: pd.DataFrame, response: str, covariates: str | list[str], group: str
) -> pd.DataFrame:
    """One logistic regression per group ("no pooling"), reporting the groups where it fails.

    Fits ``logit P(y = 1) = alpha_j + x' beta_j`` separately in every group, as
    the loop ``for (j in 1:J) glm(vote[state == j] ~ income[state == j])`` does
    in R. In small groups the estimate often does not exist; instead of
    returning the arbitrary numbers an optimiser stops at (and a warning), each
    group gets a ``status`` (see :data:`NO_POOLING_STATUS`): ``"ok"``, or why
    the group is not estimable. statsmodels is run on every group with enough
    rows, also the separated ones, and what it warned about is reported in
    ``warnings``, never printed: it warns about some separated groups but not
    all, which is why the status comes from an exact check
    (:func:`find_separation`), not from the warnings.

    Parameters
    ----------
    data
        One row per observation.
    response
        Binary (0/1) outcome column.
    covariates
        Covariate column(s); every group also gets its own intercept.
    group
        Grouping column.

    Returns
    -------
    pandas.DataFrame
        One row per group (sorted labels): ``n`` (rows), ``share`` (mean of
        the response), for every coefficient ``t`` (``Intercept``, then the
        covariates) the estimate ``t`` and its standard error ``t_se`` (NaN
        unless the status is ``"ok"``), ``status``, and ``warnings`` (what
        statsmodels warned about: the warnings' class names, ``""`` if none).

    Examples
    --------
    >>> df = pd.DataFrame({"state": ["A"] * 6 + ["B"] * 3,
    ...                    "income": [-2, -1, 0, 1, 2, 0, -1, 0, 1],
    ...                    "vote": [0, 1, 0, 1, 1, 0, 1, 1, 1]})
    >>> table = fit_no_pooling(df, "vote", "income", "state")
    >>> table["status"].tolist()
    ['ok', 'one outcome']
    >>> print(f"{table.loc['A', 'income']:.3f}")
    1.012
    """

    covariates = as_list(covariates)
    frame = check_model_data(data, response, covariates, group=group, min_groups=1)
    require_binary(frame, response)
    names = ["Intercept"] + covariates
    rows = []
    for label, part in frame.groupby(group, sort=True):
        y = part[response].to_numpy(dtype=float)
        x = np.column_stack([np.ones(len(part)), part[covariates].to_numpy(dtype=float)])
        row = {group: label, "n": len(part), "share": float(y.mean())}
        row.update({name: np.nan for name in names})
        row.update({f"{name}_se": np.nan for name in names})
        status, messages = _diagnose(x, y), []
        if status not in ("too few rows", "no variation"):
            result, messages = _statsmodels_logit(x, y)
            if status == "ok" and not result.mle_retvals["converged"]:
                status = "not converged"
            if status == "ok":
                row.update(dict(zip(names, np.asarray(result.params, dtype=float))))
                row.update({f"{n}_se": v for n, v in zip(names, np.asarray(result.bse, float))})
        row["status"] = status
        row["warnings"] = ", ".join(messages)
        rows.append(row)
    table = pd.DataFrame(rows).set_index(group)
    return table[["n", "share", *names, *[f"{name}_se" for name in names], "status", "warnings"]]
