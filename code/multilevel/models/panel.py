"""Fixed effects and the random-versus-fixed comparison in panel form.

Fixed effects as group dummies or by demeaning, the between estimator,
Mundlak's group means, the Hausman test and Wald tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from multilevel._checks import (
    MultilevelInputError,
    as_list,
    check_model_data,
)
from multilevel.models.clustering import fit_ols
from multilevel.models.lmm import RandomInterceptFit
from multilevel.models.mixedlm import MixedFit, _gls_fixed_cov
from scipy import stats
from statsmodels.regression.linear_model import RegressionResultsWrapper


def fe_dummies(groups: pd.Series | np.ndarray | list, prefix: str = "") -> pd.DataFrame:
    """One 0/1 column per group, in sorted label order, like R's ``simcf::makeFEdummies``.

    Used with no intercept, these columns give every group its own intercept.
    Columns are named ``prefix + label`` and appear in the sorted order of the
    labels, so column ``k`` always belongs to the ``k``-th group.

    Examples
    --------
    >>> fe_dummies(["b", "a", "b"]).to_numpy().tolist()
    [[0, 1], [1, 0], [0, 1]]
    """
    labels = pd.Series(np.asarray(groups))
    if labels.isna().any():
        raise MultilevelInputError("group labels contain missing values; drop those rows first.")
    levels = np.sort(labels.unique())
    codes = pd.Categorical(labels, categories=levels).codes
    matrix = (codes[:, None] == np.arange(len(levels))[None, :]).astype(int)
    return pd.DataFrame(matrix, columns=[f"{prefix}{level}" for level in levels])


@dataclass(frozen=True)
class FixedEffectsFit:
    """Result of :func:`fit_fixed_effects`.

    Attributes
    ----------
    params, bse
        Slopes of the covariates and their standard errors (classical, with the
        degrees of freedom used up by the group intercepts subtracted).
    cov_params
        Covariance matrix of the slopes.
    group_effects
        Each group's intercept, ``mean(y) - mean(x)' beta`` within the group.
    sigma
        Residual standard deviation.
    df_resid
        ``n - k - G``: observations minus slopes minus group intercepts.
    """

    params: pd.Series
    bse: pd.Series
    cov_params: pd.DataFrame
    group_effects: pd.Series
    sigma: float
    df_resid: int
    nobs: int
    n_groups: int
    method: str


def _constant_within_groups(frame: pd.DataFrame, column: str, group: str) -> bool:
    bounds = frame.groupby(group, observed=True)[column].agg(["min", "max"])
    spread = bounds["max"] - bounds["min"]
    scale = max(float(frame[column].abs().max()), 1.0)
    return bool((spread <= 1e-12 * scale).all())


def fit_fixed_effects(
    data: pd.DataFrame,
    response: str,
    covariates: str | list[str],
    group: str,
    method: str = "within",
) -> FixedEffectsFit:
    """Least squares with one intercept per group (fixed effects).

    ``method="within"`` subtracts each group's means from the response and the
    covariates and regresses the deviations (the *within* estimator);
    ``method="dummies"`` regresses on the covariates and one dummy per group with
    no overall intercept. Both give the same slopes and standard errors; the
    within form never builds the n-by-G dummy matrix, so it stays fast with
    thousands of groups.

    A covariate that is constant within every group is perfectly collinear with
    the group dummies, and its effect cannot be estimated: this function raises
    an error naming it rather than dropping it silently.

    Examples
    --------
    >>> from multilevel.simulate import simulate_kansas
    >>> fit = fit_fixed_effects(simulate_kansas(seed=1), "rep_share", "income", "state")
    >>> bool(fit.params["income"] > 0)
    True
    """
    covariates = as_list(covariates)
    if not covariates:
        raise MultilevelInputError("name at least one covariate; the group intercepts are added.")
    if method not in ("within", "dummies"):
        raise MultilevelInputError(f"`method` must be 'within' or 'dummies', got {method!r}.")
    frame = check_model_data(data, response, covariates, group, min_groups=2)
    for column in covariates:
        if _constant_within_groups(frame, column, group):
            raise MultilevelInputError(
                f"covariate {column!r} does not vary within any {group!r}: it is perfectly "
                "collinear with the group fixed effects, so its effect cannot be estimated. "
                f"Drop {column!r}, or model it as a group-level predictor in a random-effects model."
            )
    y = frame[response].to_numpy(float)
    X = frame[covariates].to_numpy(float)
    codes, labels = pd.factorize(frame[group], sort=True)
    n, k, n_groups = len(y), len(covariates), len(labels)
    if n - k - n_groups <= 0:
        raise MultilevelInputError(
            f"{n} observations cannot identify {k} slopes and {n_groups} group intercepts."
        )
    if method == "within":
        counts = np.bincount(codes, minlength=n_groups)
        y_means = np.bincount(codes, weights=y, minlength=n_groups) / counts
        x_means = np.column_stack(
            [np.bincount(codes, weights=X[:, j], minlength=n_groups) / counts for j in range(k)]
        )
        design, target = X - x_means[codes], y - y_means[codes]
    else:
        design = np.column_stack([X, fe_dummies(frame[group]).to_numpy(float)])
        target = y
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise MultilevelInputError(
            f"the covariates {covariates} are collinear once group intercepts are included; "
            "drop one of them."
        )
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    resid = target - design @ coef
    df_resid = n - k - n_groups
    sigma2 = float(resid @ resid / df_resid)
    cov = sigma2 * np.linalg.inv(design.T @ design)[:k, :k]
    slopes = coef[:k]
    intercepts = (
        y_means - x_means @ slopes if method == "within" else coef[k:]
    )
    return FixedEffectsFit(
        params=pd.Series(slopes, index=covariates),
        bse=pd.Series(np.sqrt(np.diag(cov)), index=covariates),
        cov_params=pd.DataFrame(cov, index=covariates, columns=covariates),
        group_effects=pd.Series(intercepts, index=pd.Index(labels, name=group)),
        sigma=float(np.sqrt(sigma2)),
        df_resid=df_resid,
        nobs=n,
        n_groups=n_groups,
        method=method,
    )


def fit_between(
    data: pd.DataFrame,
    response: str,
    covariates: str | list[str],
    group: str,
) -> RegressionResultsWrapper:
    """The between estimator: least squares on the group means, one row per group.

    It uses only the differences *between* groups (the mirror image of the
    within, fixed-effects estimator) and is unweighted, as
    ``linearmodels.panel.BetweenOLS`` is by default. Returns statsmodels' results.

    Examples
    --------
    >>> from multilevel.simulate import simulate_students
    >>> fit = fit_between(simulate_students(correlated=True, seed=1), "score", "hours", "student")
    >>> int(fit.nobs)
    100
    """
    covariates = as_list(covariates)
    if not covariates:
        raise MultilevelInputError("name at least one covariate; an intercept is added.")
    frame = check_model_data(data, response, covariates, group, min_groups=2)
    means = frame.groupby(group, observed=True)[[response] + covariates].mean()
    if len(means) <= len(covariates) + 1:
        raise MultilevelInputError(
            f"{len(means)} groups cannot identify an intercept and {len(covariates)} slopes "
            "from group means; the between estimator needs more groups than coefficients."
        )
    design = np.column_stack([np.ones(len(means)), means[covariates].to_numpy(float)])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise MultilevelInputError(
            f"the group means of {covariates} are collinear with each other or constant across "
            "groups; the between estimator cannot separate them. Drop one of them."
        )
    return fit_ols(means, response, covariates)


def add_group_means(
    data: pd.DataFrame,
    columns: str | list[str],
    group: str,
    suffix: str = "_mean",
) -> pd.DataFrame:
    """Return a copy of ``data`` with each group's mean of ``columns`` added (Mundlak's device).

    Each new column ``<column><suffix>`` holds, on every row, the mean of
    ``column`` over the rows of the same group. Added as covariates to a
    random-effects model, these means absorb the part of the group effect that
    is correlated with the covariates (Mundlak 1978): in a balanced panel the
    coefficients on the original columns then equal the fixed-effects estimates,
    and a test that the coefficients on the means are zero is a version of the
    Hausman test (see :func:`wald_test`).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"g": [1, 1, 2, 2], "x": [1.0, 3.0, 5.0, 9.0]})
    >>> add_group_means(df, "x", "g")["x_mean"].tolist()
    [2.0, 2.0, 7.0, 7.0]
    """
    columns = as_list(columns)
    if not columns:
        raise MultilevelInputError("name at least one column to average within groups.")
    frame = check_model_data(data, None, columns, group, min_groups=1)
    new = [f"{c}{suffix}" for c in columns]
    clash = [n for n in new if n in data.columns]
    if clash:
        raise MultilevelInputError(
            f"column(s) {clash} already exist in the data; pass another `suffix` "
            "or drop them first."
        )
    out = data.copy()
    means = frame.groupby(group, observed=True)[columns].transform("mean")
    for column, name in zip(columns, new):
        out[name] = means[column].to_numpy()
    return out


_INTERCEPT_NAMES = ("Intercept", "const", "(Intercept)")


def _coefficients_and_covariance(fit: object, name: str) -> tuple[pd.Series, pd.DataFrame]:
    """Coefficients and their covariance from any of the fits the package works with."""
    if isinstance(fit, (FixedEffectsFit, RandomInterceptFit)):
        return fit.params, fit.cov_params
    if isinstance(fit, MixedFit):
        cov = _gls_fixed_cov(fit.result)
        index = fit.params.index
        return fit.params, pd.DataFrame(cov, index=index, columns=index)
    params = getattr(fit, "params", None)
    cov = getattr(fit, "cov", None)  # linearmodels results
    if cov is None and callable(getattr(fit, "cov_params", None)):  # statsmodels results
        cov = fit.cov_params()
    if isinstance(params, pd.Series) and isinstance(cov, pd.DataFrame):
        return params, cov
    raise MultilevelInputError(
        f"`{name}` must be a fit from multilevel.models (fit_fixed_effects, fit_random_intercept, "
        "fit_mixed) or a statsmodels/linearmodels results object with "
        f"named coefficients and their covariance; got {type(fit).__name__}."
    )


def _nobs(fit: object) -> int | None:
    if isinstance(fit, MixedFit):
        return int(fit.result.nobs)
    value = getattr(fit, "nobs", None)
    return int(value) if value is not None and np.isfinite(value) else None


@dataclass(frozen=True)
class HausmanTest:
    """Result of :func:`hausman_test`.

    Attributes
    ----------
    statistic, df, p_value
        The chi-squared statistic, its degrees of freedom (the number of
        directions in which the covariance difference is positive) and p-value.
    comparison
        One row per compared coefficient: the fixed- and random-effects
        estimates, their difference, and the difference's standard error
        (``NaN`` where the estimated variance of the difference is not positive).
    eigenvalues
        Eigenvalues of ``V_FE - V_RE``, smallest first.
    positive_definite
        Whether ``V_FE - V_RE`` is positive definite. If not, ``df`` is smaller
        than the number of coefficients compared.
    """

    statistic: float
    df: int
    p_value: float
    comparison: pd.DataFrame
    eigenvalues: np.ndarray
    positive_definite: bool

    @property
    def n_dropped(self) -> int:
        """Directions left out because their variance was not positive."""
        return len(self.comparison) - self.df

    def summary(self) -> str:
        """One line in the style of a textbook report of the test.

        Examples
        --------
        >>> from multilevel.models import fit_random_intercept
        >>> from multilevel.simulate import simulate_students
        >>> df = simulate_students(seed=1)
        >>> test = hausman_test(fit_fixed_effects(df, "score", "hours", "student"),
        ...                     fit_random_intercept(df, "score", "hours", "student"))
        >>> test.summary().startswith("Hausman test: chi2(1) = ")
        True
        """
        line = f"Hausman test: chi2({self.df}) = {self.statistic:.2f}, p = {self.p_value:.3g}"
        if not self.positive_definite:
            line += (f" (V_FE - V_RE is not positive definite: {self.n_dropped} of "
                     f"{len(self.comparison)} directions dropped)")
        return line


def hausman_test(
    fe_fit: object,
    re_fit: object,
    terms: str | list[str] | None = None,
    tol: float = 1e-8,
) -> HausmanTest:
    """Hausman's (1978) test of random effects against fixed effects.

    Under the null hypothesis that the group effects are uncorrelated with the
    covariates, both estimators are consistent and random effects is efficient,
    so the variance of their difference ``q = b_FE - b_RE`` is ``V_FE - V_RE`` and

    ``H = q' (V_FE - V_RE)^- q``

    is chi-squared. If the group effects are correlated with the covariates,
    fixed effects stays consistent but random effects does not, and ``H`` grows.

    In finite samples the estimated ``V_FE - V_RE`` need not be positive
    definite. This function works in the eigenvectors of the difference: it
    keeps the directions whose eigenvalue is positive (greater than ``tol``
    times the largest absolute eigenvalue), uses the generalised inverse there,
    and counts those directions as the degrees of freedom. With a positive
    definite difference that is the usual formula; with a singular one it is
    the Moore-Penrose generalised-inverse form with ``df`` equal to the rank of
    the difference (see Hausman 1978 and Wooldridge 2010, ch. 10, on the test
    and on singular differences); a direction with a negative variance
    estimate carries no usable information and is dropped (a generalised inverse of an indefinite matrix could make
    ``H`` negative). The result says when this happened (``positive_definite``,
    ``n_dropped``). (``linearmodels``' ``RandomEffectsResults.hausman`` also
    uses a generalised inverse but keeps ``df`` at the number of coefficients;
    with a positive definite difference the two agree exactly.) The Mundlak
    regression test (:func:`add_group_means` and :func:`wald_test`) is always well
    defined and is the usual alternative.

    Parameters
    ----------
    fe_fit
        The fixed-effects fit (:func:`fit_fixed_effects`, or any results object
        with named ``params`` and a covariance matrix, e.g. linearmodels' ``PanelOLS``).
    re_fit
        The random-effects fit: :func:`fit_random_intercept`, :func:`fit_mixed`,
        or linearmodels' ``RandomEffects``.
    terms
        Coefficients to compare; by default every coefficient the two fits share,
        except the intercept. Coefficients of covariates that do not vary within
        groups cannot be compared: fixed effects cannot estimate them.
    tol
        Relative size below which an eigenvalue of ``V_FE - V_RE`` counts as not positive.

    Examples
    --------
    >>> from multilevel.models import fit_random_intercept
    >>> from multilevel.simulate import simulate_students
    >>> df = simulate_students(correlated=True, seed=1)
    >>> fe = fit_fixed_effects(df, "score", "hours", "student")
    >>> re = fit_random_intercept(df, "score", "hours", "student")
    >>> test = hausman_test(fe, re)
    >>> test.df, bool(test.p_value < 0.001)
    (1, True)
    """
    if not (np.isfinite(tol) and 0 <= tol < 1):
        raise MultilevelInputError(f"`tol` must lie in [0, 1), got {tol!r}.")
    b_fe, v_fe = _coefficients_and_covariance(fe_fit, "fe_fit")
    b_re, v_re = _coefficients_and_covariance(re_fit, "re_fit")
    n_fe, n_re = _nobs(fe_fit), _nobs(re_fit)
    if n_fe is not None and n_re is not None and n_fe != n_re:
        raise MultilevelInputError(
            f"the two fits use different numbers of observations ({n_fe} and {n_re}); "
            "fit both models to the same rows."
        )
    shared = [t for t in b_fe.index if t in b_re.index and t not in _INTERCEPT_NAMES]
    terms = shared if terms is None else as_list(terms)
    if not terms:
        raise MultilevelInputError(
            "the two fits share no coefficient to compare; the fixed-effects fit estimates "
            f"{list(b_fe.index)} and the random-effects fit {list(b_re.index)}."
        )
    missing = [t for t in terms if t not in b_fe.index or t not in b_re.index]
    if missing:
        raise MultilevelInputError(
            f"term(s) {missing} are not estimated by both fits (fixed effects: {list(b_fe.index)}; "
            f"random effects: {list(b_re.index)}). Only coefficients of covariates that vary "
            "within groups can be compared."
        )
    q = (b_fe[terms] - b_re[terms]).to_numpy(float)
    diff = v_fe.loc[terms, terms].to_numpy(float) - v_re.loc[terms, terms].to_numpy(float)
    diff = (diff + diff.T) / 2
    eigenvalues, vectors = np.linalg.eigh(diff)
    scale = float(np.max(np.abs(eigenvalues)))
    keep = eigenvalues > tol * scale if scale > 0 else np.zeros_like(eigenvalues, dtype=bool)
    df = int(keep.sum())
    if df:
        z = vectors[:, keep].T @ q
        statistic = float(np.sum(z**2 / eigenvalues[keep]))
        p_value = float(stats.chi2.sf(statistic, df))
    else:
        statistic = p_value = float("nan")
    variances = np.diag(diff)
    comparison = pd.DataFrame(
        {
            "fixed": b_fe[terms].to_numpy(float),
            "random": b_re[terms].to_numpy(float),
            "difference": q,
            "std_error_difference": np.where(
                variances > 0, np.sqrt(np.clip(variances, 0, None)), np.nan
            ),
        },
        index=pd.Index(terms, name="term"),
    )
    return HausmanTest(
        statistic=statistic,
        df=df,
        p_value=p_value,
        comparison=comparison,
        eigenvalues=eigenvalues,
        positive_definite=bool(df == len(terms)),
    )


def wald_test(fit: object, terms: str | list[str]) -> pd.Series:
    """Wald test that the coefficients ``terms`` are all zero: ``b' V^-1 b`` against chi-squared.

    With the group means of :func:`add_group_means` as ``terms`` in a
    random-effects fit, this is the Mundlak (regression) form of the Hausman test.
    Accepts the same fits as :func:`hausman_test`.

    Returns
    -------
    pandas.Series
        ``statistic``, ``df`` and ``p_value``.

    Examples
    --------
    >>> from multilevel.models import fit_random_intercept
    >>> from multilevel.simulate import simulate_students
    >>> df = add_group_means(simulate_students(correlated=True, seed=1), "hours", "student")
    >>> fit = fit_random_intercept(df, "score", ["hours", "hours_mean"], "student")
    >>> bool(wald_test(fit, "hours_mean")["p_value"] < 0.001)
    True
    """
    terms = as_list(terms)
    if not terms:
        raise MultilevelInputError("name at least one coefficient to test.")
    params, cov = _coefficients_and_covariance(fit, "fit")
    missing = [t for t in terms if t not in params.index]
    if missing:
        raise MultilevelInputError(
            f"term(s) {missing} are not coefficients of the fit; it has {list(params.index)}."
        )
    b = params[terms].to_numpy(float)
    statistic = float(b @ np.linalg.solve(cov.loc[terms, terms].to_numpy(float), b))
    return pd.Series(
        {"statistic": statistic, "df": len(terms),
         "p_value": float(stats.chi2.sf(statistic, len(terms)))}
    )
