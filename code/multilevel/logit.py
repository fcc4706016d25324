"""Single-level logits where statsmodels alone would mislead: separation and no pooling.

The pooling chapters set the multilevel logit (:func:`~multilevel.mixed.glmer`) beside ordinary
logits, which come from statsmodels. statsmodels fits a separated data set anyway and
returns the arbitrary numbers its optimiser stopped at, with a warning; the gap this
module fills is to recognise, before fitting, data for which the maximum-likelihood
estimate does not exist (:func:`find_separation`), and to fit one logit per group while
reporting each group's status instead of its arbitrary numbers (:func:`fit_no_pooling`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from multilevel._checks import (
    MultilevelInputError,
    as_list,
    check_model_data,
    require_binary,
)

__all__ = ["NO_POOLING_STATUS", "find_separation", "fit_no_pooling"]

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
