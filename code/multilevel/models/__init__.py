"""What the book needs beyond mixed models (which are :func:`~multilevel.mixed.lmer` and
:func:`~multilevel.mixed.glmer`): each module fills a gap that statsmodels, linearmodels and
pandas leave, and says which.

- :mod:`~multilevel.models.clustering`: the intraclass correlation and the design effect;
- :mod:`~multilevel.models.panel`: Hausman's test between any fixed-effects and any
  random-effects fit, and the random-effects quasi-demeaning weight;
- :mod:`~multilevel.models.fe_logit`: the fixed-effects logit for many small groups.

Everything is importable from here (``from multilevel import models``).
"""

from multilevel.models.clustering import design_effect, icc
from multilevel.models.fe_logit import FixedEffectsLogitFit, fit_fe_logit
from multilevel.models.panel import HausmanTest, hausman_test, quasi_demeaning_theta

__all__ = [
    "FixedEffectsLogitFit",
    "HausmanTest",
    "design_effect",
    "fit_fe_logit",
    "hausman_test",
    "icc",
    "quasi_demeaning_theta",
]
