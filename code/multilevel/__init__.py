"""Helper package for the course book *Multilevel Models in Python*.

The front doors for mixed models are :func:`lmer`, :func:`glmer` and :func:`lrtest`
(:mod:`multilevel.mixed`, built the way lme4 is). One module per concern:

- :mod:`multilevel.simulate` -- seeded simulators for the book's examples;
- :mod:`multilevel.models` -- fitting and summarising linear multilevel models;
- :mod:`multilevel.glmm` -- maximum-likelihood logit models with random effects (like lme4's glmer);
- :mod:`multilevel.logit` -- single-level logits: full pooling, no pooling, separation checks;
- :mod:`multilevel.plots` -- the book's figure style and shared figures;
- :mod:`multilevel.data` -- loaders for the real data sets and the book's CSV files.
"""

from multilevel._checks import MultilevelInputError
from multilevel.mixed import MixedModelResult, MixedModelWarning, glmer, lmer, lrtest

__all__ = ["MixedModelResult", "MixedModelWarning", "MultilevelInputError", "glmer", "lmer",
           "lrtest"]
__version__ = "0.1.0"
