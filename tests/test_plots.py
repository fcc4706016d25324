"""The shared figure style and plotting functions."""

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb

from multilevel import plots, simulate


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
