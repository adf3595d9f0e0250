"""Every figure of the lessons has alt text that says what it shows (issue 21, part 3).

myst-nb, which renders the notebooks in the book (``make book``), reads a figure's alt text from
its code cell's metadata, ``{"mystnb": {"image": {"alt": "..."}}}``: one text for every picture
the cell outputs. The text lives in the lesson notebook (``notebooks/NN_*.ipynb``), so its MyST
twin, its student copy (``student/``, what Binder opens) and the book all carry the same words.
Here, without running anything:

- every cell of a lesson that shows a picture has alt text in words: not empty, not a file name
  (myst-nb's stand-in), a sentence or two (at most :data:`MOST` characters), not "image of ...",
  and no two figures of a lesson share one;
- the MyST twin and the committed student copy keep each cell's alt text;
- ``scripts/build_book.py`` stages every lesson with it, and fails, naming the notebook and the
  cell, on a figure without it (``--allow-missing-alt-text`` builds a draft anyway); after the
  build, every ``<img>`` of the pages must have alt text in words.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import re
import sys
from pathlib import Path
from types import ModuleType

import jupytext
import nbformat
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STUDENT = ROOT / "student"
MOST = 300  # characters: a screen reader reads it all, at every figure
FEWEST_WORDS = 8
NOT_A_DESCRIPTION = re.compile(r"(an? )?(image|picture|figure|graphic|plot) of\b", re.IGNORECASE)


def build_book() -> ModuleType:
    """scripts/build_book.py as a module (the scripts are not a package)."""
    if "build_book" not in sys.modules:
        sys.path.insert(0, str(ROOT / "scripts"))
        spec = importlib.util.spec_from_file_location("build_book",
                                                      ROOT / "scripts" / "build_book.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["build_book"] = module
        spec.loader.exec_module(module)
    return sys.modules["build_book"]


def ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def alt_text(cell: nbformat.NotebookNode) -> object:
    """The cell's ``mystnb.image.alt``, where myst-nb reads it (None when there is none)."""
    return build_book().cell_alt_text(cell)


def figure_cells(notebook: nbformat.NotebookNode) -> list[int]:
    return [i for i, cell in enumerate(notebook.cells) if build_book().shows_picture(cell)]


def png(size: tuple[int, int] = (4, 3)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def lesson_with_a_figure(path: Path, alt: str | None) -> Path:
    """A one-figure lesson notebook at ``path``, its figure's alt text ``alt`` (None: none)."""
    cell = nbformat.v4.new_code_cell("plot_something()", execution_count=1, outputs=[
        nbformat.v4.new_output("display_data", data={"image/png": png(),
                                                     "text/plain": "<Figure>"})])
    if alt is not None:
        cell.metadata["mystnb"] = {"image": {"alt": alt}}
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A lesson"), cell])
    nbformat.write(notebook, path)
    return path


@pytest.fixture
def staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """build_book.py's arguments to stage into ``tmp_path`` (not build/), with a stand-in
    MathJax (``make test`` installs no npm package)."""
    mathjax = tmp_path / "mathjax"
    mathjax.mkdir()
    (mathjax / build_book().MATHJAX_MAIN).write_text("// MathJax stand-in\n")
    monkeypatch.setattr(build_book(), "BUILD", tmp_path / "build")
    return ["--stage-only", "--mathjax", str(mathjax)]


# --- the lessons ---------------------------------------------------------------------------------


def test_the_lessons_have_figures() -> None:
    assert NOTEBOOKS, "no lesson notebooks found"
    assert sum(len(figure_cells(nbformat.read(p, as_version=4))) for p in NOTEBOOKS) >= 30


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_every_figure_has_alt_text_in_words(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    problems = []
    for index in figure_cells(notebook):
        alt = alt_text(notebook.cells[index])
        problem = build_book().alt_text_problem(alt)
        if problem is None:
            text = str(alt).strip()
            if len(text) > MOST:
                problem = f"{len(text)} characters (at most {MOST})"
            elif len(text.split()) < FEWEST_WORDS:
                problem = f"{text!r} is too short to say what the figure shows"
            elif NOT_A_DESCRIPTION.match(text):
                problem = f"{text[:40]!r}...: say what it shows, not that it is a picture"
        if problem:
            problems.append(f"cell {index}: {problem}")
    assert not problems, (f"{path.name}: figures without usable alt text (mystnb.image.alt in "
                          "the cell's metadata):\n" + "\n".join(problems))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_two_figures_share_alt_text(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    texts = [str(alt_text(notebook.cells[i])).strip() for i in figure_cells(notebook)]
    shared = sorted({t for t in texts if texts.count(t) > 1})
    assert not shared, f"{path.name}: one alt text for several figures: {shared}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_the_twin_keeps_the_alt_text(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    twin = jupytext.read(path.with_suffix(".md"))
    assert len(twin.cells) == len(notebook.cells), f"{path.name}: the twin has other cells"
    wrong = [i for i, (ours, theirs) in enumerate(zip(notebook.cells, twin.cells, strict=True))
             if ours.metadata.get("mystnb") != theirs.metadata.get("mystnb")]
    assert not wrong, (f"{path.with_suffix('.md').name}: cells {wrong} lack the notebook's "
                       f"mystnb metadata: run `jupytext --to md:myst {path.relative_to(ROOT)}`")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_the_student_copy_keeps_the_alt_text(path: Path) -> None:
    """The committed student copy (outputs cleared) keeps each cell's alt text, so a learner's
    own run of a figure cell is described as the lesson's is."""
    teacher = nbformat.read(path, as_version=4)
    copy = STUDENT / path.name
    assert copy.is_file(), f"no student/{path.name}"
    student = nbformat.read(copy, as_version=4)
    assert len(student.cells) == len(teacher.cells)
    lost = [i for i, (ours, theirs) in enumerate(zip(teacher.cells, student.cells, strict=True))
            if alt_text(ours) is not None and alt_text(theirs) != alt_text(ours)]
    assert not lost, (f"student/{path.name}: cells {lost} lost their alt text: run `python "
                      f"scripts/build_student.py --output student {path.relative_to(ROOT)}`")


# --- the book ------------------------------------------------------------------------------------


@pytest.mark.parametrize("alt, problem", [
    (None, "no alt text"), ("", "empty"), ("   ", "empty"), (7, "not text"),
    ("_images/3e4d9087.jpg", "file name"), ("figure.png", "file name"),
    (r"C:\pictures\cat.JPEG", "file name"),
])
def test_what_is_no_alt_text(alt: object, problem: str) -> None:
    assert problem in build_book().alt_text_problem(alt)


def test_words_are_alt_text() -> None:
    assert build_book().alt_text_problem("A bar chart of T-shirt/top, Trouser and Bag") is None


def test_the_lessons_stage_with_their_alt_text(staging: list[str], capsys) -> None:
    """What ``make book`` stages (solutions removed, widgets replaced) keeps every figure's alt
    text: the build does not stop."""
    assert build_book().main([*map(str, NOTEBOOKS), *staging]) == 0
    assert "without alt text" not in capsys.readouterr().out


def test_a_figure_without_alt_text_fails_the_build(tmp_path: Path, staging: list[str],
                                                    capsys) -> None:
    lesson = lesson_with_a_figure(tmp_path / "01_a_lesson.ipynb", alt=None)
    assert build_book().main([str(lesson), *staging]) == 1
    error = capsys.readouterr().err
    assert "1 cell shows a figure without alt text" in error
    assert "01_a_lesson.ipynb cell 1 (" in error and "plot_something()" in error
    assert "mystnb" in error and "--allow-missing-alt-text" in error


def test_a_file_name_for_alt_text_fails_the_build(tmp_path: Path, staging: list[str],
                                                   capsys) -> None:
    lesson = lesson_with_a_figure(tmp_path / "01_a_lesson.ipynb", alt="figure.png")
    assert build_book().main([str(lesson), *staging]) == 1
    assert "is a file name" in capsys.readouterr().err


def test_a_draft_builds_without_alt_text(tmp_path: Path, staging: list[str], capsys) -> None:
    lesson = lesson_with_a_figure(tmp_path / "01_a_lesson.ipynb", alt=None)
    assert build_book().main([str(lesson), *staging, "--allow-missing-alt-text"]) == 0
    assert "note: 1 cell shows a figure without alt text" in capsys.readouterr().out


def test_a_described_figure_builds(tmp_path: Path, staging: list[str], capsys) -> None:
    lesson = lesson_with_a_figure(tmp_path / "01_a_lesson.ipynb",
                                  alt="A white rectangle, four pixels by three")
    assert build_book().main([str(lesson), *staging]) == 0
    assert "without alt text" not in capsys.readouterr().out


def test_built_pages_need_alt_text_on_every_img(tmp_path: Path) -> None:
    (tmp_path / "_static").mkdir()
    (tmp_path / "lesson.html").write_text(
        '<img src="_images/a.png" alt="A bar chart of five classes">'
        '<img src="_images/b.png" alt="_images/b.png">'
        '<img src="_images/c.png">'
        '<img src="_images/d.png" alt=" ">', encoding="utf-8")
    (tmp_path / "_static" / "page.html").write_text('<img src="x.svg" alt="x.svg">')
    found = build_book().images_without_alt(tmp_path)
    assert [line.split(": ")[0] for line in found] == [str(Path("_static/page.html"))] + [
        "lesson.html"] * 3
    assert not any("a.png" in line for line in found)
