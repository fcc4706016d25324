"""The built book (make book): every page, figure, glued number and link is there."""

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest
from conftest import HTML, ROOT, glued, notebook_chapters, toc_files

pytestmark = pytest.mark.book


class PageParser(HTMLParser):
    """Collect links, image sources, element ids and the visible text of a page."""

    def __init__(self):
        super().__init__()
        self.links, self.images, self.ids, self.text = [], [], set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs)

    def handle_data(self, data):
        self.text.append(data)


def parse(page: Path) -> PageParser:
    parser = PageParser()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def pages():
    if not (HTML / "index.html").exists():
        pytest.fail("the book is not built: run `make book` first")
    return {doc: parse(HTML / f"{doc}.html") for doc in toc_files()}


def test_every_toc_entry_has_a_page(pages):
    assert set(pages) == set(toc_files())


def test_no_page_shows_an_error_or_traceback(pages):
    for doc, page in pages.items():
        text = "".join(page.text)
        for marker in ("Traceback (most recent call last)", "Error in callback", "Warning:"):
            assert marker not in text, f"{doc} shows {marker!r}"


def test_every_figure_exists_and_has_alt_text(pages):
    for doc in notebook_chapters():
        images = [i for i in pages[doc].images if "_images/" in i.get("src", "")]
        assert images, f"{doc} has no figures"
        for image in images:
            path = (HTML / doc).parent / image["src"]
            assert path.exists() and path.stat().st_size > 1000, f"{doc}: {image['src']} missing"
            assert image.get("alt", "").strip(), f"{doc}: {image['src']} has no alt text"


def test_internal_links_and_anchors_resolve(pages):
    # Every built page (also the search, index and module-index pages that are not in
    # the TOC), and images as well as links.
    parsed = {html.resolve(): parse(html) for html in HTML.rglob("*.html")}
    ids = {path: page.ids for path, page in parsed.items()}
    for here, page in parsed.items():
        doc = here.relative_to(HTML.resolve()).as_posix()
        for href in page.links + [image.get("src") or "" for image in page.images]:
            url = urlparse(href)
            if url.scheme or not href:
                continue
            target = (here.parent / unquote(url.path)).resolve() if url.path else here
            assert target.exists(), f"{doc}: broken link {href}"
            if url.fragment and target.suffix == ".html":
                assert url.fragment in ids[target], f"{doc}: missing anchor {href}"


def test_math_is_served_from_the_book_not_a_cdn(pages):
    for doc in pages:
        source = (HTML / f"{doc}.html").read_text(encoding="utf-8")
        assert "cdn.jsdelivr.net/npm/mathjax" not in source, f"{doc} loads MathJax from a CDN"
    assert (HTML / "_static" / "mathjax" / "tex-chtml.js").exists()


def test_each_chapter_offers_an_executed_notebook_download():
    for doc in notebook_chapters():
        path = HTML / "_sources" / f"{doc}.ipynb"
        notebook = nbformat.read(path, as_version=4)
        outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
        assert outputs, f"{path} has no outputs"
        assert f'{Path(doc).name}.ipynb"' in (HTML / f"{doc}.html").read_text()


def test_structures_chapter_glued_numbers():
    values = glued("chapters/structures")
    assert values["cces_n"] == 40212 and values["cces_states"] == 51
    assert values["one_deff"] == pytest.approx(6.7)
    # The naive standard error must be too small; the two corrected ones are not.
    assert values["one_naive_se"] < values["one_robust_se"]
    assert values["one_naive_se"] < values["one_ri_se"]
    assert values["mc_worst_naive_coverage"] < 60 < 85 < values["mc_worst_ri_coverage"]
    assert values["mc_control_coverage"] > 90
    assert 0.15 < values["mc_worst_naive_ratio"] < 0.35


def test_sources_have_no_committed_notebooks():
    assert not list((ROOT / "chapters").glob("*.ipynb"))
