"""Time the mixed-model engine (``multilevel.lmer`` / ``glmer``) against lme4 (issue 9, "Speed").

Prints one table: model, rows, our median seconds (``time.perf_counter``, in-process, after
one untimed warm-up fit; the big cases are timed once), lme4's seconds on the same rows and
machine, the ratio, the log-likelihood difference (ours - lme4's) and the goal of issue 9.

- every linear model of the book: the lme4 fixtures ``tests/reference/lmer_*.json`` (each
  records ``formula``, ``loglik`` and lmer's ``seconds``), fitted on the rows the tests use;
- InstEval's crossed design (``lmer_engine.json``), with PyPI's ``mixedlm`` (Rust) as a peer;
- the book's logit models (``glmer_reference.json``, ``glmer_cces.json``);
- a logit whose rows cannot be collapsed into binomial cells (200,000 rows, 500 groups, a
  continuous covariate; seeded here, glmer's time from ``bench/lme4_times.R``), with ``mixedlm``;
- Poisson with an offset and binomial with trials (``glmer_engine.json``);
- memory: a random-slope logit with 1,000,000 rows and 5,000 groups, fitted in a separate
  process whose peak resident memory is reported with its time.

``mixedlm`` is a peer, not a dependency of the book (``pip install .[bench]``); its rows are
skipped when it is missing. Run from the repository root: ``.venv/bin/python bench/mixed.py``
(``--write-data`` writes the simulated rows for ``Rscript bench/lme4_times.R`` and stops;
``--quick`` skips InstEval and the memory case).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

import multilevel
from multilevel import data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import fixture_rows  # noqa: E402  (tests/fixture_rows.py: the rows each lme4 fixture was fitted on)

REFERENCE = ROOT / "tests" / "reference"
LME4_TIMES = ROOT / "bench" / "lme4_times.json"
SIMULATED = Path(tempfile.gettempdir()) / "multilevel-bench"
REPEATS = 3
SHORT_REPEATS = 15
GB = 1e9
MEMORY_TIMEOUT = 300  # seconds; the bench as a whole should stay near 10 minutes


# ------------------------------------------------------------------ rows (as the tests read them)
def reference(fixture: str) -> dict:
    return json.loads((REFERENCE / f"{fixture}.json").read_text())["fits"]


@cache
def reference_csv(name: str) -> pd.DataFrame:
    """A CSV an R script read, with the column types tests/test_mixed_reference.py gives it."""
    frame = fixture_rows.reference_csv(name).copy()
    if name == "cbpp":
        frame["period"] = frame["period"].astype("category")
        frame["prop"] = frame["incidence"] / frame["size"]
    if name == "grouseticks":
        frame["YEAR"] = frame["YEAR"].astype("category")
    return frame


def linear_rows(fixture: str, name: str) -> pd.DataFrame:
    """The rows each lmer fixture was fitted on (tests/fixture_rows.py, as the tests use them)."""
    if fixture == "lmer_engine":
        return reference_csv(reference(fixture)[name]["data"])
    return fixture_rows.linear_rows(fixture, name)


@cache
def cces(subset: str | None) -> pd.DataFrame:
    rows = data.cces2016_vote_income()
    return rows if subset is None else rows.query(subset)


def simulate_logit(rows: int, groups: int, slope: bool, seed: int) -> pd.DataFrame:
    """A logit with a continuous covariate ``x`` (no two rows share a cell), seeded."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, rows)
    x = rng.normal(size=rows)
    eta = -0.5 + 0.7 * x + rng.normal(0.0, 0.8, groups)[g]
    if slope:
        eta += rng.normal(0.0, 0.4, groups)[g] * x
    y = (rng.random(rows) < expit(eta)).astype(np.int64)
    return pd.DataFrame({"y": y, "x": x, "g": g})


LOGIT_200K = dict(rows=200_000, groups=500, slope=False, seed=20260901)
MEMORY_CASE = dict(rows=1_000_000, groups=5_000, slope=True, seed=20260902)


def write_data() -> None:
    SIMULATED.mkdir(exist_ok=True)
    path = SIMULATED / "logit_200k.csv"
    simulate_logit(**LOGIT_200K).to_csv(path, index=False)
    print(f"wrote {path}")


# ------------------------------------------------------------------ timing
def timed(fit: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median seconds of ``repeats`` fits after one untimed warm-up (one timed fit if 1).

    Fits under 0.1 s are timed SHORT_REPEATS times: at 10-20 ms a median of three moves by a
    third from one run of the bench to the next on a shared machine.
    """
    if repeats > 1:
        start = time.perf_counter()
        result = fit()
        if time.perf_counter() - start < 0.1:
            repeats = SHORT_REPEATS
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fit()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def mixedlm_peer():
    try:
        import mixedlm
    except ImportError:
        return None
    return mixedlm


def mixedlm_loglik(fit) -> float:
    return float(fit.logLik())


class Table:
    HEAD = (f"{'model':<46} {'rows':>9} {'ours s':>8} {'lme4 s':>8} {'ratio':>7} "
            f"{'loglik diff':>12}  goal")

    def __init__(self) -> None:
        print(self.HEAD)
        print("-" * len(self.HEAD))

    @staticmethod
    def row(model: str, rows: int, ours: float, lme4: float | None, diff: float | None,
            goal: float | None, note: str = "") -> None:
        ratio = ours / lme4 if lme4 else float("nan")
        verdict = ""
        if goal is not None and lme4:
            verdict = f"<= {goal:g}x " + ("ok" if ratio <= goal else "MISS")
        lme4_text = f"{lme4:>8.3f}" if lme4 else f"{'-':>8}"
        diff_text = f"{diff:>12.2e}" if diff is not None else f"{'-':>12}"
        print(f"{model:<46} {rows:>9,} {ours:>8.3f} {lme4_text} {ratio:>7.3f} {diff_text}  "
              f"{verdict}{note}", flush=True)

    @staticmethod
    def section(title: str) -> None:
        print(f"# {title}", flush=True)


# ------------------------------------------------------------------ the cases
def linear_models(table: Table) -> None:
    table.section("linear models of the book (lmer fixtures; goal: time <= lmer's)")
    for fixture in ["lmer_foundation", "lmer_students", "lmer_schools", "lmer_levels",
                    "lmer_engine"]:
        for name, ref in reference(fixture).items():
            if name.startswith("insteval") or "seconds" not in ref:
                continue
            rows = linear_rows(fixture, name)
            formula = ref.get("model", ref["formula"])
            seconds, fit = timed(lambda: multilevel.lmer(formula, rows, REML=ref["reml"]), REPEATS)
            table.row(f"{fixture.removeprefix('lmer_')}:{name}", len(rows), seconds,
                      ref["seconds"], fit.llf - ref["loglik"], 1.0)


def insteval(table: Table) -> None:
    ref = reference("lmer_engine")["insteval_crossed_reml"]
    table.section("InstEval: y ~ 1 + (1|s) + (1|d) + (1|dept) (goal: <= lmer, beat mixedlm)")
    rows = reference_csv("insteval")
    seconds, fit = timed(lambda: multilevel.lmer(ref["formula"], rows, REML=True), 1)
    table.row("insteval: multilevel.lmer", len(rows), seconds, ref["seconds"],
              fit.llf - ref["loglik"], 1.0)
    if (peer := mixedlm_peer()) is not None:
        text = rows.astype({c: str for c in ["s", "d", "dept"]})
        seconds, fit = timed(lambda: peer.lmer(ref["formula"], text, REML=True), 1)
        table.row("insteval: mixedlm (Rust, peer)", len(rows), seconds, ref["seconds"],
                  mixedlm_loglik(fit) - ref["loglik"], None)


def book_logits(table: Table) -> None:
    table.section("logit models of the book (glmer fixtures; goal: <= 0.05x glmer)")
    designs = []
    for name, ref in reference("glmer_reference").items():
        if ref["data"] != "red_blue_simulated":
            designs.append((name, ref))  # the tests' small edge-case designs, timed below
            continue
        reference_logit(table, name, ref, 0.05)
    for name, ref in reference("glmer_cces").items():
        rows = cces(ref["subset"])
        seconds, fit = timed(lambda: multilevel.glmer(ref["model"], rows, family="binomial"),
                             REPEATS)
        table.row(f"cces:{name}", len(rows), seconds, ref["seconds"], fit.llf - ref["loglik"],
                  0.05)
    table.section("the tests' small logit designs: few groups, a singular fit, two covariates "
                  "(not models of the book; goal: <= glmer)")
    for name, ref in designs:
        reference_logit(table, name, ref, 1.0)


def reference_logit(table: Table, name: str, ref: dict, goal: float) -> None:
    rows = reference_csv(ref["data"])
    formula = ref.get("model", ref["formula"])
    seconds, fit = timed(lambda: multilevel.glmer(formula, rows, family="binomial",
                                                  nAGQ=ref["nAGQ"]), REPEATS)
    table.row(f"reference:{name}", len(rows), seconds, ref["seconds"], fit.llf - ref["loglik"],
              goal)


def uncollapsible_logit(table: Table) -> None:
    table.section("logit, continuous covariate: y ~ x + (1|g), 500 groups (goal: <= 0.1x glmer, "
                  "beat mixedlm)")
    rows = simulate_logit(**LOGIT_200K)
    ref = json.loads(LME4_TIMES.read_text())["fits"]["logit_200k"] if LME4_TIMES.exists() else {}
    seconds, fit = timed(lambda: multilevel.glmer("y ~ x + (1 | g)", rows, family="binomial"), 1)
    table.row("logit_200k: multilevel.glmer", len(rows), seconds, ref.get("seconds"),
              fit.llf - ref["loglik"] if ref else None, 0.1,
              "" if ref else "  (no bench/lme4_times.json: run bench/lme4_times.R)")
    if (peer := mixedlm_peer()) is not None:
        text = rows.assign(g=rows["g"].astype(str))
        seconds, fit = timed(lambda: peer.glmer("y ~ x + (1 | g)", text,
                                                family=peer.families.Binomial()), 1)
        table.row("logit_200k: mixedlm (Rust, peer)", len(rows), seconds, ref.get("seconds"),
                  mixedlm_loglik(fit) - ref["loglik"] if ref else None, None)


def counts_and_trials(table: Table) -> None:
    table.section("Poisson with offset, binomial with trials (glmer_engine; goal: <= glmer)")
    for name, ref in reference("glmer_engine").items():
        if "seconds" not in ref:
            continue
        rows = reference_csv(ref["data"])
        kwargs = {"family": ref["family"], "nAGQ": ref["nAGQ"]}
        if ref.get("weights") is not None:
            kwargs["weights"] = ref["weights"]
        seconds, fit = timed(lambda: multilevel.glmer(ref["model"], rows, **kwargs), REPEATS)
        # With nAGQ > 1 glmer's logLik() leaves out the saturated model's log-likelihood
        # (lme4 issue #161); the fixture keeps the full value as loglik_full.
        theirs = ref.get("loglik_full", ref["loglik"])
        table.row(f"engine:{name}", len(rows), seconds, ref["seconds"], fit.llf - theirs, 1.0)


def memory_child() -> None:
    """The memory case, run in its own process: prints seconds and log-likelihood as JSON."""
    rows = simulate_logit(**MEMORY_CASE)
    start = time.perf_counter()
    fit = multilevel.glmer("y ~ x + (1 + x | g)", rows, family="binomial")
    print(json.dumps({"seconds": time.perf_counter() - start, "loglik": float(fit.llf)}))


def peak_rss_so_far(pid: int) -> float:
    """VmHWM of a running process, in GB (0 when it cannot be read)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / GB
    except OSError:
        pass
    return 0.0


def memory(table: Table) -> None:
    table.section("memory: y ~ x + (1 + x|g), 1,000,000 rows, 5,000 groups, own process "
                  "(goal: peak RSS < 4 GB)")
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--memory-child"],
                             stdout=subprocess.PIPE, text=True)
    peak = 0.0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            peak = max(peak, usage.ru_maxrss * 1024 / GB)  # ru_maxrss is in KiB on Linux
            break
        peak = max(peak, peak_rss_so_far(child.pid))
        if time.perf_counter() - start > MEMORY_TIMEOUT:
            child.kill()
            os.wait4(child.pid, 0)
            table.row("logit_1m_slope: multilevel.glmer", MEMORY_CASE["rows"],
                      time.perf_counter() - start, None, None, None,
                      f"did not finish in {MEMORY_TIMEOUT} s; peak RSS so far {peak:.2f} GB")
            return
        time.sleep(0.5)
    out = child.stdout.read()
    if status != 0:
        print(f"memory case failed (status {status})")
        return
    result = json.loads(out.strip().splitlines()[-1])
    table.row("logit_1m_slope: multilevel.glmer", MEMORY_CASE["rows"], result["seconds"], None,
              None, None, f"peak RSS {peak:.2f} GB " + ("ok" if peak < 4 else "MISS"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-data", action="store_true")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.write_data:
        return write_data()
    warnings.simplefilter("ignore")  # the bench reports times; the tests check the warnings
    if args.memory_child:
        return memory_child()
    table = Table()
    linear_models(table)
    if not args.quick:
        insteval(table)
    book_logits(table)
    uncollapsible_logit(table)
    counts_and_trials(table)
    if not args.quick:
        memory(table)
    return None


if __name__ == "__main__":
    main()
