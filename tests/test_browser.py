"""The built book as a reader sees it, in a real (headless) browser with the network closed.

For every page in the table of contents: the page loads without console errors
and without a single request outside localhost, every equation is typeset by the
book's own copy of MathJax, every image has loaded and has alt text, and the
solution dropdowns open. The search page finds each chapter by a word from its
text, and each chapter's download button gives a notebook that nbformat reads.
A full-page screenshot of every page is saved to ``<build>/report/screenshots/``.

Needs Debian's Chromium and its driver (``apt-get install -y chromium
chromium-driver``). Without them the module is skipped, except in CI (the
variable ``CI`` is set), where a missing browser is a failure.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shutil
import tempfile
import threading
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urljoin, urlparse

import nbformat
import pytest
from conftest import BUILD, HTML, notebook_chapters, toc_files

pytestmark = pytest.mark.book

CHROMIUM = Path(os.environ.get("BOOK_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("BOOK_CHROMEDRIVER", "/usr/bin/chromedriver"))
SCREENSHOTS = BUILD / "report" / "screenshots"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
NOTEBOOKS = set(notebook_chapters())  # pages with a notebook to download
# Chromium cannot capture a taller image in one piece; longer pages are cut here.
MAX_SCREENSHOT_HEIGHT = 16000
WAIT = 20  # seconds: generous upper bound for a page, MathJax or the search to finish

# Raw TeX that MathJax should have replaced: \( \) \[ \] delimiters, environments,
# $$ and TeX commands such as \frac, in the text a reader sees (outside code).
RAW_TEX = re.compile(r"\\[()\[\]]|\\begin\{|\$\$|\\[A-Za-z]{2,}")

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    SELENIUM_ERROR = None
except ImportError as error:  # pragma: no cover - the locked environment has selenium
    SELENIUM_ERROR = error


def _browser_missing() -> str | None:
    """Why the browser test cannot run here, or None if it can."""
    if SELENIUM_ERROR is not None:
        return f"selenium is not installed ({SELENIUM_ERROR}); run `make env`"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (path.is_file() and os.access(path, os.X_OK)):
            return (
                f"{path} is missing: install Chromium and its driver with "
                "`apt-get install -y chromium chromium-driver`"
            )
    return None


@pytest.fixture(scope="module")
def site():
    """The built HTML served on a random free port of localhost; yields (base URL, log)."""
    if not (HTML / "index.html").exists():
        pytest.fail(f"the book is not built ({HTML}): run `make book` first")
    log: list[tuple[str, int]] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_request(self, code="-", size="-"):
            log.append((self.path, int(code) if str(code).isdigit() else 0))

        def log_message(self, *args):  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=HTML))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", log
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium that can reach nothing but localhost."""
    reason = _browser_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run in CI, but {reason}")
        pytest.skip(reason)
    profile = tempfile.mkdtemp(prefix="book-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
        # Close the network: every host name except localhost fails to resolve, and
        # anything that still tries (an IP address) goes to a proxy that is not there.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # An explicit driver path: Selenium never looks for, or downloads, a driver.
    service = Service(executable_path=str(CHROMEDRIVER))
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except WebDriverException as error:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.fail(f"Chromium is installed but does not start: {error.msg}")
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def outside_requests(driver) -> list[str]:
    """URLs the browser requested (or opened a socket to) outside localhost since last call."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            params = message["params"]
            urls.append(params.get("request", {}).get("url") or params.get("url", ""))
    # chrome:// and friends are the browser's own pages (its start page), not network.
    internal = ("data", "blob", "about", "chrome", "chrome-untrusted", "chrome-extension")
    return [
        url
        for url in urls
        if urlparse(url).scheme not in internal and urlparse(url).hostname not in LOCAL_HOSTS
    ]


def console_errors(driver) -> list[str]:
    """Errors the page logged to the browser console since the last call."""
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    source = driver.page_source
    # The browser asks for /favicon.ico on its own when a page declares no icon; a 404
    # for it is not the page's doing (a declared icon that fails to load still counts).
    if 'rel="icon"' not in source and 'rel="shortcut icon"' not in source:
        errors = [e for e in errors if "/favicon.ico " not in e]
    # Known upstream bug (sphinx-thebe 0.3.1 with Sphinx 7.4): sphinx-thebe adds its inline
    # `const THEBE_JS_URL = ...` configuration from a read-phase event, so every page
    # carries two identical copies and the second throws. Allowed only while the page
    # really holds exactly that duplicate; any other redeclaration still fails.
    thebe = re.findall(r"<script>const THEBE_JS_URL = [^<]*</script>", source)
    if len(thebe) == 2 and thebe[0] == thebe[1]:
        duplicate = "Identifier 'THEBE_JS_URL' has already been declared"
        errors = [e for e in errors if duplicate not in e]
    return errors


def open_page(driver, url: str) -> None:
    """Load ``url`` and wait until the document, its images and MathJax are done."""
    driver.get(url)
    WebDriverWait(driver, WAIT, poll_frequency=0.05).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    # Load every image now (lazy ones too), so that checks and screenshots see them.
    driver.execute_script("document.querySelectorAll('img').forEach(i => i.loading = 'eager');")
    WebDriverWait(driver, WAIT, poll_frequency=0.05).until(
        lambda d: d.execute_script(
            "return Array.from(document.images).every(i => i.complete);"
        )
    )
    if driver.execute_script("return document.querySelector('.math') !== null"):
        try:
            WebDriverWait(driver, WAIT, poll_frequency=0.05).until(
                lambda d: d.execute_script(
                    "return !!(window.MathJax && MathJax.startup && MathJax.startup.promise)"
                )
            )
        except TimeoutException:
            pytest.fail(f"{url} has equations but MathJax did not load within {WAIT} s")
        outcome = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "MathJax.startup.promise.then(() => done('typeset'), e => done('failed: ' + e));"
        )
        assert outcome == "typeset", f"{url}: MathJax {outcome}"


MATH_STATE = """
const maths = Array.from(document.querySelectorAll('.math'));
const mathjax = Array.from(document.scripts).map(s => s.src).filter(s => /mathjax/i.test(s));
const prose = document.querySelector('main') || document.body;
const copy = prose.cloneNode(true);
copy.querySelectorAll('pre, code, script, style, mjx-container, .math').forEach(e => e.remove());
return {
  total: maths.length,
  typeset: maths.filter(m => m.querySelector('mjx-container')).length,
  untypeset: maths.filter(m => !m.querySelector('mjx-container'))
                  .slice(0, 3).map(m => m.textContent.trim().slice(0, 80)),
  errors: Array.from(document.querySelectorAll('mjx-merror'))
               .slice(0, 3).map(e => e.getAttribute('data-mjx-error') || e.textContent),
  version: window.MathJax && MathJax.version ? MathJax.version : null,
  scripts: mathjax,
  prose: copy.textContent,
};
"""

IMAGE_STATE = """
return Array.from(document.images).map(i => ({
  src: i.getAttribute('src'), alt: (i.getAttribute('alt') || '').trim(),
  loaded: i.complete && i.naturalWidth > 0,
}));
"""


def save_screenshot(driver, doc: str) -> Path:
    """Full-page PNG of the current page (cut at MAX_SCREENSHOT_HEIGHT pixels).

    The viewport is stretched to the page's height for the capture, so that the
    theme's sticky sidebars are drawn where a reader sees them.
    """
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    width = driver.execute_script("return window.innerWidth")
    height = max(1, min(int(size["height"]), MAX_SCREENSHOT_HEIGHT))
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True}
        )
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path = SCREENSHOTS / f"{doc.replace('/', '__')}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


SOLUTION_STATE = """
return Array.from(document.querySelectorAll('.admonition.dropdown')).map(d => {
  const body = Array.from(d.children).filter(c => !c.classList.contains('admonition-title'));
  return {button: !!d.querySelector('button.toggle-button'), body: body.length,
          shown: body.length > 0 && body.every(c => c.getBoundingClientRect().height > 0
                 && c.checkVisibility({opacityProperty: true, visibilityProperty: true}))};
});
"""


def check_solutions_open(driver) -> list[str]:
    """Click every solution dropdown; each must be folded first and shown after the click."""
    problems = []
    before = driver.execute_script(SOLUTION_STATE)
    buttons = driver.find_elements(By.CSS_SELECTOR, ".admonition.dropdown button.toggle-button")
    for number, state in enumerate(before, start=1):
        if not (state["button"] and state["body"]):
            problems.append(f"dropdown {number} has no toggle button or no content")
        elif state["shown"]:
            problems.append(f"dropdown {number} is open before it is clicked")
    if problems or len(buttons) != len(before):
        return problems or ["a dropdown has more than one toggle button"]
    for button in buttons:
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
        button.click()
    try:
        WebDriverWait(driver, 5, poll_frequency=0.05).until(
            lambda d: all(s["shown"] for s in d.execute_script(SOLUTION_STATE))
        )
    except TimeoutException:
        after = driver.execute_script(SOLUTION_STATE)
        problems += [f"dropdown {n} stays closed after a click"
                     for n, s in enumerate(after, start=1) if not s["shown"]]
    return problems


def check_download(driver, url: str) -> list[str]:
    """Open the download menu; its .ipynb link must give an executed notebook nbformat reads."""
    driver.find_element(By.CSS_SELECTOR, ".dropdown-download-buttons .dropdown-toggle").click()
    links = driver.find_elements(By.CSS_SELECTOR, ".dropdown-download-buttons a[href$='.ipynb']")
    if not links:
        return ["the download menu offers no .ipynb file"]
    WebDriverWait(driver, 5, poll_frequency=0.05).until(lambda d: links[0].is_displayed())
    target = urljoin(url, links[0].get_attribute("href"))
    if urlparse(target).hostname not in LOCAL_HOSTS:
        return [f"the notebook download points outside the book: {target}"]
    with urllib.request.urlopen(target, timeout=10) as response:
        notebook = nbformat.reads(response.read().decode("utf-8"), as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    if not any(c.outputs for c in code):
        return [f"the downloaded notebook {target} has no outputs (not executed)"]
    return []


def test_the_browser_cannot_reach_the_internet_and_we_would_notice(browser, site):
    base, _ = site
    open_page(browser, urljoin(base, "index.html"))
    outside_requests(browser), console_errors(browser)  # start from empty logs
    script = (
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => done('reached ' + r.status), e => done('blocked'));"
    )
    for url in ("https://example.com/", "http://192.0.2.1/"):
        assert browser.execute_async_script(script, url) == "blocked", url
    assert {urlparse(u).hostname for u in outside_requests(browser)} == {"example.com", "192.0.2.1"}


@pytest.mark.parametrize("doc", toc_files())
def test_page_reads_correctly_offline(browser, site, doc):
    base, server_log = site
    url = urljoin(base, f"{doc}.html")
    browser.get_log("performance"), browser.get_log("browser")  # start from empty logs
    server_log.clear()
    open_page(browser, url)
    problems = []

    math = browser.execute_script(MATH_STATE)
    if math["total"]:
        if math["typeset"] != math["total"]:
            problems.append(
                f"{math['total'] - math['typeset']} of {math['total']} equations are not "
                f"typeset, e.g. {math['untypeset']}"
            )
        if math["errors"]:
            problems.append(f"MathJax reports TeX errors: {math['errors']}")
        if not math["version"] or not math["scripts"]:
            problems.append("MathJax did not load")
        problems += [
            f"MathJax is loaded from {src}, not from the book"
            for src in math["scripts"]
            if not src.startswith(base)
        ]
    raw = sorted(set(RAW_TEX.findall(math["prose"])))
    if raw:
        problems.append(f"raw TeX left in the text: {raw}")

    for image in browser.execute_script(IMAGE_STATE):
        if not image["loaded"]:
            problems.append(f"image {image['src']} did not load")
        if not image["alt"]:
            problems.append(f"image {image['src']} has no alt text")

    problems += check_solutions_open(browser)
    save_screenshot(browser, doc)
    if doc in NOTEBOOKS:
        problems += check_download(browser, url)

    problems += [f"console error: {message}" for message in console_errors(browser)]
    problems += [f"request outside localhost: {u}" for u in outside_requests(browser)]
    problems += [
        f"the server answered {code} to {path}"
        for path, code in server_log
        if code >= 400 and path != "/favicon.ico"
    ]
    assert not problems, f"{doc}:\n  " + "\n  ".join(problems)


def distinctive_word(doc: str) -> str:
    """The longest plain word in the page's paragraphs (a word likely to be rare elsewhere)."""
    from bs4 import BeautifulSoup

    page = BeautifulSoup((HTML / f"{doc}.html").read_text(encoding="utf-8"), "html.parser")
    # The page's own paragraphs: not the previous/next links, which name other pages.
    text = " ".join(p.get_text(" ") for p in page.select("main p:not(.prev-next-title)"))
    words = sorted(set(re.findall(r"\b[A-Za-z]{6,}\b", text)), key=lambda w: (-len(w), w))
    return words[0].lower() if words else ""


@pytest.mark.parametrize("doc", [d for d in toc_files() if d != toc_files()[0]])
def test_search_finds_the_page_by_a_word_from_its_text(browser, site, doc):
    base, _ = site
    word = distinctive_word(doc)
    assert word, f"{doc} has no paragraph text to search for"
    outside_requests(browser), console_errors(browser)  # start from empty logs
    browser.get(urljoin(base, f"search.html?q={quote(word)}"))
    # Sphinx shows its status line once the last result is on the page.
    finished = (
        "const s = document.querySelector('#search-results');"
        "return !!s && /Search finished|did not match any documents/.test(s.textContent);"
    )
    WebDriverWait(browser, WAIT, poll_frequency=0.05).until(lambda d: d.execute_script(finished))
    hits = browser.execute_script(
        "return Array.from(document.querySelectorAll('#search-results a'))"
        ".map(a => a.getAttribute('href'));"
    )
    pages = {urlparse(h).path.removesuffix(".html") for h in hits}
    assert doc in pages, f"searching {word!r} does not find {doc}; it finds {sorted(pages)}"
    assert not console_errors(browser), "the search page logs errors"
    assert not outside_requests(browser), "the search page requests outside localhost"
