"""Print the built book (``make book``'s ``build/book/``) as one PDF: ``make book-pdf``.

Debian's headless Chromium (driven by Playwright, which downloads no browser of its own) prints
the site as a reader's browser would, with the book's print styles (``book/_static/book.css``):
no LaTeX. The site is served from ``127.0.0.1`` for the print, as ``python -m http.server``
would serve it; nothing is fetched from anywhere else.

1. The pages are gathered, in the order of the book's table of contents (its sidebar), into one
   document: the landing page's frame (its styles and MathJax) holding a contents page and then
   each page's article, in a part of its own that starts a new sheet. Each part's ids are
   prefixed with its page's name, and links between pages become links inside the document, so
   they work in the PDF; links to files that are not pages (a notebook to download) are left as
   text (they would point to the print's server).
2. MathJax typesets the whole document; Chromium prints it on A4 with page numbers.
3. pypdf writes the outline (bookmarks): one entry per page of the site, each lesson among
   them, with its sections beneath, found through the destinations of the contents page's
   links.

Output: ``build/book/xai-tutorial.pdf`` (inside the site: ``make book`` starts afresh, so the PDF
never outlives the pages it was printed from).

Usage::

    python scripts/book_pdf.py [--book build/book] [--output build/book/xai-tutorial.pdf]
"""

from __future__ import annotations

import argparse
import functools
import html
import http.server
import io
import logging
import os
import re
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "build" / "book"
PDF_NAME = "xai-tutorial.pdf"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

# In the browser: the site's pages in the order of its table of contents (the primary sidebar's
# links), the landing page first.
PAGE_ORDER_JS = """() => {
  const pages = [location.pathname.split('/').pop() || 'index.html'];
  for (const a of document.querySelectorAll('nav.bd-docs-nav a.reference.internal')) {
    const url = new URL(a.getAttribute('href'), location.href);
    const name = url.pathname.split('/').pop();
    if (url.origin === location.origin && name.endsWith('.html') && !pages.includes(name)) {
      pages.push(name);
    }
  }
  return pages;
}"""

# In the browser, on the landing page: fetch every page, take its article, make its ids and links
# its own, and put them all, after a contents page, into the landing page's article.
GATHER_JS = """async ({pages, title, note}) => {
  const stems = pages.map(p => p.replace(/\\.html$/, ''));
  const partOf = name => {
    const i = pages.indexOf(name);
    return i < 0 ? null : stems[i];
  };
  const parts = [];
  for (const [index, name] of pages.entries()) {
    const stem = stems[index];
    const response = await fetch(name);
    if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
    const doc = new DOMParser().parseFromString(await response.text(), 'text/html');
    const article = doc.querySelector('article.bd-article');
    if (!article) throw new Error(`${name}: no article.bd-article`);
    const base = new URL(name, location.href);
    for (const element of article.querySelectorAll('[id]')) {
      element.id = `${stem}--${element.id}`;
    }
    for (const a of article.querySelectorAll('a[href]')) {
      const url = new URL(a.getAttribute('href'), base);
      if (url.origin !== location.origin) continue;  // a paper, a site: kept as it is
      const target = partOf(url.pathname.split('/').pop() || 'index.html');
      const fragment = decodeURIComponent(url.hash.slice(1));
      if (target === null) {
        a.removeAttribute('href');  // a file of the site (a notebook): text on paper
      } else {
        a.setAttribute('href', '#' + target + (fragment ? `--${fragment}` : ''));
      }
    }
    const h1 = article.querySelector('h1');
    const text = element => {
      const copy = element.cloneNode(true);
      copy.querySelectorAll('.headerlink').forEach(x => x.remove());
      return copy.textContent.replace(/\\s+/g, ' ').trim();
    };
    const sections = [...article.querySelectorAll('section[id] > h2')].map(
      h2 => ({id: h2.parentElement.id, title: text(h2)}));
    parts.push({stem, name, title: h1 ? text(h1) : stem, sections, html: article.innerHTML});
  }
  const esc = s => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const contents = parts.map(p => `<li><a href="#${p.stem}">${esc(p.title)}</a>` +
    (p.sections.length ? '<ul>' + p.sections.map(
      s => `<li><a href="#${s.id}">${esc(s.title)}</a></li>`).join('') + '</ul>' : '') +
    '</li>').join('');
  const article = document.querySelector('article.bd-article');
  article.innerHTML =
    `<section class="book-pdf-contents" id="book-pdf-contents"><h1>${esc(title)}</h1>` +
    `<p>${esc(note)}</p><h2>Contents</h2><ol>${contents}</ol></section>` +
    parts.map(p => `<section class="book-pdf-part" id="${p.stem}">${p.html}</section>`).join('');
  document.querySelector('#jb-print-docs-body')?.remove();
  document.documentElement.classList.add('book-pdf');
  document.title = title;
  if (window.MathJax?.typesetPromise) {
    await MathJax.startup.promise;
    MathJax.typesetClear();
    await MathJax.typesetPromise();
  }
  await Promise.all([...document.images].map(img => {
    img.loading = 'eager';
    return img.complete ? null : new Promise(done => { img.onload = img.onerror = done; });
  }));
  const broken = [...document.images].filter(img => !img.naturalWidth).map(img => img.src);
  if (broken.length) throw new Error('pictures that did not load: ' + broken.join(', '));
  return parts.map(({stem, name, title, sections}) => ({stem, name, title, sections}));
}"""

FOOTER = ('<div style="font-size: 8px; width: 100%; text-align: center; color: #444;">'
          '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')


class BookPdfError(Exception):
    """A problem that stops the print, said in one line."""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (http.server's name)
        pass


@contextmanager
def serve(folder: Path):
    """``folder`` served over HTTP on 127.0.0.1 (a free port), in a thread; yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def print_site(base: str, title: str, note: str) -> tuple[bytes, list[dict]]:
    """The whole site as one PDF, printed by Chromium, and its parts (stem, title, sections)."""
    if not Path(CHROMIUM).is_file():
        raise BookPdfError(f"{CHROMIUM} is missing: `make book-pdf` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    origin = urlsplit(base).netloc
    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda r: outside.append(r.url)
                    if urlsplit(r.url).scheme in ("http", "https")
                    and urlsplit(r.url).netloc != origin else None)
            page.goto(base + "index.html", wait_until="networkidle")
            pages = page.evaluate(PAGE_ORDER_JS)
            parts = page.evaluate(GATHER_JS, {"pages": pages, "title": title, "note": note})
            page.emulate_media(media="print")
            pdf = page.pdf(format="A4", print_background=True, tagged=True,
                           display_header_footer=True, header_template="<span></span>",
                           footer_template=FOOTER,
                           margin={"top": "14mm", "bottom": "16mm", "left": "14mm",
                                   "right": "14mm"})
        finally:
            browser.close()
    if outside:
        raise BookPdfError("printing asked for addresses of other hosts: " + ", ".join(outside))
    return pdf, parts


def with_outline(pdf: bytes, parts: list[dict], title: str) -> bytes:
    """``pdf`` with an outline: the contents page, then each part with its sections."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import Fit

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # (Chromium's trailer size: harmless)
    reader = PdfReader(io.BytesIO(pdf))
    places = {}
    for name, destination in reader.named_destinations.items():
        places[str(name).lstrip("/")] = (reader.get_destination_page_number(destination),
                                         destination.top)
    writer = PdfWriter(clone_from=reader)

    def add(text: str, anchor: str, parent=None, required: bool = True):  # noqa: ANN001, ANN202
        if anchor not in places:
            if required:
                raise BookPdfError(f"no destination #{anchor} in Chromium's PDF: cannot "
                                   f"bookmark {text!r}")
            return None
        number, top = places[anchor]
        fit = Fit.xyz(top=top) if top is not None else Fit.fit()
        return writer.add_outline_item(title=text, page_number=number, parent=parent, fit=fit)

    writer.add_outline_item(title="Contents", page_number=0)
    for part in parts:
        item = add(part["title"], part["stem"])
        for section in part["sections"]:
            add(section["title"], section["id"], parent=item, required=False)
    writer.add_metadata({"/Title": title, "/Creator": "make book-pdf (Chromium, pypdf)"})
    writer.page_mode = "/UseOutlines"
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def book_title(book: Path) -> str:
    """The book's title: the last part of the landing page's ``<title>`` ("page — book")."""
    page = (book / "index.html").read_text(encoding="utf-8")
    match = re.search(r"<title>(.*?)</title>", page, re.S)
    return html.unescape(match.group(1)).split(" \u2014 ")[-1].strip() if match else "The book"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", type=Path, default=BOOK, help="the built site (build/book)")
    parser.add_argument("--output", type=Path, help=f"the PDF (default BOOK/{PDF_NAME})")
    args = parser.parse_args(argv)
    output = args.output or args.book / PDF_NAME
    start = time.perf_counter()
    try:
        if not (args.book / "index.html").is_file():
            raise BookPdfError(f"no {args.book}/index.html: build the book first (make book)")
        title = book_title(args.book)
        note = (f"The series as a book, printed from its site ({time.strftime('%Y-%m-%d')}). "
                "Widgets are pictures of how they open; run the lessons in JupyterLab to use them.")
        with serve(args.book) as base:
            pdf, parts = print_site(base, title, note)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(with_outline(pdf, parts, title))
    except (BookPdfError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"printed {len(parts)} pages of the site into {os.path.relpath(output)} "
          f"({output.stat().st_size // 1024} KB, {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
