"""Write the small awkward data sets that tests/reference/glmer_reference.R fits.

Run once from the repository root (the CSV files are committed):

    .venv/bin/python tests/reference/make_glmm_data.py

- ``glmm_few_groups.csv``: 6 groups x 15 rows, random intercepts and slopes.
- ``glmm_singular.csv``: 12 groups x 25 rows with no group effect at all, so
  glmer estimates the group variance as zero (a singular fit).
- ``glmm_two_covariates.csv``: 80 groups of 5-60 rows, a continuous ``x`` whose
  mean differs by group and a binary ``x2``.
"""

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "data"


def logistic_data(
    rng: np.random.Generator,
    sizes: list[int] | np.ndarray,
    beta: list[float],
    sd: list[float],
    corr: float,
    x_shift_sd: float = 0.0,
    binary2: bool = False,
) -> pd.DataFrame:
    """Draw 0/1 outcomes from a logistic model with correlated group intercepts and slopes."""
    n_groups = len(sizes)
    g = np.repeat(np.arange(n_groups), sizes)
    cov = np.array([[sd[0] ** 2, corr * sd[0] * sd[1]], [corr * sd[0] * sd[1], sd[1] ** 2]])
    b = rng.multivariate_normal(np.zeros(2), cov, size=n_groups, method="svd")
    x = np.round(rng.normal(size=g.size) + rng.normal(0, x_shift_sd, n_groups)[g], 3)
    columns = {"group": [f"g{j + 1:02d}" for j in g], "x": x}
    eta = beta[0] + b[g, 0] + (beta[1] + b[g, 1]) * x
    if binary2:
        x2 = (rng.uniform(size=g.size) < 0.4).astype(int)
        eta = eta + beta[2] * x2
        columns["x2"] = x2
    columns["y"] = (rng.uniform(size=g.size) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame(columns)


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    few = logistic_data(np.random.default_rng(601), [15] * 6, [-0.3, 0.8], [0.9, 0.5], 0.3)
    few.to_csv(OUT / "glmm_few_groups.csv", index=False)
    flat = logistic_data(np.random.default_rng(602), [25] * 12, [0.2, 0.5], [0.0, 0.0], 0.0)
    flat.to_csv(OUT / "glmm_singular.csv", index=False)
    rng = np.random.default_rng(603)
    sizes = rng.integers(5, 61, size=80)
    mid = logistic_data(
        rng, sizes, [-0.5, 0.6, -0.4], [0.7, 0.3], 0.4, x_shift_sd=0.5, binary2=True
    )
    mid.to_csv(OUT / "glmm_two_covariates.csv", index=False)
