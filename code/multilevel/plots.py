"""The book's figure style and the figures its chapters share.

Call :func:`set_style` once at the top of a chapter. Every plotting function
takes a DataFrame and column names, draws on ``ax`` (a new one if ``None``) and
returns the :class:`matplotlib.axes.Axes`, in the manner of seaborn; a figure of
several panels (:func:`between_and_within`) takes ``axes`` and returns the
:class:`matplotlib.figure.Figure`.
"""

from __future__ import annotations

import itertools

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

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
    "#555555",  # dark grey (Okabe & Ito's grey #999999 is too close to reddish purple
    #             for deuteranopes; tests/test_style.py checks every pair)
]
#: Markers cycled together with colours, so groups differ by shape as well as hue.
MARKERS: list[str] = ["o", "s", "^", "D", "v", "P", "X", "*"]
REFERENCE_COLOR = "#000000"


def set_style() -> None:
    """Apply the book's figure style: palette, readable sizes, opaque white background.

    The background is opaque so that figures stay readable when the site is in
    dark mode (a transparent figure would put black text on a dark page).

    Examples
    --------
    >>> import matplotlib as mpl
    >>> set_style()
    >>> mpl.rcParams["savefig.transparent"], mpl.rcParams["axes.prop_cycle"].by_key()["color"][0]
    (False, '#0072B2')
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
    """Map each distinct group label (in sorted order) to a palette colour, cycling.

    Examples
    --------
    >>> group_colors(["b", "a", "b"]) == {"a": PALETTE[0], "b": PALETTE[1]}
    True
    """
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
    """Draw the line ``intercept + slope * x`` over ``x_range`` (default: the axes' x limits).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> ax = add_line(ax, 1.0, 0.5, x_range=(0, 2), color=REFERENCE_COLOR)
    >>> ax.lines[0].get_ydata()[[0, -1]].tolist()
    [1.0, 2.0]
    """
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


def group_lines(
    data: pd.DataFrame,
    x: str,
    group: str,
    intercepts: pd.Series,
    slopes: float | pd.Series,
    ax: Axes | None = None,
    **line_kwargs,
) -> Axes:
    """Draw each group's line ``intercept + slope * x`` over the range of ``x`` in that group.

    Colours follow :func:`group_colors`, so the lines match :func:`scatter_by_group`.
    With one common ``slope`` the lines are parallel (fixed or random intercepts);
    with a Series of slopes, indexed like ``intercepts``, each group has its own.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"g": ["a", "a", "b", "b"], "x": [0.0, 1.0, 2.0, 3.0]})
    >>> ax = group_lines(df, "x", "g", pd.Series({"a": 0.0, "b": 1.0}), 0.5)
    >>> len(ax.lines)
    2
    """
    require_dataframe(data)
    require_columns(data, [x, group])
    require_complete(data, [x, group])
    missing = sorted(set(data[group].unique()) - set(intercepts.index), key=str)
    if missing:
        raise MultilevelInputError(
            f"`intercepts` has no value for group(s) {missing[:5]}; index it by the labels "
            f"in {group!r}."
        )
    if not isinstance(slopes, pd.Series):
        slopes = pd.Series(float(slopes), index=intercepts.index)
    values = np.concatenate([intercepts.to_numpy(float), slopes.to_numpy(float)])
    if not np.isfinite(values).all():
        raise MultilevelInputError("`intercepts` and `slopes` must be finite numbers.")
    ax = _axes(ax)
    ranges = data.groupby(group, observed=True)[x].agg(["min", "max"])
    line_kwargs.setdefault("linewidth", 1.4)
    for label, color in group_colors(data[group]).items():
        lo, hi = ranges.loc[label, "min"], ranges.loc[label, "max"]
        xs = np.array([lo, hi])
        ax.plot(xs, intercepts[label] + slopes[label] * xs, color=color, **line_kwargs)
    return ax


def coefficient_plot(
    table: pd.DataFrame,
    estimate: str = "estimate",
    std_error: str = "std_error",
    ax: Axes | None = None,
    level: float = 0.95,
    reference: float | None = None,
    reference_label: str | None = None,
) -> Axes:
    """Dot-and-whisker plot of one coefficient as estimated several ways.

    Each row of ``table`` (e.g. one per estimator: pooled, between, random and
    fixed effects) is drawn from top to bottom in the table's order, as a point
    with its normal ``level`` interval, in its own colour and marker, labelled
    by the row's index. ``reference`` adds a dashed vertical line (a true value,
    or zero) labelled ``reference_label`` in the legend.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"estimate": [1.6, 0.75], "std_error": [0.05, 0.02]},
    ...                      index=["least squares", "fixed effects"])
    >>> ax = coefficient_plot(table, reference=0.75, reference_label="truth")
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['least squares', 'fixed effects']
    """
    require_dataframe(table, "table")
    require_columns(table, [estimate, std_error])
    require_complete(table, [estimate, std_error])
    if not 0 < level < 1:
        raise MultilevelInputError(f"`level` must lie in (0, 1), got {level!r}.")
    if reference is not None and not np.isfinite(reference):
        raise MultilevelInputError("`reference` must be a finite number or None.")
    from scipy import stats

    ax = _axes(ax)
    z = stats.norm.ppf(0.5 + level / 2)
    positions = np.arange(len(table))[::-1]
    for k, (label, row) in enumerate(table.iterrows()):
        ax.errorbar(row[estimate], positions[k], xerr=z * row[std_error],
                    fmt=MARKERS[k % len(MARKERS)], color=PALETTE[k % len(PALETTE)],
                    markersize=7, elinewidth=2, capsize=3)
    if reference is not None:
        ax.axvline(reference, color=REFERENCE_COLOR, linewidth=1, linestyle="--",
                   label=reference_label)
        if reference_label:
            ax.legend(loc="best")
    ax.set_yticks(positions, [str(label) for label in table.index])
    ax.set_ylim(-0.6, len(table) - 0.4)
    ax.grid(axis="y", visible=False)
    return ax


#: Line styles cycled with colours where lines stand for groups.
_LINESTYLES = ["-", "--", ":", "-."]


def classification_links(
    data: pd.DataFrame,
    lower: str,
    upper: str,
    upper_units: list | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw which units of one classification are linked, through observations, to another.

    Units of ``lower`` (classes, primary schools) are points in a left column,
    units of ``upper`` (schools, secondary schools) squares in a right column,
    and a line joins two units when some observation belongs to both, thicker
    the more observations it carries. If ``lower`` is nested in ``upper``,
    every left point has exactly one line and no lines cross; in a crossed
    classification left points fan out to several right squares. Each upper
    unit's lines have their own colour and line style.

    Parameters
    ----------
    upper_units
        The upper units to show (default: all); the lower units drawn are those
        with an observation in any of them, and only links among the units shown
        are drawn.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"primary": list("aabbc"), "second": list("xyxyy")})
    >>> ax = classification_links(df, "primary", "second")
    >>> len(ax.lines)
    5
    """
    require_dataframe(data)
    require_columns(data, [lower, upper])
    require_complete(data, [lower, upper])
    counts = pd.crosstab(data[lower], data[upper])
    if upper_units is not None:
        missing = [u for u in upper_units if u not in counts.columns]
        if missing:
            raise MultilevelInputError(
                f"{upper!r} has no unit(s) {missing}; pick from {list(counts.columns)[:10]} ..."
            )
        counts = counts[list(upper_units)]
    else:
        counts = counts[counts.sum().sort_values(ascending=False).index]
    counts = counts[counts.sum(axis=1) > 0]
    values = counts.to_numpy()
    # Group each lower unit with the upper unit that holds most of its observations.
    main = values.argmax(axis=1)
    order = np.lexsort((-values.max(axis=1) / values.sum(axis=1), main))
    counts, values = counts.iloc[order], values[order]
    n_lower, n_upper = values.shape
    y_lower = np.linspace(1, 0, n_lower) if n_lower > 1 else np.array([0.5])
    y_upper = np.linspace(0.9, 0.1, n_upper) if n_upper > 1 else np.array([0.5])
    ax = _axes(ax)
    widest = values.max()
    for j in range(n_upper):
        for i in np.flatnonzero(values[:, j]):
            ax.plot([0, 1], [y_lower[i], y_upper[j]], color=PALETTE[j % len(PALETTE)],
                    linestyle=_LINESTYLES[j % len(_LINESTYLES)],
                    linewidth=0.6 + 3.0 * values[i, j] / widest, alpha=0.8,
                    solid_capstyle="round")
    ax.scatter(np.zeros(n_lower), y_lower, s=14, color="#555555", zorder=3)
    ax.scatter(np.ones(n_upper), y_upper, s=90, marker="s", zorder=3,
               color=[PALETTE[j % len(PALETTE)] for j in range(n_upper)],
               edgecolor=REFERENCE_COLOR)
    for j, label in enumerate(counts.columns):
        ax.annotate(f"{upper} {label}", (1, y_upper[j]), textcoords="offset points",
                    xytext=(9, 0), va="center", fontsize=9)
    ax.text(0, 1.06, f"{lower}\n({n_lower} units)", ha="center", va="bottom", fontsize=9)
    ax.text(1, 1.06, f"{upper}\n({n_upper} units)", ha="center", va="bottom", fontsize=9)
    ax.set_xlim(-0.15, 1.45)
    ax.set_ylim(-0.05, 1.18)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    return ax


def coefficients_by_group(
    table: pd.DataFrame,
    x: str,
    estimate: str,
    std_error: str | None = None,
    highlight: list | None = None,
    line: tuple[float, float] | None = None,
    line_label: str = "fixed part",
    others_label: str = "other groups",
    ax: Axes | None = None,
    level: float = 0.95,
) -> Axes:
    """Each group's coefficient against a group-level predictor, with intervals.

    The figure of Gelman et al. (2007) for varying slopes: one point per group
    (a row of ``table``, indexed by group label) at its value of ``x``, with its
    normal ``level`` interval when ``std_error`` is given. Groups named in
    ``highlight`` get their own colour and marker and are labelled; ``line``,
    ``(intercept, slope)``, adds the fixed part as a dashed line. The legend
    labels are ``line_label`` and ``others_label`` (for the groups not highlighted).

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"avg": [-0.4, 0.0, 0.2], "slope": [0.4, 0.2, 0.05],
    ...                       "se": [0.05, 0.04, 0.06]}, index=["Mississippi", "Ohio", "Texas"])
    >>> ax = coefficients_by_group(table, "avg", "slope", "se", highlight=["Ohio"],
    ...                            line=(0.15, -0.6))
    >>> [t.get_text() for t in ax.texts]
    ['Ohio']
    """
    require_dataframe(table, "table")
    columns = [x, estimate] + ([std_error] if std_error else [])
    require_columns(table, columns)
    require_complete(table, columns)
    if not 0 < level < 1:
        raise MultilevelInputError(f"`level` must lie in (0, 1), got {level!r}.")
    highlight = list(highlight or [])
    missing = [label for label in highlight if label not in table.index]
    if missing:
        raise MultilevelInputError(
            f"cannot highlight {missing}: not in the table's index ({list(table.index[:5])} ...)."
        )
    if line is not None and not (len(line) == 2 and np.all(np.isfinite(line))):
        raise MultilevelInputError("`line` must be two finite numbers, (intercept, slope).")
    from scipy import stats

    ax = _axes(ax)
    z = stats.norm.ppf(0.5 + level / 2)
    others = table.drop(index=highlight)
    ax.errorbar(others[x], others[estimate],
                yerr=z * others[std_error] if std_error else None, fmt="o",
                color="#777777", ecolor="#bbbbbb", markersize=4, elinewidth=1,
                label=others_label)
    if line is not None:
        add_line(ax, line[0], line[1], x_range=(table[x].min(), table[x].max()),
                 color=REFERENCE_COLOR, linestyle="--", linewidth=1.3, label=line_label)
    for k, label in enumerate(highlight):
        row = table.loc[label]
        color, marker = PALETTE[k % len(PALETTE)], MARKERS[(k + 1) % len(MARKERS)]
        ax.errorbar([row[x]], [row[estimate]],
                    yerr=[z * row[std_error]] if std_error else None, fmt=marker,
                    color=color, markersize=8, elinewidth=2, capsize=3, zorder=3,
                    markeredgecolor=REFERENCE_COLOR, label=str(label))
        # Labels alternate above and below their points, so neighbours do not collide.
        ax.annotate(str(label), (row[x], row[estimate]), textcoords="offset points",
                    xytext=(7, 6 if k % 2 == 0 else -15), fontsize=9, fontweight="bold",
                    color=REFERENCE_COLOR)
    ax.set_xlabel(x)
    ax.set_ylabel(estimate)
    return ax


def shrinkage(
    table: pd.DataFrame,
    unpooled: str,
    pooled: str,
    size: str,
    center: float | None = None,
    ax: Axes | None = None,
    log_scale: bool = True,
) -> Axes:
    """Shrinkage plot: each group's estimate without and with partial pooling, by group size.

    One column of points per group, at its number of observations: a hollow
    circle for the estimate from the group alone (no pooling), a filled square
    for the partially pooled estimate, and a line from one to the other. Small
    groups are pulled far towards ``center`` (drawn as a dashed line: the
    overall mean the estimates shrink towards), large ones hardly move.

    Parameters
    ----------
    table
        One row per group with the two estimates and the group size.
    unpooled, pooled
        Columns with the no-pooling and the partial-pooling estimates.
    size
        Column with the number of observations in each group (positive).
    center
        Value the estimates shrink towards (e.g. the fixed intercept), or None.
    log_scale
        Draw the group sizes on a log scale.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"alone": [1.2, -0.9, 0.3], "pooled": [0.4, -0.3, 0.28],
    ...                       "n": [10, 20, 900]}, index=["a", "b", "c"])
    >>> ax = shrinkage(table, "alone", "pooled", "n", center=0.1)
    >>> len(ax.lines)  # three connecting lines and the centre line
    4
    """
    require_dataframe(table, "table")
    require_columns(table, [unpooled, pooled, size])
    require_complete(table, [unpooled, pooled, size])
    sizes = table[size].to_numpy(dtype=float)
    if not (sizes > 0).all():
        raise MultilevelInputError(f"column {size!r} must hold positive group sizes.")
    if center is not None and not np.isfinite(center):
        raise MultilevelInputError("`center` must be a finite number or None.")
    ax = _axes(ax)
    before, after = table[unpooled].to_numpy(float), table[pooled].to_numpy(float)
    for n, b, a in zip(sizes, before, after):
        ax.plot([n, n], [b, a], color="#999999", linewidth=1, zorder=1)
    ax.scatter(sizes, before, s=30, facecolor="white", edgecolor=PALETTE[5], linewidth=1.4,
               marker="o", zorder=2, label="no pooling")
    ax.scatter(sizes, after, s=26, color=PALETTE[0], marker="s", zorder=3,
               label="partial pooling")
    if center is not None:
        ax.axhline(center, color=REFERENCE_COLOR, linestyle="--", linewidth=1,
                   label="shrinkage target")
    if log_scale:
        ax.set_xscale("log")
    ax.set_xlabel(f"{size} (log scale)" if log_scale else size)
    ax.legend(loc="lower right", fontsize=9)
    return ax


def between_and_within(
    groups: pd.DataFrame,
    curves: pd.DataFrame,
    x: str,
    observed: str,
    fitted: str,
    curve_x: str,
    curve_y: str,
    group: str,
    highlight: list,
    others_label: str = "other groups",
    line_label: str = "least-squares line, groups",
    axes: tuple[Axes, Axes] | None = None,
) -> Figure:
    """The red-state, blue-state paradox at two levels, after Gelman et al. (2007).

    Left, the group level: each group's ``observed`` share against its ``x`` (e.g.
    state average income), with the least-squares line through all groups. Right,
    the individual level: the fitted curves of the ``highlight`` groups (the
    probability ``curve_y`` against the individual-level ``curve_x``), and on the same
    axes each group's ``fitted`` share placed at its ``x``, with its least-squares
    line. The lines of the two panels can slope one way while the curves slope the
    other. Highlighted groups keep one colour and marker in both panels and are
    named on the left; the others are grey points labelled ``others_label``, and
    the lines are labelled ``line_label`` in the legends.

    Parameters
    ----------
    groups
        One row per group, indexed by group label, with columns ``x``, ``observed``
        and ``fitted``.
    curves
        Long format, one row per point of a highlighted group's curve: columns
        ``group``, ``curve_x`` and ``curve_y`` (e.g. from ``fit.predict(grid,
        type="response")``).
    highlight
        Groups to draw in colour; each needs a row in ``groups`` and a curve in ``curves``.
    axes
        Two Axes to draw on (default: a new figure of two panels).

    Returns
    -------
    matplotlib.figure.Figure
        The figure; its two Axes are ``fig.axes[:2]``, labelled with the column names
        (set your own labels, with units, on them).

    Examples
    --------
    >>> import pandas as pd
    >>> groups = pd.DataFrame({"avg": [-0.3, 0.0, 0.3], "share": [0.6, 0.5, 0.4],
    ...                        "fit": [0.58, 0.5, 0.42]}, index=["poor", "middle", "rich"])
    >>> curves = pd.DataFrame({"state": ["poor", "poor", "rich", "rich"],
    ...                        "income": [-2, 2, -2, 2], "p": [0.4, 0.8, 0.38, 0.45]})
    >>> fig = between_and_within(groups, curves, "avg", "share", "fit", "income", "p", "state",
    ...                          highlight=["poor", "rich"])
    >>> left, right = fig.axes
    >>> [t.get_text() for t in left.texts], len(right.lines)
    (['poor', 'rich'], 5)
    """
    require_dataframe(groups, "groups")
    require_dataframe(curves, "curves")
    require_columns(groups, [x, observed, fitted])
    require_complete(groups, [x, observed, fitted])
    require_columns(curves, [group, curve_x, curve_y])
    require_complete(curves, [group, curve_x, curve_y])
    highlight = list(highlight)
    missing = [label for label in highlight if label not in groups.index]
    if missing:
        raise MultilevelInputError(
            f"cannot highlight {missing}: not in the index of `groups` "
            f"({list(groups.index[:5])} ...)."
        )
    no_curve = [label for label in highlight if not (curves[group] == label).any()]
    if no_curve:
        raise MultilevelInputError(
            f"`curves` has no rows for {no_curve} in column {group!r}; predict a curve for "
            "every highlighted group."
        )
    if len(groups) < 2:
        raise MultilevelInputError("`groups` needs two or more rows to draw a line through them.")
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
    elif len(axes) != 2 or not all(isinstance(a, Axes) for a in axes):
        raise MultilevelInputError("`axes` must be two matplotlib Axes, or None.")
    left, right = axes
    fig = left.figure
    others = groups.drop(index=highlight)
    span = np.array([groups[x].min(), groups[x].max()])
    for ax, column in ((left, observed), (right, fitted)):
        ax.scatter(others[x], others[column], s=14, color="#777777", label=others_label, zorder=2)
        slope, intercept = np.polyfit(groups[x].to_numpy(float), groups[column].to_numpy(float), 1)
        ax.plot(span, intercept + slope * span, "--", color=REFERENCE_COLOR, linewidth=1.3,
                label=line_label, zorder=2)
    for k, label in enumerate(highlight):
        row = groups.loc[label]
        style = dict(color=PALETTE[k % len(PALETTE)], marker=MARKERS[(k + 1) % len(MARKERS)],
                     markersize=9, markeredgecolor=REFERENCE_COLOR, linestyle="none", zorder=3)
        left.plot(row[x], row[observed], **style, label=str(label))
        left.annotate(str(label), (row[x], row[observed]), textcoords="offset points",
                      xytext=(7, 5 if k % 2 == 0 else -14), fontsize=9, fontweight="bold")
        curve = curves[curves[group] == label].sort_values(curve_x)
        right.plot(curve[curve_x], curve[curve_y], color=PALETTE[k % len(PALETTE)],
                   linestyle=_LINESTYLES[k % len(_LINESTYLES)], label=f"{label}, by {curve_x}",
                   zorder=1)
        right.plot(row[x], row[fitted], **style)
    levels = np.sort(curves[curve_x].unique())
    if len(levels) <= 12:
        right.set_xticks(levels)
    left.set_xlabel(x)
    left.set_ylabel(observed)
    right.set_xlabel(curve_x)
    right.set_ylabel(curve_y)
    left.legend(loc="lower left", fontsize=8)
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2, fontsize=8)
    return fig
