"""Fitting and summarising linear multilevel models.

Everything is importable from here (``from multilevel import models``;
``models.fit_random_intercept(...)``); the code is organised by concern:

- :mod:`~multilevel.models.clustering`: the intraclass correlation, the design effect,
  least squares with naive or cluster-robust standard errors;
- :mod:`~multilevel.models.lmm`: exact linear mixed models by lme4's profiled likelihood
  (a random intercept; random intercepts for several nested or crossed factors; correlated
  random slopes) and their predicted random effects;
- :mod:`~multilevel.models.mixedlm`: statsmodels' ``MixedLM`` with a deliberate choice of
  optimiser, and the :class:`MixedFit` results object;
- :mod:`~multilevel.models.compare`: likelihood-ratio tests, variance explained, variance shares;
- :mod:`~multilevel.models.panel`: fixed effects, the between estimator, Mundlak's group means,
  the Hausman and Wald tests;
- :mod:`~multilevel.models.fe_logit`: the fixed-effects logit.

Logit models with random effects are in :mod:`multilevel.glmm`. Every estimate these
functions return is checked against R's lme4 (or linearmodels) in ``tests/``.
"""

from multilevel.models.clustering import (
    design_effect,
    fit_ols,
    icc,
)
from multilevel.models.compare import (
    lr_test,
    variance_explained,
    variance_shares,
)
from multilevel.models.fe_logit import (
    FixedEffectsLogitFit,
    fit_fe_logit,
)
from multilevel.models.lmm import (
    RandomInterceptFit,
    VarianceComponentsFit,
    conditional_effects,
    fit_mixed_profiled,
    fit_random_intercept,
    fit_variance_components,
    quasi_demeaning_theta,
)
from multilevel.models.mixedlm import (
    MixedFit,
    fit_crossed,
    fit_mixed,
)
from multilevel.models.panel import (
    FixedEffectsFit,
    HausmanTest,
    add_group_means,
    fe_dummies,
    fit_between,
    fit_fixed_effects,
    hausman_test,
    wald_test,
)

__all__ = [
    "FixedEffectsFit",
    "FixedEffectsLogitFit",
    "HausmanTest",
    "MixedFit",
    "RandomInterceptFit",
    "VarianceComponentsFit",
    "add_group_means",
    "conditional_effects",
    "design_effect",
    "fe_dummies",
    "fit_between",
    "fit_crossed",
    "fit_fe_logit",
    "fit_fixed_effects",
    "fit_mixed",
    "fit_mixed_profiled",
    "fit_ols",
    "fit_random_intercept",
    "fit_variance_components",
    "hausman_test",
    "icc",
    "lr_test",
    "quasi_demeaning_theta",
    "variance_explained",
    "variance_shares",
    "wald_test",
]
