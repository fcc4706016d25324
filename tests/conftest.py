"""Shared fixtures: paths, the lme4 reference values, and the book's glued numbers."""

from __future__ import annotations

import os

# One BLAS thread per process (as the Makefile sets): with pytest-xdist workers and chapter
# kernels sharing two cores, threaded BLAS on small matrices slows some fits a hundredfold.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import ast  # noqa: E402
import importlib.util
import json
from functools import cache
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"
BUILD = Path(os.environ.get("BOOK_BUILD_DIR", ROOT / "_build"))
HTML = BUILD / "html"


@cache
def reference(name: str) -> dict:
    """The fits stored by ``tests/reference/<name>.R`` (``<name>.json``)."""
    return json.loads((REFERENCE / f"{name}.json").read_text())["fits"]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The build's own reading of the table of contents, so tests and build agree on the pages.
_chapters = load_script("execute_chapters")


def toc_files() -> list[str]:
    """Every document in ``_toc.yml`` (without suffix), root first."""
    return _chapters.toc_files(ROOT)


def notebook_chapters() -> list[str]:
    """TOC entries that are executable notebooks (they carry a jupytext header)."""
    return [p.relative_to(ROOT).with_suffix("").as_posix()
            for p in _chapters.notebook_chapters(ROOT)]


def glued(chapter: str) -> dict:
    """Values a chapter glued in the last book build, as Python objects."""
    path = BUILD / "jupyter_execute" / f"{chapter}.glue.json"
    if not path.exists():
        pytest.fail(f"{path} is missing: build the book first (make book)")
    values = {}
    for name, output in json.loads(path.read_text()).items():
        text = output["data"].get("text/plain", "")
        try:
            values[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            values[name] = text
    return values


def assert_close(ours, theirs, rel: float, abs_: float = 0.0, what: str = "") -> None:
    """Every value of ``ours`` within ``rel`` (or ``abs_``) of lme4's, with the worst gap reported."""
    ours = np.asarray(ours, dtype=float)
    theirs = np.asarray(theirs, dtype=float)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs lme4 {theirs.shape}"
    gap = np.abs(ours - theirs)
    allowed = np.maximum(abs_, rel * np.abs(theirs))
    worst = np.nanmax(gap / np.maximum(np.abs(theirs), 1e-300)) if gap.size else 0.0
    assert np.all(gap <= allowed), (
        f"{what}: ours {ours.ravel()[:8]}, lme4 {theirs.ravel()[:8]}, "
        f"max gap {gap.max():.3g}, max relative {worst:.3g}")


def series(values: dict) -> pd.Series:
    """A fixture's name -> value mapping as a float Series."""
    return pd.Series(values, dtype=float)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
