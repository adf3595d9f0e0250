"""The built book in real Chromium: every page offline, its links and anchors, its pictures' alt
text, its accessibility (axe-core), the search, and screenshots (test-output/book/)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from book_site import BOOK, NOTEBOOKS, PAGES, SCREENSHOTS

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
# A file name or path where words should be (myst-nb writes a picture's path, "_images/<hash>.png",
# as its alt text when the cell gives none).
PATH_LIKE = re.compile(r"\S*[/\\]\S*|\S+\.(png|jpe?g|gif|svg|webp|bmp|tiff?)", re.IGNORECASE)


def lessons_without_alt_text() -> list[str]:
    """The lesson cells that show a picture with no alt text in their metadata
    (``mystnb.image.alt``, where the book reads it)."""
    missing = []
    for path in NOTEBOOKS:
        for index, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            if cell["cell_type"] != "code" or not any(
                    set(IMAGE_TYPES) & set(o.get("data") or {}) for o in cell["outputs"]):
                continue
            image = (cell.get("metadata", {}).get("mystnb") or {}).get("image") or {}
            if not str(image.get("alt") or "").strip():
                missing.append(f"{path.name} cell {index}")
    return missing


MISSING_ALT = lessons_without_alt_text()


def test_every_lesson_is_a_page():
    assert PAGES, f"no pages in {BOOK}: make book"
    for page in ["index.html", "search.html", *(f"{nb.stem}.html" for nb in NOTEBOOKS)]:
        assert page in PAGES, f"{page} is not in {BOOK}"


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_offline(page, visit, server):
    seen = visit(page)
    origin = server.url.rstrip("/")
    elsewhere = [u for u in seen.requests
                 if urlsplit(u).scheme not in ("data", "blob", "about")
                 and not u.startswith(origin + "/")]
    failed, errors = seen.failed, seen.errors
    unloaded = [image["src"] for image in seen.images if not image["loaded"]]
    assert not elsewhere, f"{page} asked for addresses of other hosts: {elsewhere}"
    assert not failed, f"{page}: failed requests: {failed}"
    assert not errors, f"{page}: errors in the browser's console: {errors}"
    assert not unloaded, f"{page}: pictures that did not load: {unloaded}"


def test_server_answered_every_request(visit, server):
    """What the browser does not report (its own /favicon.ico, say) the server saw."""
    for page in PAGES:
        visit(page)
    errors = [(path, code) for path, code in server.answers if code >= 400]
    assert not errors, f"the server answered with errors: {errors}"


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_and_anchors_resolve(page, visit, server):
    seen = visit(page)
    origin = server.url.rstrip("/")
    broken = []
    for link in seen.links:
        url = urlsplit(link["url"])
        if url.scheme in ("mailto", "javascript") or not link["url"].startswith(origin + "/"):
            continue  # a paper, a site, an address: not the book's to check offline
        path = unquote(url.path).lstrip("/") or "index.html"
        target = BOOK / path
        if target.is_dir():
            target, path = target / "index.html", f"{path.rstrip('/')}/index.html"
        if not target.is_file():
            broken.append(f"{link['href']!r} ({link['text']!r}): no file {path}")
            continue
        fragment = unquote(url.fragment)
        if not fragment or target.suffix != ".html":
            continue
        ids = seen.ids if path == page else visit(path).ids
        if fragment not in ids:
            broken.append(f"{link['href']!r} ({link['text']!r}): no id {fragment!r} on {path}")
    assert not broken, f"{page}: broken links:\n  " + "\n  ".join(broken)


@pytest.mark.parametrize("page", PAGES)
def test_pictures_have_alt_text(page, visit):
    assert not MISSING_ALT, f"lesson figures without alt text (mystnb.image.alt): {MISSING_ALT}"
    seen = visit(page)
    bad = []
    for image in seen.images:
        alt = (image["alt"] or "").strip()
        name = Path(urlsplit(image["src"]).path).name
        if not alt:
            bad.append(f"{image['src']}: no alt text")
        elif PATH_LIKE.fullmatch(alt) or alt == name:
            bad.append(f"{image['src']}: alt text {alt!r} is a file name, not words")
    assert not bad, f"{page}:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("page", PAGES)
def test_no_serious_accessibility_violations(page, scheme, visit):
    """axe-core, WCAG 2.1 A and AA: no serious or critical violation (the theme's colours in
    both of its schemes; the reader's system chooses)."""
    seen = visit(page, scheme)
    serious = [v for v in seen.violations if v["impact"] in ("serious", "critical")]
    assert not serious, f"{page} ({scheme}):\n" + "\n".join(
        f"  {v['impact']} {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"][:5])
        for v in serious)


def test_search_finds_integrated_gradients(browser, server):
    """A reader types "Integrated Gradients" into the search (Ctrl+K, the theme's search box)
    and opens lesson 05 from the results."""
    lesson = next(nb.stem for nb in NOTEBOOKS if nb.stem.startswith("05_"))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(server.url + "index.html", wait_until="networkidle")
        page.keyboard.press("Control+k")
        box = page.locator("#pst-search-dialog input[name='q']")
        box.wait_for(state="visible", timeout=5_000)
        box.fill("Integrated Gradients")
        box.press("Enter")
        page.wait_for_url(re.compile(r"search\.html\?q=Integrated"), timeout=10_000)
        hit = page.locator(f"#search-results a[href*='{lesson}.html']").first
        hit.wait_for(timeout=20_000)
        titles = page.locator("#search-results ul.search li").all_inner_texts()
        assert any("Attribution" in t for t in titles), titles
        hit.click()
        page.wait_for_url(re.compile(rf"/{lesson}\.html"), timeout=10_000)
        heading = page.locator("article h1").first.inner_text()
        assert "Attribution beyond CAM" in heading, heading
    finally:
        context.close()


def test_keyboard_skip_link(browser, server):
    """The first Tab reaches the theme's "Skip to main content" link, and it moves the focus
    into the lesson's text."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(server.url + f"{NOTEBOOKS[1].stem}.html", wait_until="networkidle")
        page.keyboard.press("Tab")
        focused = page.evaluate("[document.activeElement.tagName, "
                                "document.activeElement.textContent.trim()]")
        assert focused[0] == "A" and "skip" in focused[1].lower(), focused
        page.keyboard.press("Enter")
        assert page.evaluate("location.hash") == "#main-content"
    finally:
        context.close()


def test_screenshots(browser, server):
    """The landing page (whole) and a lesson's first screen, for a reviewer's eyes."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(server.url + "index.html", wait_until="networkidle")
        page.screenshot(path=SCREENSHOTS / "landing.png", full_page=True)
        lesson = next(nb.stem for nb in NOTEBOOKS if nb.stem.startswith("02_"))
        page.goto(server.url + f"{lesson}.html", wait_until="networkidle")
        page.evaluate("async () => { if (window.MathJax?.startup?.promise) "
                      "await MathJax.startup.promise; }")
        page.screenshot(path=SCREENSHOTS / f"{lesson}.png")
    finally:
        context.close()
    for name in ("landing.png", f"{lesson}.png"):
        assert (SCREENSHOTS / name).stat().st_size > 10_000, name
