"""Helper package for the course book *Multilevel Models in Python*.

Mixed models have one front door each: :func:`lmer` (linear), :func:`glmer` (binomial
and Poisson) and :func:`lrtest` (likelihood-ratio tests), built the way lme4 is
(:mod:`multilevel.mixed`). The other modules:

- :mod:`multilevel.simulate` -- seeded simulators for the book's examples;
- :mod:`multilevel.models` -- the intraclass correlation, Hausman's test, the fixed-effects logit;
- :mod:`multilevel.logit` -- single-level logits: separation checks and no pooling;
- :mod:`multilevel.plots` -- the book's figure style and shared figures;
- :mod:`multilevel.data` -- loaders for the real data sets and the book's CSV files;
- :mod:`multilevel.book` -- gluing computed values into the text.
"""

from multilevel._checks import MultilevelInputError
from multilevel.mixed import MixedModelResult, MixedModelWarning, glmer, lmer, lrtest

__all__ = ["MixedModelResult", "MixedModelWarning", "MultilevelInputError", "glmer", "lmer",
           "lrtest"]
__version__ = "0.1.0"
