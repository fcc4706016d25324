"""Shared fixtures: paths, the lme4 reference values, and the book's glued numbers."""

from __future__ import annotations

import os

# One BLAS thread per process (as the Makefile sets): with pytest-xdist workers and chapter
# kernels sharing two cores, threaded BLAS on small matrices slows some fits a hundredfold.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import ast  # noqa: E402
import json
from functools import cache
from pathlib import Path

import matplotlib
import pytest
import yaml

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"
BUILD = Path(os.environ.get("BOOK_BUILD_DIR", ROOT / "_build"))
HTML = BUILD / "html"


@cache
def reference(name: str) -> dict:
    """The fits stored by ``tests/reference/<name>.R`` (``<name>.json``)."""
    return json.loads((REFERENCE / f"{name}.json").read_text())["fits"]


def toc_files() -> list[str]:
    """Every document in ``_toc.yml`` (without suffix), root first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return files


def notebook_chapters() -> list[str]:
    """TOC entries that are executable notebooks (they carry a jupytext header)."""
    return [f for f in toc_files() if "kernelspec:" in (ROOT / f"{f}.md").read_text()[:600]]


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


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
