"""The book as a PDF (``make book-pdf``: build/book/xai-tutorial.pdf): it opens (poppler's pdftoppm
renders its first page), each lesson is a section of its own (a bookmark, starting a new sheet)
under its title, and no link points at the server it was printed from."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from book_site import BOOK, NOTEBOOKS, SCREENSHOTS

PDF = BOOK / "xai-tutorial.pdf"


def lesson_title(path) -> str:  # noqa: ANN001
    """The lesson's title: the first Markdown heading of its notebook, in plain words."""
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "markdown":
            match = re.search(r"^#\s+(.+)$", "".join(cell["source"]), re.M)
            if match:
                return plain(match.group(1))
    raise AssertionError(f"{path.name} has no title")


def plain(text: str) -> str:
    text = re.sub(r"[*_`]", "", text)
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def pdf():
    if not PDF.is_file():
        pytest.fail(f"no {PDF}: `make test-book` prints it (make book-pdf)")
    from pypdf import PdfReader

    return PdfReader(PDF)


def test_first_page_renders():
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm is missing: `make test-book` installs Debian's poppler-utils")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    out = SCREENSHOTS / "pdf-page-1"
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile",
                    str(PDF), str(out)], check=True, timeout=120)
    from PIL import Image

    with Image.open(f"{out}.png") as picture:
        assert picture.width > 300 and picture.height > 400, picture.size
        assert picture.convert("L").getextrema()[0] < 128, "the first page is blank"


def test_every_lesson_is_a_section(pdf):
    top = [item for item in pdf.outline if not isinstance(item, list)]
    titles = [plain(item.title) for item in top]
    starts = {plain(item.title): pdf.get_destination_page_number(item) for item in top}
    previous = -1
    for notebook in NOTEBOOKS:
        title = lesson_title(notebook)
        assert title in titles, f"no bookmark {title!r} ({notebook.name}) in {titles}"
        assert starts[title] > previous, f"{title!r} does not follow the lesson before it"
        previous = starts[title]
    for item, pages in zip(top, top[1:], strict=False):
        first, then = pdf.get_destination_page_number(item), pdf.get_destination_page_number(pages)
        assert first < then, f"{item.title!r} and {pages.title!r} share a sheet"


def test_lesson_titles_and_sections_are_in_the_text(pdf):
    text = plain(subprocess.run(["pdftotext", "-layout", str(PDF), "-"], capture_output=True,
                                text=True, check=True, timeout=300).stdout)
    for notebook in NOTEBOOKS:
        title = lesson_title(notebook)
        assert title in text, f"{title!r} is not in the PDF's text"
    outline = pdf.outline
    sections = [x for x in outline if isinstance(x, list)]
    assert len(sections) >= len(NOTEBOOKS), "the lessons have no sections in the outline"


def test_no_link_to_the_print_server(pdf):
    local = []
    for number, page in enumerate(pdf.pages):
        for annotation in page.get("/Annots") or []:
            action = annotation.get_object().get("/A") or {}
            uri = str(action.get("/URI", ""))
            if re.match(r"https?://(127\.|localhost)", uri):
                local.append(f"page {number + 1}: {uri}")
    assert not local, f"links to the server the PDF was printed from: {local[:10]}"
