"""How long the book takes to build on this machine: clean, unchanged, and after an edit.

Run by ``make bench`` (or ``.venv/bin/python bench/build.py``). The book (with
its helper package) is copied to a temporary folder and built there, so the
repository and its ``_build/`` are never touched and edits made meanwhile do
not disturb the figures; the copy is deleted afterwards. Each build is
``make book`` run in the copy (with this environment), timed as a whole:

1. clean: no execution cache, every chapter executes;
2. no change: nothing to execute, read or write;
3. prose edit: one chapter's file is touched (its text changes, its code does
   not), so Sphinx re-reads it and takes the outputs from the cache;
4. citation edit: ``references.bib`` gains an entry and the same chapter cites it
   in its prose: nothing executes, and every ``references.html#...`` link of the
   rebuilt book must land on an anchor (scripts/incremental_refs.py);
5. code edit: a code cell is appended to the same chapter, so that chapter, and
   only that chapter, executes again (checked in jupyter-cache's records and in
   the build log).

Then each chapter's execution time, from jupyter-cache's records of the clean
build. Targets: clean build <= 60 s, no-change rebuild <= 10 s (on 2 cores).

Options: ``--chapter NAME`` (default: the first notebook chapter in the table
of contents) and ``--keep`` (leave the temporary folder for inspection).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import execute_chapters  # noqa: E402  (the build's own reading of the table of contents)

VENV = Path(sys.executable).parent.parent
TARGETS = {"clean": 60.0, "no change": 10.0}
# Everything a build reads; the rest (virtual environment, git, old builds) stays behind.
SKIP = shutil.ignore_patterns(".git", ".venv", "_build", ".pytest_cache", "__pycache__",
                              "*.egg-info", ".ipynb_checkpoints")
EXECUTING = re.compile(r"(\S+\.(?:md|ipynb)): Executing notebook|execute_chapters: executed (\S+\.md)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def notebook_chapters(source: Path) -> list[str]:
    """The notebook chapters of the book at ``source``, read as the build reads ``_toc.yml``."""
    return [p.relative_to(source).with_suffix("").as_posix()
            for p in execute_chapters.notebook_chapters(source)]


def build_env(source: Path) -> dict[str, str]:
    """The Makefile's build environment for the copy, minus a non-inline matplotlib backend.

    The copy's own helper package comes first on the path, so that edits to the
    repository during the benchmark do not reach it. The kernel must use
    matplotlib's inline backend to capture figures; an inherited ``MPLBACKEND=Agg``
    would make every figure (and every {numref} to one) disappear from the book.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYDEVD_DISABLE_FILE_VALIDATION="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(source / "code"),
                                                        os.environ.get("PYTHONPATH")])))
    if env.get("MPLBACKEND", "").lower() == "agg":
        del env["MPLBACKEND"]
    return env


def build(source: Path, label: str) -> tuple[float, list[str]]:
    """Run the strict build of ``source``; return its wall time and the chapters it executed."""
    build_dir = source / "_build"
    if ROOT / "_build" in [build_dir, *build_dir.parents]:
        raise SystemExit("refusing to build into the repository's _build")
    # `make book` in the copy: its cache guard fingerprints the copy's package, data and
    # lock file, then the chapters run two at a time (if any changed), then the strict build.
    start = time.perf_counter()
    result = subprocess.run(
        ["make", "--no-print-directory", "book", f"VENV={VENV}"],
        cwd=source, env=build_env(source), capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - start
    log = ANSI.sub("", result.stdout + result.stderr)
    (build_dir / f"bench-{label.replace(' ', '-')}.log").write_text(log)
    if result.returncode != 0:
        print(log[-4000:], file=sys.stderr)
        raise SystemExit(f"the {label} build failed (exit {result.returncode})")
    executed = sorted({Path(p).resolve().relative_to(source).with_suffix("").as_posix()
                       for match in EXECUTING.findall(log) for p in match if p})
    return elapsed, executed


def cache_records(source: Path) -> dict[int, tuple[str, float]]:
    """jupyter-cache's records: id -> (chapter, execution seconds)."""
    cache = get_cache(str(source / "_build" / ".jupyter_cache"))
    return {
        r.pk: (Path(r.uri).resolve().relative_to(source).with_suffix("").as_posix(),
               float(r.data.get("execution_seconds", float("nan"))))
        for r in cache.list_cache_records()
    }


def stale_citation_links(html: Path) -> list[str]:
    """Links to the references page whose anchor is not on it."""
    ids = set(re.findall(r'\bid="([^"]+)"', (html / "references.html").read_text()))
    return [f"{page.relative_to(html)}#{target}" for page in sorted(html.rglob("*.html"))
            for target in re.findall(r'href="(?:\.\./)*references\.html#([^"]+)"', page.read_text())
            if target not in ids]


def has_outputs(notebook: Path) -> bool:
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    return any(c.get("outputs") for c in cells if c.cell_type == "code")


def report(label: str, seconds: float, executed: list[str]) -> None:
    target = TARGETS.get(label)
    verdict = "" if target is None else (
        f"  target <= {target:.0f} s: {'met' if seconds <= target else 'MISSED'}")
    ran = ", ".join(executed) if executed else "nothing"
    print(f"{label + ' build':<20}{seconds:8.1f} s{verdict}   executed: {ran}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapter", help="chapter to edit, e.g. chapters/structures")
    parser.add_argument("--keep", action="store_true", help="keep the temporary book copy")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="book-bench-"))
    source = workdir / "book"
    shutil.copytree(ROOT, source, ignore=SKIP)
    chapters = notebook_chapters(source)
    if not chapters:
        raise SystemExit("the table of contents lists no notebook chapter")
    edited = args.chapter or chapters[0]
    if edited not in chapters:
        raise SystemExit(f"{edited} is not a notebook chapter in _toc.yml: {chapters}")

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    print(f"Book build benchmark: {len(execute_chapters.toc_files(source))} pages, {len(chapters)} notebook "
          f"chapters; {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}")
    print(f"(a copy of the book in {workdir}; load average before: "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)\n")
    failures = []
    try:
        clean, executed = build(source, "clean")
        report("clean", clean, executed)
        if sorted(executed) != sorted(chapters):
            failures.append(f"the clean build executed {executed}, not every chapter")
        # Every chapter must come from scripts/execute_chapters.py's parallel run: myst-nb
        # executing one itself means that their cache keys differ.
        log = (source / "_build" / "bench-clean.log").read_text()
        if "Executing notebook" in log or log.count("Using cached notebook") != len(chapters):
            failures.append("jupyter-book did not find every pre-executed chapter in the cache")
        per_chapter = cache_records(source)

        unchanged, executed = build(source, "no change")
        report("no change", unchanged, executed)
        if executed:
            failures.append(f"the no-change build executed {executed}")

        path = source / f"{edited}.md"
        os.utime(path)
        prose, executed = build(source, "prose edit")
        report("prose edit", prose, executed)
        if executed:
            failures.append(f"touching {edited} re-executed {executed}; the cache should serve it")
        if not has_outputs(source / "_build" / "html" / "_sources" / f"{edited}.ipynb"):
            print(f"  note: the download notebook of {edited} lost its outputs in this rebuild "
                  "(myst-nb writes the unexecuted notebook when it serves a chapter "
                  "from the cache)")

        with (source / "references.bib").open("a", encoding="utf-8") as handle:
            handle.write("\n@book{bench2026, author = {Bench, Ben}, title = {A Benchmark}, "
                         "year = {2026}, publisher = {bench/build.py}}\n")
        with path.open("a", encoding="utf-8") as handle:
            handle.write("\nA citation added by bench/build.py: {cite:t}`bench2026`.\n")
        cited, executed = build(source, "citation edit")
        report("citation edit", cited, executed)
        if executed:
            failures.append(f"a bibliography and citation edit re-executed {executed}")
        stale = stale_citation_links(source / "_build" / "html")
        if stale or "Bench" not in (source / "_build" / "html" / "references.html").read_text():
            failures.append(f"after citing a new work, stale links to the references page: {stale}")

        before = set(cache_records(source))
        with path.open("a", encoding="utf-8") as handle:
            handle.write("\n```{code-cell} ipython3\n# bench/build.py: a code edit\n```\n")
        code, executed = build(source, "code edit")
        report("code edit", code, executed)
        new = [chapter for pk, (chapter, _) in cache_records(source).items() if pk not in before]
        if executed != [edited] or new != [edited]:
            failures.append(f"editing {edited}'s code re-executed {executed} "
                            f"(new cache records: {new}); expected exactly {edited}")
        print(f"\n(edited chapter: {edited})\n")

        print("Execution time per chapter (clean build, from jupyter-cache):")
        for chapter, seconds in sorted(per_chapter.values(), key=lambda r: -r[1]):
            print(f"  {chapter:<40}{seconds:8.1f} s")
        total = sum(seconds for _, seconds in per_chapter.values())
        print(f"  {'total':<40}{total:8.1f} s")
        print(f"\n(load average after: {os.getloadavg()[0]:.1f}; other work on the machine "
              "slows every figure above)")
    finally:
        if args.keep:
            print(f"\nkept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
