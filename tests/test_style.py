"""The figure palette stays distinguishable for readers with a colour-vision deficiency.

The check lives in :mod:`multilevel.plots` (``simulate_cvd``, ``ciede2000``,
``color_difference``, ``palette_check``): each colour is passed through the
Machado, Oliveira & Fernandes (2009) dichromacy matrices and every pair is
compared by the CIEDE2000 colour difference, which must reach ``MIN_DELTA_E``.
"""

import numpy as np
import pytest

from multilevel import MultilevelInputError, plots

# Sharma, Wu & Dalal (2005), Table 1: CIELAB pairs and their CIEDE2000 difference.
# The pairs cover the hue-angle discontinuity (pairs 13-19) and near-neutral colours.
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0011), 7.2195),
    ((50.0, -0.001, 2.49), (50.0, 0.0009, -2.49), 4.8045),
    ((50.0, -0.001, 2.49), (50.0, 0.0011, -2.49), 4.7461),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA_PAIRS)
def test_ciede2000_matches_the_published_test_data(lab1, lab2, expected):
    assert plots.ciede2000(lab1, lab2) == pytest.approx(expected, abs=5e-5)
    # The difference is symmetric.
    assert plots.ciede2000(lab2, lab1) == pytest.approx(expected, abs=5e-5)


def test_ciede2000_is_vectorised_over_rows():
    first = np.array([p[0] for p in SHARMA_PAIRS])
    second = np.array([p[1] for p in SHARMA_PAIRS])
    expected = [p[2] for p in SHARMA_PAIRS]
    np.testing.assert_allclose(plots.ciede2000(first, second), expected, atol=5e-5)


@pytest.mark.parametrize("deficiency", sorted(plots.CVD_MATRICES))
def test_dichromat_sees_white_black_and_greys_unchanged(deficiency):
    # Machado's matrices keep the achromatic axis: each row sums to one.
    np.testing.assert_allclose(plots.CVD_MATRICES[deficiency].sum(axis=1), 1.0, atol=1e-5)
    greys = ["#000000", "#777777", "#ffffff"]
    assert plots.simulate_cvd(greys, deficiency) == ["#000000", "#777777", "#ffffff"]


def test_red_green_confusion_is_reproduced():
    # Red and green are confused by protanopes and deuteranopes, not by tritanopes;
    # blue and green by tritanopes far more than by the others.
    red, green, blue = "#d62728", "#2ca02c", "#1f77b4"
    normal = plots.color_difference(red, green)
    assert plots.color_difference(red, green, "protanopia") < normal / 2
    assert plots.color_difference(red, green, "deuteranopia") < normal / 4
    assert plots.color_difference(red, green, "tritanopia") > 0.8 * normal
    blue_green = plots.color_difference(blue, green)
    assert plots.color_difference(blue, green, "tritanopia") < blue_green / 3
    assert plots.color_difference(blue, green, "deuteranopia") > 0.8 * blue_green


def test_palette_check_finds_the_closest_pair():
    check = plots.palette_check(["#CC79A7", "#999999", "#0072B2"])
    assert list(check.index) == ["normal", "protanopia", "deuteranopia", "tritanopia"]
    row = check.loc["deuteranopia"]
    assert {row["color1"], row["color2"]} == {"#CC79A7", "#999999"}
    assert row["delta_e"] == pytest.approx(
        plots.color_difference("#CC79A7", "#999999", "deuteranopia")
    )
    assert not row["passes"] and check.loc["normal", "passes"]


def test_palette_check_rejects_bad_input():
    with pytest.raises(MultilevelInputError, match="not a colour matplotlib understands"):
        plots.palette_check(["#0072B2", "#12345"])
    with pytest.raises(MultilevelInputError, match="at least two colours"):
        plots.palette_check(["#0072B2"])
    with pytest.raises(MultilevelInputError, match="`deficiency` must be one of"):
        plots.simulate_cvd(["#0072B2"], "achromatopsia")
    with pytest.raises(MultilevelInputError, match="`min_delta_e` must be positive"):
        plots.palette_check(min_delta_e=0)


def test_book_palette_is_distinguishable_with_colour_vision_deficiencies():
    check = plots.palette_check(plots.PALETTE)
    failing = check[~check["passes"]]
    assert failing.empty, (
        f"palette colours closer than CIEDE2000 {plots.MIN_DELTA_E:g}:\n"
        f"{failing.to_string(float_format=lambda v: f'{v:.1f}')}"
    )
