"""Invalidate the execution cache when anything the chapters' outputs depend on has changed.

Upstream gap: jupyter-cache (and so myst-nb's ``execute_notebooks: cache``) keys a
notebook on its own code cells only, so an edit to the helper package, a data file,
the locked environment or the lme4 fixtures a chapter reads would otherwise leave
the book showing results computed by old code. Before each build this script takes
a fingerprint of exactly those inputs; if it differs from the last build's, it
deletes the execution cache and Sphinx's doctrees so that every chapter is
re-executed and re-read.

Only what a chapter's *outputs* depend on is fingerprinted. The bibliography is
not: a ``references.bib`` edit changes no computed result, and Sphinx re-reads the
references page (sphinxcontrib-bibtex notes the .bib file as its dependency) while
``scripts/incremental_refs.py`` re-writes the pages whose citations changed, so a
bibliography edit re-renders without re-executing any chapter.

Usage: python scripts/cache_guard.py BUILD_DIR
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INPUTS = [
    "code/multilevel/**/*.py",
    "data/*.csv",
    "requirements.lock",
    # A chapter compares its fits with the lme4 fixtures.
    "tests/reference/*.json",
]


def fingerprint(root: Path = ROOT) -> str:
    """SHA-256 over the paths and contents of every file the chapters depend on."""
    digest = hashlib.sha256()
    for pattern in INPUTS:
        for path in sorted(root.glob(pattern)):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def guard(build_dir: Path, root: Path = ROOT) -> bool:
    """Clear stale caches under ``build_dir``; return True if they were cleared."""
    stamp = build_dir / ".inputs-fingerprint"
    current = fingerprint(root)
    if stamp.exists() and stamp.read_text().strip() == current:
        return False
    for stale in (build_dir / ".jupyter_cache", build_dir / ".doctrees"):
        shutil.rmtree(stale, ignore_errors=True)
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current + "\n")
    return True


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build"
    if guard(target):
        print(f"cache_guard: inputs changed; every chapter will be re-executed ({target}).")
