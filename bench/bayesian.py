"""How long the Bayesian chapter takes to execute on this machine (target: 90 s on 2 cores).

Run by ``make bench`` (or ``.venv/bin/python bench/bayesian.py``). The chapter is
executed once in a fresh kernel, as the build executes it (single-threaded BLAS, the
chapter's folder as working directory), outside the book: nothing in ``_build/`` is
touched. Prints the wall time, the slowest cells, and any output the chapter wrote to
stderr (the strict build fails on it). ``bench/build.py`` also lists this chapter's
time among all chapters of a clean build.

The chapter is executed twice by default, both times with a compilation cache of its
own (a temporary PyTensor ``base_compiledir``; the user's cache is not touched): first
with the cache empty, as on a new machine, where PyTensor and Numba compile every
function of the models; then with the cache the first run filled, as on every later
run. Both times are printed, and the two runs must glue the same values (apart from
the chapter's own measurement of its execution time): a seed gives the same draws
whether a model was compiled afresh or loaded from the cache. ``--runs N`` executes
the chapter N times in all.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import jupytext
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "chapters" / "bayesian.md"
TARGET = 90.0
# Glued values that measure the machine rather than the model.
MEASUREMENTS = {"bayes_elapsed_seconds"}


def glued_values(notebook) -> dict[str, str]:
    """Every value the executed notebook glued, as its plain-text representation."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                values[name] = output["data"].get("application/papermill.record/text/plain", "")
    return values


def execute(compile_cache: str) -> tuple[float, float, object]:
    """Execute the chapter in a fresh kernel that compiles into `compile_cache`."""
    notebook = jupytext.read(CHAPTER)
    os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                      PYDEVD_DISABLE_FILE_VALIDATION="1",
                      PYTENSOR_FLAGS=f"base_compiledir={compile_cache}")
    os.environ.pop("MPLBACKEND", None)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(CHAPTER.parent)}})
    start = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    client.execute()  # the kernel is shut down and reaped at the end, so its CPU time counts
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return time.perf_counter() - start, cpu, notebook


def cell_seconds(cell) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        begin = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    except KeyError:
        return 0.0
    return (end - begin).total_seconds()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    print(f"Bayesian chapter: {os.cpu_count()} CPUs, load average before "
          f"{os.getloadavg()[0]:.1f}")
    failures, first_glue = [], None
    compile_cache = tempfile.TemporaryDirectory(prefix="bayes-compile-cache-")
    for run in range(1, args.runs + 1):
        seconds, cpu, notebook = execute(compile_cache.name)
        verdict = "met" if seconds <= TARGET else "MISSED"
        cache = "empty compilation cache" if run == 1 else "compilation cache filled"
        print(f"  run {run} ({cache}): chapters/bayesian executed in {seconds:6.1f} s  "
              f"(target <= {TARGET:.0f} s: {verdict}); CPU time of the kernel {cpu:6.1f} s")
        code = [c for c in notebook.cells if c.cell_type == "code"]
        slowest = sorted(code, key=cell_seconds, reverse=True)[:5]
        for cell in slowest:
            first_line = next((line for line in cell.source.splitlines()
                               if line.strip() and not line.startswith(("#", "-", ":", "tags"))), "")
            print(f"      {cell_seconds(cell):6.1f} s  {first_line[:70]}")
        stderr = [o.get("text", "") for c in code for o in c.get("outputs", [])
                  if o.get("output_type") == "stream" and o.get("name") == "stderr"]
        if stderr:
            failures.append(f"run {run} wrote to stderr: {stderr[0][:300]!r}")
        values = {k: v for k, v in glued_values(notebook).items() if k not in MEASUREMENTS}
        if first_glue is None:
            first_glue = values
        elif values != first_glue:
            changed = sorted(k for k in values.keys() | first_glue.keys()
                             if values.get(k) != first_glue.get(k))
            failures.append(f"run {run} glued different values: {changed}")
    compile_cache.cleanup()
    if args.runs > 1 and not failures:
        print(f"  all {args.runs} runs glued the same {len(first_glue)} values")
    built = ROOT / "_build" / "jupyter_execute" / "chapters" / "bayesian.glue.json"
    if built.exists() and first_glue is not None:
        # The last book build executed the chapter too: a further independent run.
        book = {name: next(iter(output["data"].values()), "")
                for name, output in json.loads(built.read_text()).items() if name not in MEASUREMENTS}
        changed = sorted(k for k in book.keys() | first_glue.keys() if book.get(k) != first_glue.get(k))
        if changed:
            print(f"  note: {len(changed)} glued values differ from the last book build "
                  f"(rebuild the book if the code changed since): {changed[:8]}")
        else:
            print(f"  the {len(book)} glued values equal those of the last book build")
    print(f"  (load average after: {os.getloadavg()[0]:.1f})")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
