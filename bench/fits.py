"""Time multilevel.glmm.fit_glmer against lme4's glmer on the red/blue models (``make bench``).

Prints one line per model: rows, our median seconds over several fits, glmer's
median seconds as recorded by tests/reference/glmer_reference.R on the same
rows, and the ratio. Run from the repository root: ``.venv/bin/python bench/fits.py``.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import pandas as pd

from multilevel.glmm import fit_glmer

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "reference" / "glmer_reference.json"
MODELS = ["red_blue_intercept", "red_blue_slope", "red_blue_cross_level"]
REPEATS = 7


def median_seconds(data: pd.DataFrame, formula: str, repeats: int = REPEATS) -> float:
    """Median wall-clock time of ``repeats`` fits, after one untimed warm-up fit."""
    fit_glmer(data, formula)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit_glmer(data, formula)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    fits = json.loads(FIXTURE.read_text())["fits"]
    print(f"{'model':<58} {'rows':>6} {'ours s':>8} {'glmer s':>8} {'ratio':>7}")
    for name in MODELS:
        ref = fits[name]
        data = pd.read_csv(ROOT / "data" / f"{ref['data']}.csv")
        ours = median_seconds(data, ref["formula"])
        print(
            f"{ref['formula']:<58} {len(data):>6} {ours:>8.3f} {ref['seconds']:>8.2f} "
            f"{ours / ref['seconds']:>7.3f}"
        )


if __name__ == "__main__":
    main()
