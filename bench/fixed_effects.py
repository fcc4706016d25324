"""Time fixed-effects least squares: group dummies against the within estimator (``make bench``).

Prints one line per number of groups: rows, seconds for least squares with one dummy
per group (statsmodels, ``y ~ 0 + C(group) + x``) and for the within estimator
(linearmodels' ``PanelOLS(..., entity_effects=True)``), medians of a few fits after a
warm-up, their ratio, the size of the dummy matrix, and the largest difference between
the two slope estimates. Ten observations per
group, one covariate correlated with the group effects. Run from the repository
root: ``.venv/bin/python bench/fixed_effects.py``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from linearmodels.panel import PanelOLS

GROUPS = (25, 100, 400, 1000)
PER_GROUP = 10


def panel(n_groups: int, per_group: int = PER_GROUP, seed: int = 1) -> pd.DataFrame:
    """Grouped data with group effects correlated with the covariate."""
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(n_groups), per_group)
    effect = rng.normal(size=n_groups)[group]
    x = 0.5 * effect + rng.normal(size=group.size)
    y = effect + 0.75 * x + rng.normal(size=group.size)
    return pd.DataFrame({"group": group, "x": x, "y": y})


def slope(df: pd.DataFrame, method: str) -> float:
    if method == "dummies":
        return smf.ols("y ~ 0 + C(group) + x", df).fit().params["x"]
    panel_data = df.assign(t=df.groupby("group").cumcount()).set_index(["group", "t"])
    return PanelOLS(panel_data["y"], panel_data[["x"]], entity_effects=True).fit().params["x"]


def median_seconds(df: pd.DataFrame, method: str, repeats: int) -> tuple[float, float]:
    """Median wall-clock seconds of ``repeats`` fits after one warm-up; also the slope."""
    estimate = slope(df, method)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        slope(df, method)
        times.append(time.perf_counter() - start)
    return statistics.median(times), float(estimate)


def main() -> None:
    print(f"{'groups':>7} {'rows':>7} {'dummies s':>10} {'within s':>9} {'ratio':>7} "
          f"{'dummy MB':>9} {'|slope diff|':>12}")
    for n_groups in GROUPS:
        df = panel(n_groups)
        repeats = 3 if n_groups <= 400 else 1
        dummies, slope_d = median_seconds(df, "dummies", repeats)
        within, slope_w = median_seconds(df, "within", repeats)
        megabytes = len(df) * n_groups * 8 / 1e6
        print(f"{n_groups:>7} {len(df):>7} {dummies:>10.3f} {within:>9.3f} "
              f"{dummies / within:>7.1f} {megabytes:>9.1f} {abs(slope_d - slope_w):>12.1e}")


if __name__ == "__main__":
    main()
