"""Time the three-level and crossed random-intercept fits of chapters/levels-and-crossed.md.

For the STAR three-level model (pupils in classes in schools) and the ScotsSec crossed
model (primary by secondary school), prints the median seconds and the REML
log-likelihood of each way of fitting it in Python, next to lme4's ``lmer`` as recorded
by tests/reference/lmer_levels.R on the same rows:

- ``fit_mixed``: statsmodels MixedLM with schools as groups and classes as a variance
  component (STAR only; MixedLM cannot take crossed factors as groups);
- ``MixedLM dense``: the crossed model with one all-covering group and dense indicator
  matrices, as ``smf.mixedlm(..., vc_formula=...)`` builds it by default (Powell);
- ``fit_crossed``: the same with sparse indicator matrices and tight tolerances;
- ``fit_variance_components``: the exact profiled (RE)ML fit.

Run from the repository root: ``.venv/bin/python bench/crossed.py``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import statsmodels.formula.api as smf

from multilevel import data, models

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "reference" / "lmer_levels.json"


def timed(fit: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall-clock seconds of ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fit()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def loglik(result: object) -> float:
    if hasattr(result, "loglik"):
        return float(result.loglik)
    return float(result.llf)  # a raw statsmodels result


def main() -> None:
    fits = json.loads(FIXTURE.read_text())["fits"]
    star = data.load_star_kindergarten()
    star["small"] = (star["cltype"] == "small").astype(float)
    star["aide"] = (star["cltype"] == "reg+A").astype(float)
    scots = data.load_scots_secondary()
    scots["male"] = (scots["sex"] == "M").astype(float)

    def mixedlm_dense():
        model = smf.mixedlm("attain ~ verbal + male", scots.assign(all_rows=1), groups="all_rows",
                            vc_formula={"primary": "0 + C(primary)", "second": "0 + C(second)"})
        return model.fit(reml=True, method="powell")

    cases = [
        ("STAR three levels", "star_cltype_reml", [
            ("fit_mixed (MixedLM, Powell)", 3, lambda: models.fit_mixed(
                star, "math ~ small + aide", group="sch", re_formula="1",
                vc_formula={"class": "0 + C(tch)"}, methods=("powell",))),
            ("fit_variance_components", 5, lambda: models.fit_variance_components(
                star, "math", ["small", "aide"], ["sch", "tch"])),
        ]),
        ("ScotsSec crossed", "scots_crossed_reml", [
            ("MixedLM dense, one group (Powell)", 1, mixedlm_dense),
            ("fit_crossed (MixedLM sparse, Powell)", 3, lambda: models.fit_crossed(
                scots, "attain ~ verbal + male", ["primary", "second"])),
            ("fit_variance_components", 5, lambda: models.fit_variance_components(
                scots, "attain", ["verbal", "male"], ["primary", "second"])),
        ]),
    ]
    print(f"{'model':<20} {'fitter':<38} {'seconds':>8} {'x lmer':>7} {'loglik - lmer':>14}")
    for label, fixture, fitters in cases:
        ref = fits[fixture]
        print(f"{label:<20} {'lme4::lmer':<38} {ref['seconds']:>8.3f} {1:>7.1f} {0:>14.2e}")
        for name, repeats, fit in fitters:
            seconds, result = timed(fit, repeats)
            print(f"{'':<20} {name:<38} {seconds:>8.3f} {seconds / ref['seconds']:>7.1f} "
                  f"{loglik(result) - ref['loglik']:>14.2e}")


if __name__ == "__main__":
    main()
