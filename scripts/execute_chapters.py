"""Execute the book's chapters two at a time into the build's execution cache.

The execution is jupyter-cache's own: its ``local-parallel`` executor (one
process per core), into the cache myst-nb reads (``BUILD/.jupyter_cache``), each
chapter read by myst-nb's jupyter-cache reader (``myst_nb_md``, the entry point
of ``myst_nb.core.read``), so that its key is the one myst-nb looks up: the build
that follows reports "Using cached notebook" for every chapter and only renders.
It changes no result: a chapter that fails here is simply executed again by the
build, which reports the error.

Upstream gaps this fills: myst-nb 1.4 (``execute_notebooks: cache``) executes the
chapters one after another while Sphinx reads them, with no parallel option; and
``jcache project execute --executor local-parallel`` would do the same execution
but cannot take the list of chapters from ``_toc.yml`` (nor drop the ones that
left it), and asks interactively before creating a cache. ``toc_files`` and
``notebook_chapters`` are the one reading of ``_toc.yml`` that the build, the
benchmark and the tests share.

`make book` runs this only when a chapter, the table of contents or the cache
guard's inputs changed since its last run (a stamp file), or the cache is gone.

Usage: python scripts/execute_chapters.py BUILD_DIR
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import yaml
from jupyter_cache import get_cache
from jupyter_cache.executors import load_executor

ROOT = Path(__file__).resolve().parents[1]
# The reader myst-nb uses for MyST Markdown notebooks, so that the cache keys match.
MYST_READER = {"type": "plugin", "name": "myst_nb_md"}


def toc_files(root: Path = ROOT) -> list[str]:
    """Every document in ``_toc.yml`` (paths without suffix), root first."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
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


def notebook_chapters(root: Path = ROOT) -> list[Path]:
    """Paths of the executable notebooks (a jupytext header) listed in ``_toc.yml``."""
    paths = [root / f"{entry}.md" for entry in toc_files(root)]
    return [p for p in paths if p.exists() and "kernelspec:" in p.read_text()[:600]]


def execute(build_dir: Path, timeout: int = 300) -> None:
    cache = get_cache(str(build_dir / ".jupyter_cache"))
    chapters = [str(path) for path in notebook_chapters()]
    for record in cache.list_project_records():
        if record.uri not in chapters:  # a chapter that left the book is not executed
            cache.remove_nb_from_project(record.uri)
    # The executor runs records in the order they were added, two at a time: adding the
    # longest first (file size stands in for execution time, and the MCMC chapter is the
    # largest by far) keeps it from starting late and running on alone after the other
    # worker has run out of chapters.
    # Execution of a clean build, four runs each: 116-133 s in table-of-contents order,
    # 98-107 s longest first.
    for uri in sorted(chapters, key=lambda uri: -Path(uri).stat().st_size):
        cache.add_nb_to_project(uri, read_data=MYST_READER)
    logger = logging.getLogger("execute_chapters")
    start = time.perf_counter()
    result = load_executor("local-parallel", cache=cache, logger=logger).run_and_cache(
        timeout=timeout
    )
    for uri in result.succeeded:
        print(f"execute_chapters: executed {uri}")
    failed = len(result.excepted) + len(result.errored)
    print(f"execute_chapters: {len(result.succeeded)} executed, {failed} failed (the build "
          f"reports why) in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    execute(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build")
