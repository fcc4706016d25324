"""The intraclass correlation and the design effect against their formulas."""

import numpy as np
import pytest

from multilevel import MultilevelInputError, models


def test_icc_and_design_effect_equal_their_formulas():
    assert models.icc(0.7, 0.2) == pytest.approx(0.49 / 0.53)
    # The lecture's 96% is the square root of the variance share.
    assert np.sqrt(models.icc(0.7, 0.2)) == pytest.approx(0.9615, abs=1e-4)
    assert models.design_effect(20, 0.3) == pytest.approx(1 + 19 * 0.3)
    assert models.design_effect(1, 0.9) == 1
    with pytest.raises(MultilevelInputError):
        models.design_effect(10, 1.5)
    with pytest.raises(MultilevelInputError):
        models.icc(0, 0)
