"""``scripts/build_book.py`` (``make book``) keeps the book before it when a build fails, replaces
only a book built before, refuses lessons that were never run, and one title per page (issue 21).

Fast: Jupyter Book is not run; a stand-in writes a tiny site into the work folder (the staging
into a temporary folder is real).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import test_alt_text
from test_alt_text import NOTEBOOKS, ROOT, build_book, ids, lesson_with_a_figure

staging = test_alt_text.staging  # (the fixture: stage into a temporary folder)

GOOD_PAGE = ('<html><body><div id="jb-print-docs-body" class="onlyprint"><h1>A lesson</h1></div>'
             '<article class="bd-article"><section><h1>A lesson</h1><h2>Part</h2>'
             '<img src="_images/a.png" alt="A white rectangle, four pixels by three">'
             "</section></article></body></html>")
REMOTE_PAGE = GOOD_PAGE.replace("_images/a.png", "https://example.com/x.png")
TWO_TITLES = GOOD_PAGE.replace("<h2>Part</h2>", "<h1>Another</h1>")


@pytest.fixture
def building(staging: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """build_book.py's arguments to build into ``tmp_path`` with a stand-in for jupyter-book
    that writes ``tmp_path / "page.html"``'s text as the site's one page."""
    (tmp_path / "page.html").write_text(GOOD_PAGE, encoding="utf-8")

    def fake_jupyter_book(source: Path, work: Path) -> None:
        site = work / "_build" / "html"
        site.mkdir(parents=True)
        (site / ".buildinfo").write_text("# Sphinx build info\n")
        (site / "01_a_lesson.html").write_text((tmp_path / "page.html").read_text())

    monkeypatch.setattr(build_book(), "jupyter_book", fake_jupyter_book)
    return [a for a in staging if a != "--stage-only"]


@pytest.fixture
def lesson(tmp_path: Path) -> Path:
    return lesson_with_a_figure(tmp_path / "01_a_lesson.ipynb",
                                alt="A white rectangle, four pixels by three")


def old_book(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / ".buildinfo").write_text("# Sphinx build info\n")
    (folder / "old.html").write_text(GOOD_PAGE)
    return folder


# --- 1. a failed check keeps the book before it --------------------------------------------------


def test_a_build_replaces_the_book_before_it(tmp_path: Path, building: list[str],
                                             lesson: Path) -> None:
    output = old_book(tmp_path / "site")
    assert build_book().main([str(lesson), *building, "--output", str(output)]) == 0
    assert (output / "01_a_lesson.html").is_file() and not (output / "old.html").exists()
    assert (output / build_book().SITE_MARKER).is_file()


@pytest.mark.parametrize("page, error", [(REMOTE_PAGE, "pages load from other hosts"),
                                         (TWO_TITLES, "more than one title")])
def test_a_failed_check_keeps_the_book_before_it(tmp_path: Path, building: list[str],
                                                 lesson: Path, page: str, error: str,
                                                 capsys) -> None:
    (tmp_path / "page.html").write_text(page)
    output = old_book(tmp_path / "site")
    assert build_book().main([str(lesson), *building, "--output", str(output)]) == 1
    message = capsys.readouterr().err
    assert error in message and "01_a_lesson.html" in message and "unchanged" in message
    assert (output / "old.html").is_file() and not (output / "01_a_lesson.html").exists()


def test_a_failed_check_leaves_no_new_site(tmp_path: Path, building: list[str],
                                           lesson: Path) -> None:
    (tmp_path / "page.html").write_text(REMOTE_PAGE)
    output = tmp_path / "site"
    assert build_book().main([str(lesson), *building, "--output", str(output)]) == 1
    assert not output.exists()


# --- 2. --output replaces only a book ------------------------------------------------------------


def test_output_keeps_a_folder_that_is_no_book(tmp_path: Path, building: list[str],
                                               lesson: Path, capsys) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "KEEP_ME.txt").write_text("mine")
    assert build_book().main([str(lesson), *building, "--output", str(folder)]) == 1
    assert "no book built before" in capsys.readouterr().err
    assert (folder / "KEEP_ME.txt").read_text() == "mine"


@pytest.mark.parametrize("where", [ROOT, ROOT.parent, ROOT / "build", ROOT / "README.md"],
                         ids=["repository", "its parent", "build", "a file"])
def test_output_refuses_the_repository(where: Path, building: list[str], lesson: Path,
                                       capsys) -> None:
    assert build_book().main([str(lesson), *building, "--output", str(where)]) == 1
    assert "--output" in capsys.readouterr().err
    assert (ROOT / "README.md").is_file() and (ROOT / "scripts" / "build_book.py").is_file()


def test_output_into_a_missing_parent(tmp_path: Path, building: list[str], lesson: Path) -> None:
    output = tmp_path / "a" / "b" / "site"
    assert build_book().main([str(lesson), *building, "--output", str(output)]) == 0
    assert (output / "01_a_lesson.html").is_file()


def test_output_may_be_an_empty_folder(tmp_path: Path, building: list[str], lesson: Path) -> None:
    output = tmp_path / "empty"
    output.mkdir()
    assert build_book().main([str(lesson), *building, "--output", str(output)]) == 0
    assert (output / "01_a_lesson.html").is_file()


# --- 3. a lesson never run -----------------------------------------------------------------------


def unrun_lesson(path: Path, *, ran_first: bool) -> Path:
    cells = [nbformat.v4.new_markdown_cell("# A lesson"),
             nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("print(x)"),
             nbformat.v4.new_code_cell("")]
    if ran_first:
        cells[1].execution_count = 1  # an assignment: no output, but it ran
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def test_a_lesson_never_run_fails(tmp_path: Path, staging: list[str], capsys) -> None:
    lesson = unrun_lesson(tmp_path / "01_a_lesson.ipynb", ran_first=False)
    assert build_book().main([str(lesson), *staging]) == 1
    error = capsys.readouterr().err
    assert "01_a_lesson.ipynb was never run" in error
    assert "make notebooks NB=01_a_lesson.ipynb" in error


def test_a_cell_not_run_fails(tmp_path: Path, staging: list[str], capsys) -> None:
    lesson = unrun_lesson(tmp_path / "01_a_lesson.ipynb", ran_first=True)
    assert build_book().main([str(lesson), *staging]) == 1
    error = capsys.readouterr().err
    assert "01_a_lesson.ipynb cell 2 (" in error and "print(x)" in error
    assert "cell 1 " not in error and "cell 3 " not in error  # (ran; empty)
    assert "make notebooks NB=01_a_lesson.ipynb" in error


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_the_lessons_were_run(path: Path) -> None:
    assert build_book().unexecuted(nbformat.read(path, as_version=4), path) == []


# --- 4. the edition's own sentences --------------------------------------------------------------


@pytest.mark.parametrize("instructor", [False, True], ids=["learners", "instructors"])
def test_pages_speak_of_their_edition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      instructor: bool) -> None:
    mathjax = tmp_path / "mathjax"
    mathjax.mkdir()
    (mathjax / build_book().MATHJAX_MAIN).write_text("// MathJax stand-in\n")
    source = tmp_path / "src"
    build_book().stage(source, instructor=instructor, notebooks=NOTEBOOKS[:1], mathjax=mathjax,
                       report=[])
    text = (source / "index.md").read_text() + (source / "instructors.md").read_text()
    assert "<!-- book: learners" not in text and "<!-- book: end" not in text
    assert ("left for you to write" in text) is not instructor
    assert ("are the learners'\nedition" in text) is not instructor
    assert ("are\nthe instructors' edition" in text) is instructor


# --- 5. one title per page -----------------------------------------------------------------------


def test_one_title_per_page(tmp_path: Path) -> None:
    (tmp_path / "good.html").write_text(GOOD_PAGE)  # (the print-only header's h1 is not counted)
    (tmp_path / "bad.html").write_text(TWO_TITLES)
    assert build_book().extra_titles(tmp_path) == ["bad.html: 2 h1"]
