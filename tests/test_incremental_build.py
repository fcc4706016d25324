"""Incremental builds (no --all) keep citations and cross-references right.

A three-page book with a bibliography is built, then edited the ways that once
left a stale ``references.html#idN`` link (a page cites a new work; the .bib file
gains an entry that shifts every anchor; a page drops a citation) or a stale
cross-reference text (a section title changes), and built again incrementally, as
``make book`` builds. After each build every link to the references page must land
on an anchor that is there, the references page must list exactly the cited
works, and a ``{ref}`` must show the section's current title
(scripts/incremental_refs.py).

The same edits are also built without the extension, to show the gap in Sphinx
and sphinxcontrib-bibtex that it fills: the day they are built right without it,
the test says so and the extension can go.
"""

from __future__ import annotations

import re
import shutil
from io import StringIO
from pathlib import Path

import pytest
from conftest import ROOT

pytest.importorskip("sphinxcontrib.bibtex")
from sphinx.testing.util import SphinxTestApp  # noqa: E402

BIB = """\
@book{alpha2001, author = {Alpha, Ann}, title = {First}, year = {2001}, publisher = {P}}
@book{beta2002, author = {Beta, Bob}, title = {Second}, year = {2002}, publisher = {P}}
@book{gamma2003, author = {Gamma, Gil}, title = {Third}, year = {2003}, publisher = {P}}
"""
CONF = f"""\
import sys
sys.path.insert(0, {str(ROOT / "scripts")!r})
extensions = ["myst_parser", "sphinxcontrib.bibtex"] + EXTRA
bibtex_bibfiles = ["references.bib"]
bibtex_reference_style = "author_year"
bibtex_default_style = "plain"
"""
PAGES = {
    "index.md": "# Book\n\n```{toctree}\none\ntwo\nreferences\n```\n",
    "one.md": "# One\n\nAs {cite:t}`alpha2001` showed.\n\n(sec-one)=\n## Details\n\nText.\n",
    "two.md": "# Two\n\nNo citation yet. See {ref}`sec-one`.\n",
    "references.md": "# References\n\n```{bibliography}\n```\n",
}
HREF = re.compile(r'href="references\.html#([^"]+)"')
ID = re.compile(r'\bid="([^"]+)"')


def make_book(path: Path, extension: bool) -> Path:
    path.mkdir()
    extra = '["incremental_refs"]' if extension else "[]"
    (path / "conf.py").write_text(CONF.replace("EXTRA", extra))
    (path / "references.bib").write_text(BIB)
    for name, text in PAGES.items():
        (path / name).write_text(text)
    return path


def build(path: Path) -> list[str]:
    """Build incrementally (as `make book` does); return the documents Sphinx wrote."""
    status = StringIO()
    app = SphinxTestApp("html", srcdir=path, status=status, warning=StringIO(),
                        warningiserror=True)
    try:
        app.build()
    finally:
        app.cleanup()
    log = re.sub(r"\x1b\[[0-9;]*m", "", status.getvalue())
    return re.findall(r"writing output\.\.\. \[\s*\d+%\] (\S+)", log)


def stale_links(path: Path) -> list[str]:
    """Links to the references page with no matching anchor, and listed works not cited."""
    html = path / "_build" / "html"
    anchors = set(ID.findall((html / "references.html").read_text()))
    problems = [f"{page.name}: #{target}" for page in sorted(html.glob("*.html"))
                for target in HREF.findall(page.read_text()) if target not in anchors]
    cited = {key for page in path.glob("*.md")
             for key in re.findall(r"`(\w+\d{4})`", page.read_text())}
    listed = set(re.findall(r"(Aaa|Alpha|Beta|Gamma)", (html / "references.html").read_text()))
    names = {"aaa1999": "Aaa", "alpha2001": "Alpha", "beta2002": "Beta", "gamma2003": "Gamma"}
    if listed != {names[key] for key in cited}:
        problems.append(f"references page lists {sorted(listed)}, cited: {sorted(cited)}")
    title = re.search(r"\(sec-one\)=\n## (\w+)", (path / "one.md").read_text()).group(1)
    if f">{title}<" not in (html / "two.html").read_text():
        problems.append(f"two.html does not show the section title {title!r}")
    return problems


def edits(path: Path):
    """The edits that once left stale anchors, each followed by an incremental build."""
    # Each with the pages that must be re-written, and the one citing page that must not.
    two = path / "two.md"
    two.write_text("# Two\n\nAs {cite:t}`beta2002` and {cite:t}`alpha2001` showed. "
                   "See {ref}`sec-one`.\n")
    yield "a page cites a new work", {"references", "two"}, {"one"}
    bib = path / "references.bib"
    bib.write_text("@book{aaa1999, author = {Aaa, Al}, title = {Zeroth}, year = {1999}, "
                   "publisher = {P}}\n" + BIB)
    yield ("the .bib file gains an entry that shifts the anchors",
           {"references", "one", "two"}, set())
    two.write_text("# Two\n\nNo citation any more. See {ref}`sec-one`.\n")
    yield "a page drops its citations", {"references", "two"}, {"one"}
    one = path / "one.md"
    one.write_text(one.read_text().replace("## Details", "## Particulars"))
    yield "a section referred to from another page is renamed", {"one", "two"}, set()
    # The bibliography's labels shift ([1] Alpha becomes [2]); author-year citations do
    # not show them, so the page citing Alpha need not be re-written.
    two.write_text("# Two\n\nAs {cite:t}`aaa1999` showed. See {ref}`sec-one`.\n")
    yield "a page cites a work listed before the others", {"references", "two"}, {"one"}


def test_incremental_builds_keep_citation_anchors(tmp_path):
    book = make_book(tmp_path / "book", extension=True)
    build(book)
    assert stale_links(book) == []
    assert build(book) == [], "a build with nothing changed writes nothing"
    for edit, rewritten, untouched in edits(book):
        written = set(build(book))
        assert stale_links(book) == [], f"after '{edit}'"
        assert rewritten <= written, f"after '{edit}' Sphinx wrote only {sorted(written)}"
        assert not untouched & written, f"after '{edit}' an unaffected page was re-written"


def test_without_the_extension_the_anchors_go_stale(tmp_path):
    """The upstream gap the extension fills (if this fails, upstream fixed it: drop it)."""
    book = make_book(tmp_path / "book", extension=False)
    build(book)
    found = []
    for edit, _, _ in edits(book):
        build(book)
        if stale_links(book):
            found.append(edit)
    assert found, "Sphinx now re-writes pages with changed citations itself"
    shutil.rmtree(book)
