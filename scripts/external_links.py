"""List, and optionally check, every external link in the built book.

Usage (after ``make book``)::

    python scripts/external_links.py [HTML_DIR]            # list: page <TAB> URL
    python scripts/external_links.py --check [HTML_DIR]    # check each URL (needs internet)

``make external-links`` runs the check. HTML_DIR defaults to ``$BOOK_BUILD_DIR/html``
or ``_build/html``. Links are the ``href`` of ``<a>`` elements and the ``src`` of
images and scripts that point to ``http(s)://`` addresses. The check asks each
distinct URL once (HEAD, then GET if the server refuses HEAD), with a timeout,
and prints the broken ones with the pages that carry them; it exits with 1 if
any link is broken. A server that answers 401, 403 or 429 (it refuses robots
or rate-limits) is reported as "not verified", not as broken.

This is a maintainer's tool, not part of the tests: the tests run offline.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urlparse

ROOT = Path(__file__).resolve().parents[1]
USER_AGENT = "Mozilla/5.0 (compatible; multilevel-book-link-check)"
NOT_VERIFIED = {401, 403, 429}


class LinkParser(HTMLParser):
    """Collect the external URLs of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {"a": "href", "img": "src", "script": "src", "iframe": "src"}
        if tag in names:
            value = dict(attrs).get(names[tag]) or ""
            if urlparse(value).scheme in ("http", "https"):
                self.urls.append(value)


def external_links(html_dir: Path) -> list[tuple[str, str]]:
    """Every (page, URL) pair, pages relative to ``html_dir``, in a stable order."""
    pairs = set()
    for page in sorted(html_dir.rglob("*.html")):
        parser = LinkParser()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        pairs.update((page.relative_to(html_dir).as_posix(), url) for url in parser.urls)
    return sorted(pairs)


def status(url: str, timeout: float) -> tuple[int | None, str]:
    """HTTP status of ``url`` (HEAD, falling back to GET) or None and the error."""
    target = urldefrag(url).url
    for method in ("HEAD", "GET"):
        request = urllib.request.Request(target, method=method,
                                         headers={"User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, "ok"
        except urllib.error.HTTPError as error:
            if method == "HEAD" and error.code in (400, 403, 404, 405, 501):
                continue  # some servers answer HEAD wrongly: ask again with GET
            return error.code, error.reason
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            if method == "HEAD":
                continue
            return None, str(reason)
    return None, "no answer"


def main() -> int:
    default = Path(os.environ.get("BOOK_BUILD_DIR", ROOT / "_build")) / "html"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_dir", nargs="?", type=Path, default=default)
    parser.add_argument("--check", action="store_true", help="request every URL (needs internet)")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds per request")
    parser.add_argument("--workers", type=int, default=8, help="requests in parallel")
    args = parser.parse_args()
    if not (args.html_dir / "index.html").exists():
        print(f"{args.html_dir} holds no built book: run `make book` first", file=sys.stderr)
        return 2

    pairs = external_links(args.html_dir)
    if not args.check:
        for page, url in pairs:
            print(f"{page}\t{url}")
        return 0

    pages = defaultdict(list)
    for page, url in pairs:
        pages[url].append(page)
    print(f"checking {len(pages)} distinct external links on {len({p for p, _ in pairs})} pages")
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        results = dict(zip(pages, pool.map(lambda u: status(u, args.timeout), pages)))
    broken = {u: r for u, r in results.items()
              if r[0] is None or (r[0] >= 400 and r[0] not in NOT_VERIFIED)}
    unverified = {u: r for u, r in results.items() if r[0] in NOT_VERIFIED}
    for title, group in (("BROKEN", broken), ("not verified (server refuses robots)", unverified)):
        for url, (code, reason) in sorted(group.items()):
            print(f"{title}: {url} -> {code or 'error'} {reason}")
            for page in pages[url][:5]:
                print(f"    on {page}")
            if len(pages[url]) > 5:
                print(f"    and {len(pages[url]) - 5} more pages")
    print(f"{len(results) - len(broken) - len(unverified)} ok, {len(unverified)} not verified, "
          f"{len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
