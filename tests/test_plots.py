"""The shared figure style and plotting functions."""

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from multilevel import MultilevelInputError, plots, simulate


def test_style_is_opaque_and_uses_the_palette():
    plots.set_style()
    assert mpl.rcParams["savefig.transparent"] is False
    assert to_rgb(mpl.rcParams["figure.facecolor"]) == (1.0, 1.0, 1.0)
    cycle = [c["color"] for c in mpl.rcParams["axes.prop_cycle"]]
    assert cycle == plots.PALETTE


def test_palette_is_distinct_in_grey_for_the_first_colours():
    # A figure printed in grey or seen without colour still tells neighbours apart
    # by lightness, and markers carry group identity as well.
    def lightness(color):
        r, g, b = to_rgb(color)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    first = sorted(lightness(c) for c in plots.PALETTE[:3])
    assert min(np.diff(first)) > 0.05
    assert len(set(plots.MARKERS)) == len(plots.MARKERS) == len(plots.PALETTE)


def test_plot_functions_draw_on_the_given_axes():
    df = simulate.simulate_clustered(n_groups=4, group_size=5, covariate_level="individual")
    fig, ax = plt.subplots()
    assert plots.scatter_by_group(df, "x", "y", "group", ax=ax) is ax
    assert len(ax.collections) == 4
    plots.add_line(ax, 0.0, 1.0, x_range=(0, 1))
    assert ax.lines[-1].get_ydata()[-1] == 1.0
    eff = pd.DataFrame({"estimate": [0.2, -0.1], "std_error": [0.1, 0.1]}, index=["a", "b"])
    fig, ax = plt.subplots()
    assert plots.caterpillar(eff, ax=ax) is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "a"]


def test_group_sizes_and_crossed_incidence():
    frame = pd.DataFrame({"primary": list("aabbc"), "second": list("xyxyy")})
    ax = plots.crossed_incidence(frame, "primary", "second")
    image = ax.images[0].get_array()
    assert image.shape == (3, 2) and image.sum() == 5
    ax = plots.group_sizes(frame, "primary", label_extremes=1)
    assert list(ax.lines[0].get_ydata()) == [1, 2, 2]


def paradox_frames():
    groups = pd.DataFrame({"avg": [-0.4, -0.1, 0.0, 0.3], "share": [0.6, 0.55, 0.5, 0.4],
                           "fit": [0.58, 0.54, 0.5, 0.42]}, index=["poor", "low", "mid", "rich"])
    curves = pd.DataFrame({"state": ["poor"] * 3 + ["rich"] * 3, "income": [-2, 0, 2] * 2,
                           "p": [0.4, 0.6, 0.8, 0.35, 0.38, 0.41]})
    return groups, curves


def test_between_and_within_draws_both_levels():
    groups, curves = paradox_frames()
    fig = plots.between_and_within(groups, curves, "avg", "share", "fit", "income", "p", "state",
                                   highlight=["poor", "rich"], others_label="other states",
                                   line_label="least squares")
    left, right = fig.axes
    # Left: the two other states grey, the least-squares line through all four, one marker
    # per highlighted state, named; right: the line, a curve and a marker per state.
    assert left.collections[0].get_offsets().shape == (2, 2)
    line = left.lines[0]
    slope, intercept = np.polyfit(groups["avg"], groups["share"], 1)
    np.testing.assert_allclose(line.get_ydata(), intercept + slope * line.get_xdata())
    assert [t.get_text() for t in left.texts] == ["poor", "rich"]
    assert [c.get_label() for c in right.lines[1::2]] == ["poor, by income", "rich, by income"]
    np.testing.assert_array_equal(right.lines[1].get_ydata(), [0.4, 0.6, 0.8])
    assert [t.get_text() for t in right.get_legend().get_texts()][:2] == ["other states",
                                                                          "least squares"]
    assert list(right.get_xticks()) == [-2, 0, 2]
    # Highlighted states keep their colour and marker across the panels.
    assert left.lines[1].get_color() == right.lines[2].get_color() == plots.PALETTE[0]
    assert left.lines[1].get_marker() == right.lines[2].get_marker() == plots.MARKERS[1]
    assert (left.get_xlabel(), right.get_ylabel()) == ("avg", "p")


def test_between_and_within_draws_on_given_axes_and_checks_input():
    groups, curves = paradox_frames()
    fig, axes = plt.subplots(1, 2)
    assert plots.between_and_within(groups, curves, "avg", "share", "fit", "income", "p", "state",
                                    highlight=["poor"], axes=axes) is fig
    args = (groups, curves, "avg", "share", "fit", "income", "p", "state")
    with pytest.raises(MultilevelInputError, match="cannot highlight"):
        plots.between_and_within(*args, highlight=["Atlantis"])
    with pytest.raises(MultilevelInputError, match="no rows for \\['low'\\]"):
        plots.between_and_within(*args, highlight=["low"])
    with pytest.raises(MultilevelInputError, match="two matplotlib Axes"):
        plots.between_and_within(*args, highlight=["poor"], axes=[axes[0]])
    with pytest.raises(MultilevelInputError, match="not found"):
        plots.between_and_within(groups, curves, "avg", "share", "fitted", "income", "p", "state",
                                 highlight=["poor"])
    with pytest.raises(MultilevelInputError, match="missing"):
        plots.between_and_within(groups.assign(share=[0.6, np.nan, 0.5, 0.4]), *args[1:],
                                 highlight=["poor"])
