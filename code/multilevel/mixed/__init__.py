"""Mixed models in lme4's design: formula -> random-effects terms -> penalised least squares
-> profiled (REML) deviance or Laplace/quadrature likelihood -> one result class.

The front doors are :func:`~multilevel.mixed.lmer`, :func:`~multilevel.mixed.glmer` and
:func:`~multilevel.mixed.lrtest`; the modules are the stages:

- :mod:`~multilevel.mixed.formula`: lme4's bar syntax;
- :mod:`~multilevel.mixed.terms`: the model matrices and ``Lambda(theta)``;
- :mod:`~multilevel.mixed.pls`: the penalised least-squares system (dense blocks or CHOLMOD);
- :mod:`~multilevel.mixed.linear`, :mod:`~multilevel.mixed.glm`: the deviances;
- :mod:`~multilevel.mixed.optimize`: the optimiser policy;
- :mod:`~multilevel.mixed.result`, :mod:`~multilevel.mixed.inference`: results, intervals, tests.
"""

from multilevel.mixed.fit import glmer, lmer
from multilevel.mixed.inference import lrtest
from multilevel.mixed.result import MixedModelResult, MixedModelWarning

__all__ = ["MixedModelResult", "MixedModelWarning", "glmer", "lmer", "lrtest"]
