"""What the book's tests share (``make test-book``, after ``make book`` and ``make book-pdf``).

The built site (``build/book/``, or ``$BOOK_DIR``) is served by ``http.server`` on 127.0.0.1 (a
free port) in a thread, as a reader's ``python -m http.server -d build/book`` would, and read in
Debian's headless Chromium driven by Playwright (it never downloads a browser). Chromium resolves
no host name but the server's, so a page that asks for anything elsewhere finds nothing there (and
the request is still seen and counted). Each page is visited once per colour scheme; what the
tests look at is gathered in that visit (:func:`visit`).
"""

from __future__ import annotations

import functools
import http.server
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from book_site import AXE, AXE_TAGS, BOOK, CHROMIUM


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, folder: Path) -> None:
        self.answers: list[tuple[str, int]] = []  # (path, status) of every request served
        super().__init__(("127.0.0.1", 0), functools.partial(_Handler, directory=str(folder)))


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_request(self, code="-", size="-"):  # noqa: ANN001 (http.server's)
        self.server.answers.append((self.path, int(getattr(code, "value", code))))

    def log_message(self, format, *args):  # noqa: A002 (http.server's name)
        pass


@pytest.fixture(scope="session")
def server():
    """The built book over HTTP on 127.0.0.1; ``server.url`` is its address."""
    if not (BOOK / "index.html").is_file():
        pytest.fail(f"no {BOOK}/index.html: `make test-book` builds the book first (make book)")
    httpd = _Server(BOOK)
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="session")
def browser(server):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test-book` installs Debian's chromium")
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic",
                  # no name resolves but the server's: nothing a page asks for can leave
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Visit:
    """What one page showed in one colour scheme."""

    page: str
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    links: list[dict] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    violations: list[dict] = field(default_factory=list)


# In the page, once it has loaded: its ids (and <a name>s), links and pictures.
PAGE_FACTS = """() => ({
  ids: [...document.querySelectorAll('[id]')].map(e => e.id)
    .concat([...document.querySelectorAll('a[name]')].map(e => e.name)),
  links: [...document.querySelectorAll('a[href]')].map(a => ({
    href: a.getAttribute('href'), url: a.href,
    text: (a.textContent || a.getAttribute('aria-label') || '').trim().slice(0, 60)})),
  images: [...document.querySelectorAll('img')].map(img => ({
    src: img.getAttribute('src') || '', alt: img.getAttribute('alt'),
    loaded: img.complete && img.naturalWidth > 0})),
})"""

AXE_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                          resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => n.target.join(' ') + ': ' + (n.failureSummary || '')
      .replace(/\\s+/g, ' ').slice(0, 200))}));
}"""


@pytest.fixture(scope="session")
def visit(server, browser):
    """``visit(page, scheme="light")``: load ``page`` of the book in a fresh browser context
    (``prefers-color-scheme`` as given), wait until the network is idle and MathJax has typeset,
    and return a :class:`Visit`, with axe-core's violations of WCAG 2.1 A/AA. Cached."""
    if not AXE.is_file():
        pytest.fail(f"no {AXE}: `make test-book` installs axe-core (npm ci --prefix book)")
    cache: dict[tuple[str, str], Visit] = {}
    origin = server.url.rstrip("/")

    def load(page: str, scheme: str = "light") -> Visit:
        if (page, scheme) in cache:
            return cache[page, scheme]
        seen = Visit(page)
        context = browser.new_context(color_scheme=scheme, service_workers="block",
                                      viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        tab.on("request", lambda r: seen.requests.append(r.url))
        tab.on("requestfailed", lambda r: seen.failed.append(f"{r.url}: {r.failure}"))
        tab.on("response", lambda r: seen.failed.append(f"{r.url}: HTTP {r.status}")
               if r.status >= 400 else None)
        tab.on("pageerror", lambda e: seen.errors.append(str(e)))
        tab.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
        try:
            tab.goto(f"{origin}/{page}", wait_until="networkidle")
            tab.evaluate("async () => { if (window.MathJax?.startup?.promise) "
                         "await MathJax.startup.promise; }")
            facts = tab.evaluate(PAGE_FACTS)
            seen.ids = set(facts["ids"])
            seen.links, seen.images = facts["links"], facts["images"]
            tab.add_script_tag(path=str(AXE))
            seen.violations = tab.evaluate(AXE_RUN, AXE_TAGS)
        finally:
            context.close()
        cache[page, scheme] = seen
        return seen

    return load
