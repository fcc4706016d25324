"""The figure palette stays distinguishable for readers with a colour-vision deficiency.

Each colour is passed through the dichromacy matrices of Machado, Oliveira & Fernandes
(2009) in linear sRGB, and every pair is compared by the CIEDE2000 colour difference
(Sharma, Wu & Dalal 2005), which must reach ``MIN_DELTA_E``. Both come from the
colour-science library; the first tests check that it is used as intended.
"""

import warnings

import numpy as np

# Importing colour-science switches numpy to its 1.13 printing (floats as 12 digits in
# str() and so in DataFrame.to_csv) for the whole process; put numpy's options back.
_print_options = np.get_printoptions()
import colour  # noqa: E402

np.set_printoptions(**_print_options)

import pytest  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from multilevel import plots  # noqa: E402

DEFICIENCIES = {"protanopia": "Protanomaly", "deuteranopia": "Deuteranomaly",
                "tritanopia": "Tritanomaly"}
#: Smallest CIEDE2000 difference two palette colours must keep, for normal vision and for
#: each simulated deficiency. A just-noticeable difference between large colour patches is
#: about 1 unit; the groups in a scatter plot are small markers, so the book asks for 10.
#: This is a design rule of the book, not a published standard.
MIN_DELTA_E = 10.0


def seen(color: str, deficiency: str | None = None) -> np.ndarray:
    """Linear sRGB of a colour as a reader with ``deficiency`` (severity 1) sees it."""
    linear = colour.cctf_decoding(np.array(to_rgb(color)), function="sRGB")
    if deficiency is None:
        return linear
    with warnings.catch_warnings():
        # The library notes that Machado's tritanomaly matrices come from a shift model;
        # they are the published ones, which is what the check intends to use.
        warnings.filterwarnings("ignore", message=".*tritanomaly",
                                category=colour.utilities.ColourUsageWarning)
        matrix = colour.matrix_cvd_Machado2009(DEFICIENCIES[deficiency], 1)
    return np.clip(matrix @ linear, 0, 1)


def difference(color1: str, color2: str, deficiency: str | None = None) -> float:
    """CIEDE2000 between two colours as seen with ``deficiency`` (None: normal vision)."""
    lab1, lab2 = (colour.XYZ_to_Lab(colour.sRGB_to_XYZ(seen(c, deficiency),
                                                       apply_cctf_decoding=False))
                  for c in (color1, color2))
    return float(colour.delta_E(lab1, lab2, method="CIE 2000"))


def test_importing_colour_science_leaves_numpy_printing_alone():
    assert np.array([1.8572532851902679]).astype(str)[0] == "1.8572532851902679"


def test_ciede2000_matches_the_published_test_data():
    # Sharma, Wu & Dalal (2005), Table 1, pairs 1 and 17 (across the hue discontinuity).
    assert colour.delta_E([50.0, 2.6772, -79.7751], [50.0, 0.0, -82.7485],
                          method="CIE 2000") == pytest.approx(2.0425, abs=5e-5)
    assert colour.delta_E([50.0, 2.5, 0.0], [73.0, 25.0, -18.0],
                          method="CIE 2000") == pytest.approx(27.1492, abs=5e-5)


@pytest.mark.parametrize("deficiency", sorted(DEFICIENCIES))
def test_dichromat_sees_white_black_and_greys_unchanged(deficiency):
    # Machado's matrices keep the achromatic axis.
    for grey in ["#000000", "#777777", "#ffffff"]:
        np.testing.assert_allclose(seen(grey, deficiency), seen(grey), atol=1e-4)


def test_red_green_confusion_is_reproduced():
    # Red and green are confused by protanopes and deuteranopes, not by tritanopes;
    # blue and green by tritanopes far more than by the others.
    red, green, blue = "#d62728", "#2ca02c", "#1f77b4"
    normal = difference(red, green)
    assert difference(red, green, "protanopia") < normal / 2
    assert difference(red, green, "deuteranopia") < normal / 4
    assert difference(red, green, "tritanopia") > 0.8 * normal
    blue_green = difference(blue, green)
    assert difference(blue, green, "tritanopia") < blue_green / 3
    assert difference(blue, green, "deuteranopia") > 0.8 * blue_green


def test_okabe_ito_grey_is_too_close_to_reddish_purple_for_deuteranopes():
    # Why the book's palette replaces Okabe & Ito's grey: the check can fail.
    assert difference("#CC79A7", "#999999", "deuteranopia") < MIN_DELTA_E
    assert difference("#CC79A7", "#999999") >= MIN_DELTA_E


@pytest.mark.parametrize("deficiency", [None, *sorted(DEFICIENCIES)])
def test_book_palette_is_distinguishable_with_colour_vision_deficiencies(deficiency):
    pairs = [(a, b) for i, a in enumerate(plots.PALETTE) for b in plots.PALETTE[i + 1:]]
    close = {(a, b): round(difference(a, b, deficiency), 1) for a, b in pairs
             if difference(a, b, deficiency) < MIN_DELTA_E}
    assert not close, f"palette colours closer than CIEDE2000 {MIN_DELTA_E:g} ({deficiency}): {close}"
