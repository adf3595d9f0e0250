"""Build the series as a book (``make book``): a static HTML site in ``build/book/``, offline.

The book is Jupyter Book 1 (Sphinx, myst-nb, sphinx-book-theme), built from the committed,
executed lesson notebooks (``notebooks/NN_*.ipynb``) without running them again. This script

1. stages the book's source in ``build/book-src/``: the pages of ``book/`` (its ``_config.yml``,
   ``_toc.yml``, landing page and guides), with the README sections they name copied in
   (``<!-- book: readme "Heading" -->``), and a copy of each lesson notebook in which

   - each exercise's solution (the lines between ``### BEGIN SOLUTION`` and ``### END
     SOLUTION``) becomes the student stub and hidden tests go, by ``scripts/build_student.py``'s
     own nbgrader preprocessors; the stub's and its check cell's outputs go too (they would show
     the answer's results). ``--instructor`` keeps everything (the instructors' edition, built
     into ``build/book-instructor/``);
   - a widget's output (its ``VBox(children=...`` text: ``make notebooks`` keeps no widget state)
     becomes a line saying the widget is interactive in JupyterLab and a picture of the widget as
     it opens, from ``book/widgets/`` (drawn by ``--draw-widgets``, below), with its alt text. A
     widget cell whose picture is missing, or was drawn from another version of the cell, gets
     the line alone;

2. copies MathJax (the npm package ``mathjax``, installed into ``book/node_modules`` by
   ``make book``) into the staged source (``book/_ext/book_offline.py`` serves it as
   ``_static/mathjax``), so no page loads anything from another host;

3. runs ``jupyter-book build`` with Sphinx warnings as errors (a broken cross-reference, a
   missing file, bad cell metadata fail the build) into ``build/book-work/``;

4. checks the built pages there: no ``<script>``, ``<link>``, ``<img>``, ``<iframe>``, ... and no
   CSS ``url(...)`` may point to another host (links to papers in the text are fine: nothing
   loads them), a page has one ``<h1>``, and every ``<img>`` has alt text in words (not empty,
   not a file name). Only then does the site replace ``build/book/`` (a failed build leaves the
   book before it in place). ``--output DIR`` replaces only a book built before (or an empty
   folder), never the repository or a folder holding it.

A lesson that was never run (a code cell with neither outputs nor an execution count) fails at
staging, naming the notebook and the cell: ``make notebooks NB=...`` runs it.

Every figure needs alt text that says what it shows. myst-nb reads it from the code cell's
metadata, ``{"mystnb": {"image": {"alt": "..."}}}`` (one text for every picture the cell
outputs), so JupyterLab and the book share it; in a lesson's MyST twin it is the cell's option
block (``mystnb: image: alt: ...`` between ``---`` lines under ```` ```{code-cell} ````). A cell
that shows a picture without it (or with an empty one, or a file name, which is what myst-nb
writes in its place) fails the build before Sphinx runs, naming the notebook and the cell;
``--allow-missing-alt-text`` builds a draft anyway and lists them as notes.

``--draw-widgets`` (``make book-widgets``) redraws ``book/widgets/``: for each lesson's widget
cell, it builds the widget as the lesson does (the notebook's parameters cell, the few lines of
:data:`WIDGETS` that make the cell's variables, then the cell itself), renders its default state
with the ``@jupyter-widgets/html-manager`` npm package (its bundle alone, from ``npm pack``) in
Debian's headless Chromium (through Playwright, no downloaded browser), and saves a picture, its
alt text (made from the widget's controls and their values) and the hash of the cell it was
drawn from in ``book/widgets/widgets.json``. Run it after changing a widget; the pictures are
committed, so ``make book`` needs neither Chromium nor a model.

Usage::

    python scripts/build_book.py [--instructor] [--allow-missing-alt-text] [--stage-only]
    python scripts/build_book.py --draw-widgets
"""

from __future__ import annotations

import argparse
import ast
import base64
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import yaml
from nbconvert.exporters import NotebookExporter

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_student  # noqa: E402 (a sibling script, not a package)
from strip_notebook import JPEG_AT_MOST, THIS_MACHINE, WIDGET_VIEW, to_jpeg  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BUILD = ROOT / "build"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NODE_MODULES = BOOK / "node_modules"
MATHJAX = NODE_MODULES / "mathjax" / "es5"
# the npm package @jupyter-widgets/html-manager, unpacked there by make book-widgets (npm pack)
HTML_MANAGER = BUILD / "book-npm" / "package" / "dist"
WIDGET_PICTURES = BOOK / "widgets"
WIDGET_INDEX = WIDGET_PICTURES / "widgets.json"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

# MathJax's combined file that the pages load (Sphinx's default), which loads its fonts,
# extensions, menu and accessibility parts from the folders beside it; the other combined files
# at the top of es5/ are left out (latest.js would look for a newer MathJax on CDNs).
MATHJAX_MAIN = "tex-mml-chtml.js"

WIDGET_NOTE = (
    "**Interactive in JupyterLab.** This cell makes a widget: below is a picture of it as it "
    "opens. Run the lesson (the launch button at the top of the page, or `make lab`) to use it."
)
WIDGET_NOTE_ALONE = (
    "**Interactive in JupyterLab.** This cell makes a widget, which the book cannot show. Run "
    "the lesson (the launch button at the top of the page, or `make lab`) to use it."
)

# How --draw-widgets makes the variables a lesson's widget cell uses, after running the
# notebook's parameters cell (the cell itself then runs as it is in the notebook). A widget cell
# of a lesson not named here keeps the line alone.
WIDGETS = {
    "01_pretrained_classifier": {
        "setup": "from xai_tutorial import load_classifier, try_your_photo\n"
                 "classifier = load_classifier(MODEL)",
    },
    "02_class_activation_maps": {
        "setup": "from xai_tutorial import cam_explorer, load_classifier, load_image\n"
                 "classifier = load_classifier(MODEL)\nscene = load_image(SCENE)",
        "picture": "the map of that class blended over the lesson's scene (with the bundled "
                   "photos, a cat beside an espresso cup)",
    },
    "03_neural_backed_decision_trees": {
        "setup": "from xai_tutorial.decision_trees import load_nbdt\n"
                 "fashion_nbdt = load_nbdt('fashion')",
    },
}

# What is loaded without a click: these elements' src/href (and CSS url(...)) must stay local.
LOADING_TAGS = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src",
                "video": "src", "audio": "src", "embed": "src", "object": "data", "track": "src",
                "input": "src", "frame": "src"}


class BookError(Exception):
    """A problem that stops the build, said in one line."""


# -- the repository, from README.md's Binder badge ------------------------------------------------

def repository(readme: str) -> dict[str, str]:
    """The GitHub repository, branch and Binder link of README.md's Binder badge."""
    match = re.search(r"\((https://mybinder\.org/v2/gh/([^/]+)/([^/]+)/([^?)\s]+)[^)\s]*)\)",
                      readme)
    if match is None:
        raise BookError("README.md has no Binder link (https://mybinder.org/v2/gh/ORG/REPO/...)")
    binder, org, name, branch = match.groups()
    return {"url": f"https://github.com/{org}/{name}", "branch": branch, "binder": binder}


# -- README sections ------------------------------------------------------------------------------

def readme_sections(readme: str) -> dict[str, tuple[int, list[str]]]:
    """README.md's sections by heading text: (level, lines after the heading, up to the next
    heading of the same or a higher level). Lines inside fenced code blocks are never headings."""
    lines = readme.splitlines()
    headings: list[tuple[int, int, str]] = []  # (line number, level, text)
    for number, (line, code) in enumerate(in_code(lines)):
        heading = None if code else re.match(r"(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if heading:
            headings.append((number, len(heading.group(1)), heading.group(2)))
    sections = {}
    for index, (number, level, text) in enumerate(headings):
        end = next((n for n, lv, _ in headings[index + 1:] if lv <= level), len(lines))
        sections[text] = (level, lines[number + 1:end])
    return sections


def in_code(lines: list[str]) -> Iterator[tuple[str, bool]]:
    """``(line, code)`` for each line: ``code`` is true for a code fence's own lines (``` or ~~~)
    and every line between an opening fence and the fence that closes it."""
    fence = None
    for line in lines:
        stripped = line.lstrip()
        marker = re.match(r"(`{3,}|~{3,})", stripped)
        if marker:
            if fence is None:
                fence = marker.group(1)[0] * len(marker.group(1))
            elif stripped.startswith(fence) and not stripped[len(fence):].strip():
                fence = None
            yield line, True
        else:
            yield line, fence is not None


def shift_headings(lines: list[str], offset: int) -> list[str]:
    """``lines`` with every Markdown heading (outside code fences) moved ``offset`` levels."""
    out = []
    for line, code in in_code(lines):
        if not code:
            heading = re.match(r"(#{1,6})(\s.*)", line)
            if heading:
                level = len(heading.group(1)) + offset
                if not 1 <= level <= 6:
                    raise BookError(f"heading {line.strip()!r} would go to level {level}")
                line = "#" * level + heading.group(2)
        out.append(line)
    return out


# ``<!-- book: learners -->TEXT<!-- book: instructors -->TEXT<!-- book: end -->``: the first
# text in the learners' edition, the second in the instructors'.
EDITION_TEXT = re.compile(r"<!--\s*book:\s*learners\s*-->(.*?)<!--\s*book:\s*instructors\s*-->"
                          r"(.*?)<!--\s*book:\s*end\s*-->", re.DOTALL)


def edition_text(page: str, instructor: bool) -> str:
    """``page`` with each learners/instructors pair of texts reduced to this edition's."""
    return EDITION_TEXT.sub(lambda m: m.group(2 if instructor else 1), page)


PLACEHOLDER = re.compile(r"<!--\s*book:\s*(readme|readme-body)\s+\"([^\"]+)\"\s*-->")


def expand_readme(page: str, sections: dict[str, tuple[int, list[str]]], name: str,
                  used: set[str]) -> str:
    """``page`` with each ``<!-- book: readme "Heading" -->`` replaced by README's section
    (its heading at level 2) and each ``readme-body`` by the section's text without its heading
    (its subsections from level 2)."""

    def section(match: re.Match) -> str:
        kind, heading = match.groups()
        if heading not in sections:
            raise BookError(f"book/{name}: README.md has no section {heading!r}")
        used.add(heading)
        level, lines = sections[heading]
        if kind == "readme":
            return "\n".join(shift_headings([f"{'#' * level} {heading}", *lines], 2 - level))
        return "\n".join(shift_headings(lines, 1 - level))

    return PLACEHOLDER.sub(section, page)


def lesson_lines(readme: str, notebooks: list[Path]) -> str:
    """One Markdown list item per lesson: a link to its page and README's line on it."""
    described = dict(re.findall(r"^\|\s*`(\d\d_\w+)`\s*\|\s*(.*?)\s*\|\s*$", readme, re.M))
    items = []
    for path in notebooks:
        about = described.get(path.stem)
        items.append(f"- {{doc}}`{path.stem}`" + (f": {about}" if about else ""))
    return "\n".join(items)


# -- the notebooks --------------------------------------------------------------------------------

def learner_copy(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``notebook`` as a learner gets it, outputs kept: ``make student``'s preprocessors but
    ``ClearOutput`` (solutions become stubs, hidden tests go); a cell they changed and every
    exercise check cell (``ex.NAME.check()``) lose their outputs, which come from the answer."""
    config = build_student.exporter().config
    config.Exporter.preprocessors = [
        p for p in build_student.PREPROCESSORS if "ClearOutput" not in getattr(p, "__name__", p)]
    try:
        body, _ = NotebookExporter(config=config).from_notebook_node(notebook)
    except RuntimeError as exc:  # nbgrader's complaint about broken markers
        raise BookError(str(exc)) from exc
    copy = nbformat.reads(body, as_version=4)
    for before, cell in zip(notebook.cells, copy.cells, strict=True):
        if cell.cell_type != "code":
            continue
        if cell.source != before.source or re.search(r"^\w+\.\w+\.check\(", cell.source, re.M):
            cell.outputs = []
    return copy


def is_widget_output(output: nbformat.NotebookNode) -> bool:
    """A widget's output: its view, or the ``text/plain`` repr ``make notebooks`` keeps."""
    data = output.get("data") or {}
    if WIDGET_VIEW in data:
        return True
    text = data.get("text/plain", "")
    text = "".join(text) if isinstance(text, list) else text
    return bool(re.match(r"[A-Z]\w*\(children=\(", text))


def cell_hash(cell: nbformat.NotebookNode) -> str:
    return hashlib.sha256(cell.source.encode("utf-8")).hexdigest()


def replace_widgets(notebook: nbformat.NotebookNode, stem: str, pictures: dict,
                    report: list[str]) -> None:
    """Replace each widget output by the interactive-in-JupyterLab line and, when
    ``book/widgets/`` has one drawn from this very cell, the picture and its alt text."""
    for cell in notebook.cells:
        if cell.cell_type != "code" or not any(map(is_widget_output, cell.outputs)):
            continue
        entry = pictures.get(stem)
        picture = None
        if entry and entry.get("cell") == cell_hash(cell):
            path = WIDGET_PICTURES / entry["file"]
            if path.is_file():
                picture = path
        if picture is None:
            report.append(f"{stem}: no picture of its widget drawn from this cell "
                          "(make book-widgets): the book shows a line alone")
        outputs = []
        for output in cell.outputs:
            if not is_widget_output(output):
                outputs.append(output)
                continue
            note = WIDGET_NOTE if picture else WIDGET_NOTE_ALONE
            outputs.append(nbformat.v4.new_output(
                "display_data", data={"text/markdown": note, "text/plain": note}))
            if picture:
                mime = "image/jpeg" if picture.suffix == ".jpg" else "image/png"
                outputs.append(nbformat.v4.new_output("display_data", data={
                    mime: base64.b64encode(picture.read_bytes()).decode("ascii"),
                    "text/plain": "<the widget as it opens>"}))
                mystnb = cell.metadata.setdefault("mystnb", {})
                mystnb.setdefault("image", {}).setdefault("alt", entry["alt"])
        cell.outputs = outputs


IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
# A file name or path in place of words (myst-nb's alt text for a picture that has none is its
# path, "_images/<hash>.png").
PATH_LIKE = re.compile(r"\S*[/\\]\S*|\S+\.(png|jpe?g|gif|svg|webp|bmp|tiff?)", re.IGNORECASE)


def alt_text_problem(alt: object) -> str | None:
    """Why ``alt`` cannot be a figure's alt text (``None`` when it can): missing, not text,
    empty, or a file name or path instead of words."""
    if alt is None:
        return "no alt text"
    if not isinstance(alt, str):
        return f"alt text is not text (a {type(alt).__name__})"
    if not alt.strip():
        return "empty alt text"
    if PATH_LIKE.fullmatch(alt.strip()):
        return f"alt text {alt.strip()!r} is a file name, not words"
    return None


def shows_picture(cell: nbformat.NotebookNode) -> bool:
    """Does this cell output a picture (which the book shows as an ``<img>``)?"""
    return cell.cell_type == "code" and any(
        set(IMAGE_TYPES) & set(output.get("data") or {}) for output in cell.outputs)


def cell_alt_text(cell: nbformat.NotebookNode) -> object:
    """The cell's ``mystnb.image.alt`` (where myst-nb reads alt text), or None."""
    mystnb = cell.metadata.get("mystnb")
    image = mystnb.get("image") if isinstance(mystnb, dict) else None
    return image.get("alt") if isinstance(image, dict) else None


def missing_alt_text(notebook: nbformat.NotebookNode) -> list[int]:
    """Indices of the code cells that show a picture without usable alt text (none, empty, or a
    file name: :func:`alt_text_problem`)."""
    return [index for index, cell in enumerate(notebook.cells)
            if shows_picture(cell) and alt_text_problem(cell_alt_text(cell))]


def describe_cell(notebook: nbformat.NotebookNode, index: int) -> str:
    """``cell 15 (id c09: plot_steps(classifier, image))``: a cell as a reader finds it."""
    cell = notebook.cells[index]
    lines = [line.strip() for line in cell.source.splitlines()]
    first = next((line for line in lines if line and not line.startswith("#")), "")
    first = first if len(first) <= 60 else first[:57] + "..."
    name = f"id {cell.id}: " if cell.get("id") else ""
    return f"cell {index} ({name}{first})"


def alt_text_report(notebook: nbformat.NotebookNode, name: str) -> list[str]:
    """One line per cell of ``notebook`` that shows a picture without usable alt text."""
    return [f"{name} {describe_cell(notebook, index)}: "
            f"{alt_text_problem(cell_alt_text(notebook.cells[index]))}"
            for index in missing_alt_text(notebook)]


# -- staging --------------------------------------------------------------------------------------

def copy_mathjax(folder: Path, mathjax: Path = MATHJAX) -> None:
    """MathJax's browser files into ``folder/mathjax`` (the combined files not used left out)."""
    if not (mathjax / MATHJAX_MAIN).is_file():
        raise BookError(f"no MathJax in {mathjax}: `make book` installs it "
                        "(npm ci --prefix book), or pass --mathjax DIR (MathJax 3's es5 folder)")

    def unused(directory: str, names: list[str]) -> list[str]:
        if Path(directory) != mathjax:
            return [n for n in names if n.endswith(".map")]
        return [n for n in names if n.endswith((".js", ".map")) and n != MATHJAX_MAIN]

    shutil.copytree(mathjax, folder / "mathjax", ignore=unused)


def stage(source: Path, *, instructor: bool, notebooks: list[Path], mathjax: Path,
          report: list[str]) -> dict:
    """Write the book's source into ``source``; return what the build needs to know."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    repo = repository(readme)
    sections = readme_sections(readme)
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(BOOK, source, ignore=shutil.ignore_patterns(
        "node_modules", "widgets", "_build", "package*.json", ".*", "__pycache__"))

    config_path = source / "_config.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["repository"].update(url=repo["url"], branch=repo["branch"],
                                path_to_book="notebooks" if instructor else "student")
    if instructor:
        config["title"] += " (instructors' edition)"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
                           encoding="utf-8")

    used: set[str] = set()
    edition = ("```{note}\nThis is the **instructors' edition**: the exercises show their "
               "answers. The learners' edition (`make book`) leaves them out.\n```"
               if instructor else "")
    for page in sorted(source.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        text = edition_text(text, instructor)
        text = expand_readme(text, sections, page.name, used)
        text = text.replace("<!-- book: lessons -->", lesson_lines(readme, notebooks))
        text = text.replace("<!-- book: edition -->", edition)
        text = text.replace("%BINDER_URL%", repo["binder"])
        page.write_text(text, encoding="utf-8")
    left_out = [h for h, (level, _) in sections.items() if level == 2 and h not in used]
    if left_out:
        report.append("README sections in no page of book/: " + ", ".join(left_out))

    pictures = json.loads(WIDGET_INDEX.read_text()) if WIDGET_INDEX.is_file() else {}
    alt_missing: list[str] = []
    not_run = [line for path in notebooks
               for line in unexecuted(nbformat.read(path, as_version=4), path)]
    if not_run:
        raise BookError("lessons not executed (the book shows the committed outputs, it runs "
                        "nothing):\n  " + "\n  ".join(not_run))
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        if not instructor:
            notebook = learner_copy(notebook)
        replace_widgets(notebook, path.stem, pictures, report)
        # (the staged copy keeps every cell, so its indices and ids are the notebook's)
        alt_missing += alt_text_report(notebook, shown_path(path))
        nbformat.write(notebook, source / path.name)

    copy_mathjax(source / "_mathjax", mathjax)  # (served as _static/mathjax: book/_ext)
    return {"alt_missing": alt_missing}


def unexecuted(notebook: nbformat.NotebookNode, path: Path) -> list[str]:
    """What of ``notebook`` was never run: the whole notebook (no code cell has outputs or an
    execution count) or each code cell with neither. A cell with no code, or tagged
    ``this-machine`` (its outputs are not saved), need not have them."""
    cells = [(i, c) for i, c in enumerate(notebook.cells)
             if c.cell_type == "code" and c.source.strip()
             and THIS_MACHINE not in c.metadata.get("tags", [])]
    missing = [i for i, c in cells if c.get("execution_count") is None and not c.outputs]
    fix = f"run `make notebooks NB={path.name}`"
    if cells and len(missing) == len(cells):
        return [f"{shown_path(path)} was never run (no code cell has outputs or an execution "
                f"count): {fix}"]
    return [f"{shown_path(path)} {describe_cell(notebook, i)} was not run (no outputs, no "
            f"execution count): {fix}" for i in missing]


def shown_path(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (as a message names it)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


ALT_TEXT_HOWTO = (
    "Every figure needs alt text that says what it shows, in its code cell's metadata: "
    '{"mystnb": {"image": {"alt": "..."}}}. In a lesson\'s MyST twin that is the cell\'s option '
    "block (mystnb:, image:, alt: ..., nested, between --- lines under {code-cell}); "
    "`jupytext --to ipynb --update notebooks/NN_*.md` carries it into the notebook. A picture "
    "in a page of book/ takes it in Markdown: ![what it shows](file). "
    "--allow-missing-alt-text builds a draft anyway.")


def alt_text_failure(lines: list[str], what: tuple[str, str]) -> str:
    """The message for ``lines`` without alt text; ``what``: (one, several) of them, in words."""
    return (f"{len(lines)} {what[len(lines) != 1]} without alt text:\n  " + "\n  ".join(lines)
            + "\n" + ALT_TEXT_HOWTO)


# -- building and checking ------------------------------------------------------------------------

def jupyter_book(source: Path, work: Path) -> None:
    """``jupyter-book build`` of ``source`` into ``work/_build/html``, warnings as errors."""
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(source),
               "--path-output", str(work), "--builder", "html", "--warningiserror",
               "--keep-going", "--all"]
    if shutil.which(command[0]) is None:
        command[0] = "jupyter-book"
    if shutil.which(command[0]) is None:
        raise BookError("jupyter-book is not installed: `make book` installs it (pip install "
                        "-e '.[book]')")
    result = subprocess.run(command, cwd=ROOT)
    if result.returncode != 0:
        raise BookError(f"jupyter-book build failed (exit {result.returncode}): see its "
                        f"warnings above (Sphinx warnings are errors; they name the staged "
                        f"files in {os.path.relpath(source)}, where README sections are "
                        "copied in and solutions removed)")


class _Loads(HTMLParser):
    """The addresses an HTML page loads by itself (not those of links a reader follows)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._style = self._script = False

    def handle_starttag(self, tag, attrs):  # noqa: ANN001 (HTMLParser's)
        attributes = dict(attrs)
        name = LOADING_TAGS.get(tag)
        if name and attributes.get(name):
            if not (tag == "link" and set((attributes.get("rel") or "").split()) <= {
                    "canonical", "alternate", "author", "help", "license", "next", "prev",
                    "search", "index", "top", "up", "first", "last"}):
                self.urls.append(attributes[name])
        if tag == "img" and attributes.get("srcset"):
            self.urls += [part.split()[0] for part in attributes["srcset"].split(",")]
        if attributes.get("style"):
            self.urls += css_urls(attributes["style"])
        self._style = tag == "style"
        self._script = tag == "script" and not attributes.get("src")

    def handle_data(self, data):  # noqa: ANN001
        if self._style:
            self.urls += css_urls(data)
        if self._script:  # an inline script naming an address may well load it
            self.urls += re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'`]*", data)

    def handle_endtag(self, tag):  # noqa: ANN001
        if tag == "style":
            self._style = False
        if tag == "script":
            self._script = False


def css_urls(css: str) -> list[str]:
    return [m.strip("'\" ") for m in re.findall(r"url\(([^)]*)\)", css)] + re.findall(
        r"@import\s+[\"']([^\"']+)[\"']", css)


def external(url: str) -> bool:
    """Does loading ``url`` (from a page of the book) leave the site?"""
    url = html.unescape(url).strip()
    if url.startswith("//"):
        return True
    scheme = urlsplit(url).scheme.lower()
    return scheme not in ("", "data", "blob", "about") and not (
        len(scheme) == 1)  # (a Windows drive letter is no scheme)


def external_loads(site: Path) -> list[str]:
    """Each ``file: url`` in ``site`` that a browser would load from another host by itself."""
    found = []
    for path in sorted(site.rglob("*")):
        if path.suffix == ".html":
            parser = _Loads()
            parser.feed(path.read_text(encoding="utf-8", errors="replace"))
            urls = parser.urls
        elif path.suffix == ".css":
            urls = css_urls(path.read_text(encoding="utf-8", errors="replace"))
        else:
            continue
        found += [f"{path.relative_to(site)}: {url}" for url in urls if external(url)]
    return found


class _Images(HTMLParser):
    """Each ``<img>`` of a page: its ``src`` and ``alt`` (None when it has no alt attribute)."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):  # noqa: ANN001 (HTMLParser's)
        if tag == "img":
            attributes = dict(attrs)
            self.images.append((attributes.get("src") or "", attributes.get("alt")))


def images_without_alt(site: Path) -> list[str]:
    """Each ``page: src (why)`` of an ``<img>`` in ``site`` whose alt text is missing, empty or
    a file name (myst-nb writes a picture's path when its cell has no alt text)."""
    found = []
    for path in sorted(site.rglob("*.html")):
        parser = _Images()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        for src, alt in parser.images:
            problem = alt_text_problem(alt)
            if problem is None and str(alt).strip() in (src, Path(src).name):
                problem = "alt text is the picture's file"
            if problem:
                found.append(f"{path.relative_to(site)}: <img src={src!r}>: {problem}")
    return found


ARTICLE = re.compile(r"<article\b[^>]*\bclass=\"[^\"]*\bbd-article\b[^>]*>(.*?)</article>",
                     re.DOTALL | re.IGNORECASE)


def extra_titles(site: Path) -> list[str]:
    """Each ``page: N h1`` of ``site`` whose article (``article.bd-article``, not the theme's
    print-only header) has more than one ``<h1>``: a second ``# Title`` in a lesson."""
    found = []
    for path in sorted(site.rglob("*.html")):
        article = ARTICLE.search(path.read_text(encoding="utf-8", errors="replace"))
        count = len(re.findall(r"<h1\b", article.group(1), re.IGNORECASE)) if article else 0
        if count > 1:
            found.append(f"{path.relative_to(site)}: {count} h1")
    return found


# A file the build writes into the site it makes: --output replaces only a folder holding it (or
# Sphinx's .buildinfo), that is, a book built before.
SITE_MARKER = ".xai-tutorial-book"


def check_output(output: Path) -> None:
    """Refuse an ``output`` that is not safe to replace: the repository, a folder holding it, a
    file, or a folder with files that is not a book built before. Make its parent folder."""
    resolved = output.resolve()
    if resolved == ROOT or ROOT.is_relative_to(resolved):
        raise BookError(f"--output {output}: that is the repository or a folder holding it; "
                        "the build replaces its output folder")
    if resolved in {folder.resolve() for folder in (BUILD, BOOK, ROOT / "build", ROOT / "book")}:
        raise BookError(f"--output {output}: give a folder of its own (e.g. build/book)")
    if resolved.exists():
        if not resolved.is_dir():
            raise BookError(f"--output {output} is a file, not a folder")
        if any(resolved.iterdir()) and not ((resolved / SITE_MARKER).is_file()
                                            or (resolved / ".buildinfo").is_file()):
            raise BookError(f"--output {output} holds files and is no book built before (no "
                            f"{SITE_MARKER} or .buildinfo): the build would delete them; give a "
                            "new or empty folder")
    resolved.parent.mkdir(parents=True, exist_ok=True)


def check_site(site: Path, require_alt_text: bool) -> None:
    """The checks of the built pages in ``site`` (before it replaces the output)."""
    leaks = external_loads(site)
    if leaks:
        raise BookError("pages load from other hosts:\n  " + "\n  ".join(leaks))
    titles = extra_titles(site)
    if titles:
        raise BookError("pages with more than one title (h1; a lesson has one `# Title`, its "
                        "sections `##`):\n  " + "\n  ".join(titles))
    unlabelled = images_without_alt(site)
    if unlabelled:
        message = alt_text_failure(unlabelled, ("picture of the built pages is",
                                                "pictures of the built pages are"))
        if require_alt_text:
            raise BookError(message)
        print(f"note: {message}")


def replace_site(site: Path, output: Path) -> None:
    """Move the checked ``site`` to ``output``, replacing a book built there before."""
    (site / SITE_MARKER).write_text("Built by scripts/build_book.py; the next build replaces "
                                    "this folder.\n", encoding="utf-8")
    old = output.with_name(output.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if output.exists():
        output.rename(old)
    shutil.move(str(site), str(output))
    shutil.rmtree(old, ignore_errors=True)


def build(instructor: bool, *, output: Path | None, require_alt_text: bool, stage_only: bool,
          mathjax: Path, notebooks: list[Path]) -> int:
    start = time.perf_counter()
    name = "book-instructor" if instructor else "book"
    output = output or BUILD / name
    source, work = BUILD / f"{name}-src", BUILD / f"{name}-work"
    if not stage_only:
        check_output(output)
    report: list[str] = []
    staged = stage(source, instructor=instructor, notebooks=notebooks, mathjax=mathjax,
                   report=report)
    for line in report:
        print(f"note: {line}")
    missing = staged["alt_missing"]
    if missing:
        message = alt_text_failure(missing, ("cell shows a figure", "cells show a figure"))
        if require_alt_text:
            raise BookError(message)
        print(f"note: {message}")
    print(f"staged {len(notebooks)} lessons in {source} ({time.perf_counter() - start:.1f} s)")
    if stage_only:
        return 0
    shutil.rmtree(work, ignore_errors=True)
    jupyter_book(source, work)
    site = work / "_build" / "html"
    try:
        check_site(site, require_alt_text)
    except BookError as exc:
        raise BookError(f"{exc}\n(the pages stay in {os.path.relpath(site)}; "
                        f"{os.path.relpath(output)} is unchanged)") from exc
    replace_site(site, output)
    pages = len(list(output.glob("*.html")))
    print(f"built {output} ({pages} pages, {time.perf_counter() - start:.1f} s); "
          f"read it with: python -m http.server -d {os.path.relpath(output)}")
    return 0


# -- drawing the widgets --------------------------------------------------------------------------

def run_cell(source: str, namespace: dict) -> object:
    """Run a cell's code in ``namespace``; return its last expression's value (or None)."""
    source = "\n".join(line for line in source.splitlines()
                       if not line.lstrip().startswith(("%", "!")))  # no IPython magics here
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<cell>", "exec"), namespace)  # noqa: S102 (the lesson's own code)
    if last is None:
        return None
    return eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)  # noqa: S307


def describe(widget, picture: str | None = None) -> list[str]:  # noqa: ANN001 (an ipywidget)
    """What a reader of the widget's picture sees, control by control, in words."""
    import ipywidgets as w

    label = (getattr(widget, "description", "") or "").rstrip(": ")
    if isinstance(widget, w.Box):
        return [part for child in widget.children for part in describe(child, picture)]
    if isinstance(widget, w.FileUpload):
        return [f"a button '{label}'"]
    if isinstance(widget, w.Button):
        return [f"a button '{label}'"]
    if isinstance(widget, w.Combobox):  # (a Text: first)
        return [f"a box '{label}' to type a name in"]
    if isinstance(widget, w.Text):
        return [f"a text box '{label}'" + (f" ({widget.placeholder})" if widget.placeholder
                                           and not label else "")]
    if isinstance(widget, w.ToggleButtons):
        return [f"buttons '{label}' ({', '.join(map(str, widget.options))}; "
                f"{widget.value} chosen)"]
    if isinstance(widget, w.Dropdown):
        return [f"a menu '{label}' showing {widget.label}"]
    if isinstance(widget, (w.FloatSlider, w.IntSlider)):
        return [f"a slider '{label}' at {widget.value:g}"]
    if isinstance(widget, w.HTML):
        text = re.sub(r"<[^>]+>", "", widget.value).strip()
        return [f"the line '{html.unescape(text)}'"] if text else []
    if isinstance(widget, w.Image):
        return [f"a picture: {picture}"] if widget.value and picture else (
            ["a picture"] if widget.value else [])
    if isinstance(widget, w.Output):
        return ["a picture"] if widget.outputs else []
    return [type(widget).__name__]


def embed_page(widget, html_manager: Path) -> str:  # noqa: ANN001
    """A page that shows ``widget``'s state with the html-manager (no kernel, no network)."""
    from ipywidgets.embed import embed_data

    data = embed_data(views=[widget])
    state = json.dumps(data["manager_state"]).replace("</", "<\\/")
    view = json.dumps(data["view_specs"][0]).replace("</", "<\\/")
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8">'
            f'<script src="{(html_manager / "embed.js").as_uri()}"></script>'
            f'<script type="application/vnd.jupyter.widget-state+json">{state}</script>'
            f'<style>body {{ font-family: sans-serif; font-size: 13px; margin: 0; }}'
            f' #view {{ width: 860px; padding: 8px; background: white; }}</style></head>'
            f'<body><div id="view"><script type="application/vnd.jupyter.widget-view+json">'
            f'{view}</script></div></body></html>')


def draw_widgets(notebooks: list[Path], html_manager: Path = HTML_MANAGER) -> int:
    """Redraw ``book/widgets/``: a picture, alt text and cell hash per lesson's widget cell."""
    if not (html_manager / "embed.js").is_file():
        raise BookError(f"no {html_manager}/embed.js: `make book-widgets` unpacks it "
                        "(npm pack @jupyter-widgets/html-manager)")
    if not Path(CHROMIUM).is_file():
        raise BookError(f"{CHROMIUM} is missing: install Debian's chromium (make book-widgets "
                        "does as root)")
    from playwright.sync_api import sync_playwright

    WIDGET_PICTURES.mkdir(exist_ok=True)
    index = json.loads(WIDGET_INDEX.read_text()) if WIDGET_INDEX.is_file() else {}
    pages = BUILD / "book-widgets"
    pages.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            for path in notebooks:
                notebook = nbformat.read(path, as_version=4)
                cells = [c for c in notebook.cells
                         if c.cell_type == "code" and any(map(is_widget_output, c.outputs))]
                if not cells:
                    continue
                if path.stem not in WIDGETS or len(cells) > 1:
                    print(f"{path.name}: {len(cells)} widget cells; no recipe in WIDGETS for "
                          "it (or more than one cell): not drawn")
                    continue
                start = time.perf_counter()
                recipe, cell = WIDGETS[path.stem], cells[0]
                namespace: dict = {}
                for parameters in notebook.cells:
                    if "parameters" in parameters.metadata.get("tags", []):
                        run_cell(parameters.source, namespace)
                run_cell(recipe["setup"], namespace)
                widget = run_cell(cell.source, namespace)
                page = pages / f"{path.stem}.html"
                page.write_text(embed_page(widget, html_manager), encoding="utf-8")
                tab = browser.new_page(viewport={"width": 900, "height": 700})
                outside: list[str] = []
                tab.on("request", lambda r, o=outside: o.append(r.url) if external(r.url)
                       and not r.url.startswith("file:") else None)
                tab.goto(page.as_uri())
                tab.wait_for_selector("#view .jupyter-widgets", timeout=30_000)
                tab.wait_for_load_state("networkidle")
                tab.wait_for_timeout(300)  # fonts and pictures settle
                png = tab.locator("#view").screenshot()
                tab.close()
                if outside:
                    raise BookError(f"{path.name}: drawing the widget asked for {outside}")
                jpeg = to_jpeg(png)
                data, suffix = (jpeg, ".jpg") if len(jpeg) <= JPEG_AT_MOST * len(png) else (
                    png, ".png")
                for old in WIDGET_PICTURES.glob(f"{path.stem}.*"):
                    if old.suffix in (".png", ".jpg"):
                        old.unlink()
                (WIDGET_PICTURES / f"{path.stem}{suffix}").write_bytes(data)
                parts = list(dict.fromkeys(describe(widget, recipe.get("picture"))))
                index[path.stem] = {
                    "file": f"{path.stem}{suffix}",
                    "cell": cell_hash(cell),
                    "alt": "The widget as it opens in JupyterLab: " + "; ".join(parts) + ".",
                }
                print(f"drew {path.stem}{suffix} ({len(data) // 1024} KB, "
                      f"{time.perf_counter() - start:.1f} s)")
        finally:
            browser.close()
    WIDGET_INDEX.write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n",
                            encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, metavar="NOTEBOOK.ipynb",
                        help="the lessons (default notebooks/NN_*.ipynb)")
    parser.add_argument("--instructor", action="store_true",
                        help="keep the exercises' answers (into build/book-instructor)")
    parser.add_argument("--output", type=Path, help="where the HTML goes (default build/book)")
    alt_text = parser.add_mutually_exclusive_group()
    alt_text.add_argument("--require-alt-text", dest="require_alt_text", action="store_true",
                          default=True, help="fail when a figure has no alt text in its cell's "
                          "metadata (mystnb.image.alt), or a page an <img> without alt text "
                          "(the default)")
    alt_text.add_argument("--allow-missing-alt-text", dest="require_alt_text",
                          action="store_false",
                          help="build a draft anyway, listing figures without alt text as notes")
    parser.add_argument("--stage-only", action="store_true",
                        help="only write the book's source (build/book-src), do not build")
    parser.add_argument("--mathjax", type=Path, default=MATHJAX,
                        help="MathJax 3's es5 folder (default book/node_modules/mathjax/es5)")
    parser.add_argument("--draw-widgets", action="store_true",
                        help="redraw book/widgets/ (needs Chromium), then stop")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or NOTEBOOKS
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        print(f"error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 1
    try:
        if args.draw_widgets:
            return draw_widgets(notebooks)
        return build(args.instructor, output=args.output, require_alt_text=args.require_alt_text,
                     stage_only=args.stage_only, mathjax=args.mathjax, notebooks=notebooks)
    except (BookError, OSError, nbformat.ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
