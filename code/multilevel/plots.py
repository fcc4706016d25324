"""The book's figure style and the figures its chapters share.

Call :func:`set_style` once at the top of a chapter. Every plotting function
takes a DataFrame and column names, draws on ``ax`` (a new one if ``None``) and
returns the :class:`matplotlib.axes.Axes`, in the manner of seaborn.
"""

from __future__ import annotations

import itertools

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from multilevel._checks import (
    MultilevelInputError,
    require_columns,
    require_complete,
    require_dataframe,
)

#: Okabe & Ito's palette (2008), distinguishable with the common colour-vision
#: deficiencies; black is left out of the cycle and kept for reference lines.
PALETTE: list[str] = [
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#999999",  # grey
]
#: Markers cycled together with colours, so groups differ by shape as well as hue.
MARKERS: list[str] = ["o", "s", "^", "D", "v", "P", "X", "*"]
REFERENCE_COLOR = "#000000"


def set_style() -> None:
    """Apply the book's figure style: palette, readable sizes, opaque white background.

    The background is opaque so that figures stay readable when the site is in
    dark mode (a transparent figure would put black text on a dark page).
    """
    mpl.rcParams.update(
        {
            "figure.figsize": (7.0, 4.2),
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "figure.facecolor": "white",
            "axes.facecolor": "white",
            "savefig.facecolor": "white",
            "savefig.transparent": False,
            "savefig.bbox": "tight",
            "font.size": 11,
            "axes.titlesize": 12,
            "axes.titleweight": "bold",
            "axes.labelsize": 11,
            "xtick.labelsize": 10,
            "ytick.labelsize": 10,
            "legend.fontsize": 10,
            "legend.frameon": False,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": "#e5e5e5",
            "grid.linewidth": 0.8,
            "axes.axisbelow": True,
            "axes.prop_cycle": mpl.cycler(color=PALETTE),
            "lines.linewidth": 2.0,
            "image.cmap": "cividis",
        }
    )


def _axes(ax: Axes | None) -> Axes:
    return plt.subplots()[1] if ax is None else ax


def group_colors(groups: pd.Series | np.ndarray | list) -> dict:
    """Map each distinct group label (in sorted order) to a palette colour, cycling."""
    labels = pd.unique(pd.Series(groups)).tolist()
    try:
        labels = sorted(labels)
    except TypeError:
        pass
    return dict(zip(labels, itertools.cycle(PALETTE)))


def scatter_by_group(
    data: pd.DataFrame,
    x: str,
    y: str,
    group: str,
    ax: Axes | None = None,
    size: float = 22,
    alpha: float = 0.8,
) -> Axes:
    """Scatter ``y`` against ``x`` with each group in its own colour and marker.

    Colours and markers cycle when there are more groups than palette entries,
    so the figure shows clustering, not the identity of every group.

    Examples
    --------
    >>> from multilevel.simulate import simulate_clustered
    >>> df = simulate_clustered(n_groups=5, group_size=8, covariate_level="individual")
    >>> ax = scatter_by_group(df, "x", "y", "group")
    """
    require_dataframe(data)
    require_columns(data, [x, y, group])
    require_complete(data, [x, y, group])
    ax = _axes(ax)
    colors = group_colors(data[group])
    for (label, color), marker in zip(colors.items(), itertools.cycle(MARKERS)):
        rows = data[group] == label
        ax.scatter(data.loc[rows, x], data.loc[rows, y], s=size, color=color, marker=marker,
                   alpha=alpha, edgecolor="white", linewidth=0.4)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    return ax


def add_line(
    ax: Axes,
    intercept: float,
    slope: float,
    x_range: tuple[float, float] | None = None,
    **line_kwargs,
) -> Axes:
    """Draw the line ``intercept + slope * x`` over ``x_range`` (default: the axes' x limits)."""
    if not (np.isfinite(intercept) and np.isfinite(slope)):
        raise MultilevelInputError("`intercept` and `slope` must be finite numbers.")
    lo, hi = ax.get_xlim() if x_range is None else x_range
    xs = np.linspace(lo, hi, 50)
    ax.plot(xs, intercept + slope * xs, **line_kwargs)
    return ax


def caterpillar(
    effects: pd.DataFrame,
    estimate: str = "estimate",
    std_error: str = "std_error",
    ax: Axes | None = None,
    level: float = 0.95,
    label_every: int = 1,
) -> Axes:
    """Caterpillar plot: group effects sorted by size, each with its interval.

    Parameters
    ----------
    effects
        One row per group, indexed by group label, with an estimate and a
        standard error column (e.g. conditional modes and the square roots of
        their conditional variances).
    level
        Coverage of the normal intervals drawn around each estimate.
    label_every
        Label every k-th group on the vertical axis (1 labels all).

    Examples
    --------
    >>> import pandas as pd
    >>> eff = pd.DataFrame({"estimate": [0.3, -0.2, 0.1], "std_error": [0.1, 0.2, 0.1]},
    ...                    index=["a", "b", "c"])
    >>> ax = caterpillar(eff)
    """
    require_dataframe(effects, "effects")
    require_columns(effects, [estimate, std_error])
    require_complete(effects, [estimate, std_error])
    if not 0 < level < 1:
        raise MultilevelInputError(f"`level` must lie in (0, 1), got {level!r}.")
    from scipy import stats

    ax = _axes(ax)
    ordered = effects.sort_values(estimate)
    z = stats.norm.ppf(0.5 + level / 2)
    positions = np.arange(len(ordered))
    ax.errorbar(ordered[estimate], positions, xerr=z * ordered[std_error], fmt="o",
                color=PALETTE[0], ecolor=PALETTE[4], markersize=4, elinewidth=1.2)
    ax.axvline(0, color=REFERENCE_COLOR, linewidth=1, linestyle="--")
    ticks = positions[::label_every]
    ax.set_yticks(ticks, [str(v) for v in ordered.index[::label_every]])
    ax.grid(axis="y", visible=False)
    return ax


def group_sizes(
    data: pd.DataFrame,
    group: str,
    ax: Axes | None = None,
    label_extremes: int = 3,
    log_scale: bool = True,
) -> Axes:
    """Dot plot of the number of observations in each group, smallest to largest.

    The ``label_extremes`` smallest and largest groups are named on the plot,
    since unequal group sizes are what partial pooling is about.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"state": list("aabbbc")})
    >>> ax = group_sizes(df, "state")
    """
    require_dataframe(data)
    require_columns(data, [group])
    require_complete(data, [group])
    ax = _axes(ax)
    sizes = data.groupby(group, observed=True).size().sort_values()
    rank = np.arange(1, len(sizes) + 1)
    ax.plot(rank, sizes.to_numpy(), "o", color=PALETTE[0], markersize=5)
    if log_scale:
        ax.set_yscale("log")
    extremes = list(range(min(label_extremes, len(sizes))))
    extremes += list(range(max(len(sizes) - label_extremes, len(extremes)), len(sizes)))
    for k, i in enumerate(extremes):
        # Neighbouring extremes have similar sizes: stagger their labels vertically.
        ax.annotate(str(sizes.index[i]), (rank[i], sizes.iloc[i]), textcoords="offset points",
                    xytext=(8, 10 * (k % 3) - 10), fontsize=9, va="center")
    ax.set_xlabel(f"{group}, ranked by number of observations")
    ax.set_ylabel("observations (log scale)" if log_scale else "observations")
    return ax


def crossed_incidence(
    data: pd.DataFrame,
    row: str,
    column: str,
    ax: Axes | None = None,
) -> Axes:
    """Show which units of one classification share observations with units of another.

    Each row of the image is a unit of ``row`` (e.g. a primary school), each
    column a unit of ``column`` (a secondary school), and a cell is shaded by
    how many observations fall in both. Rows are ordered by the column that
    receives most of their observations, so a nested structure would show a
    single block per column; a crossed one spreads across columns.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"primary": list("aabbc"), "second": list("xyxyy")})
    >>> ax = crossed_incidence(df, "primary", "second")
    """
    require_dataframe(data)
    require_columns(data, [row, column])
    require_complete(data, [row, column])
    ax = _axes(ax)
    counts = pd.crosstab(data[row], data[column])
    counts = counts[counts.sum().sort_values(ascending=False).index]
    main = counts.to_numpy().argmax(axis=1)
    counts = counts.iloc[np.lexsort((-counts.to_numpy().max(axis=1), main))]
    shown = np.ma.masked_equal(counts.to_numpy(), 0)
    image = ax.imshow(shown, aspect="auto", interpolation="nearest", cmap="cividis_r")
    ax.set_xticks(np.arange(counts.shape[1]), [str(c) for c in counts.columns], rotation=90)
    ax.set_yticks([])
    ax.set_xlabel(column)
    ax.set_ylabel(f"{row} ({counts.shape[0]} units)")
    ax.grid(False)
    ax.figure.colorbar(image, ax=ax, label="observations in both")
    return ax
