"""The lessons a grader knows: which exercises each has, how to tell a notebook's lesson, the
instructor's parameters and hidden tests, the pristine objects the checkers compare against, and
the submission notebook made ready to run in the box.

Nothing here executes a submission: :func:`lesson_of` and :func:`prepare` only read its cells
(a submission is data until the box runs it). The teacher notebook is trusted: its parameters
cell is executed (:func:`parameters`), and its hidden tests run in the grader's process
(:func:`run_hidden`) on answers that came out of the box as data.

A lesson is recognised by what its cells do (``from xai_tutorial import X_exercises as ex`` and
the ``ex.<key>.check()`` cells), never by the file's name: students rename files.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
from nbformat import NotebookNode

from ..exercises import Exercise

#: The repository's teacher notebooks (the default source of :func:`teacher`).
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
#: The tag of a cell the grader adds (the exporting cell after each check cell).
GRADER_TAG = "xai-grader"
PARAMETERS_TAG = "parameters"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"

#: A check cell: ``ex.<key>.check()`` at the start of a line (the key is the exercise's name).
CHECK = re.compile(r"^[ \t]*ex\.(\w+)\.check\(\s*\)", re.MULTILINE)
#: The import of a lesson's exercises as ``ex``, in either spelling.
IMPORT = re.compile(r"^[ \t]*(?:from\s+xai_tutorial\s+import\s+(\w+_exercises)\s+as\s+ex\b"
                    r"|import\s+xai_tutorial\.(\w+_exercises)\s+as\s+ex\b)", re.MULTILINE)
CELL_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
HIDDEN = re.compile(rf"^[ \t]*{re.escape(BEGIN_HIDDEN)}[^\n]*\n(.*?)^[ \t]*"
                    rf"{re.escape(END_HIDDEN)}", re.MULTILINE | re.DOTALL)

#: Lesson 03's exercise inputs, literals of its cells after the parameters (tested against them).
LESSON_03_LITERALS: dict[str, str] = {
    "exercise_image": "../assets/fashion/9-ankle-boot.png",
    "misread_image": "../assets/fashion/hard-soft-disagree.png",
    "misread_truth": "Shirt",
}


@dataclass(frozen=True)
class Lesson:
    """A graded lesson.

    Attributes:
        number: ``"01"``.
        notebook: the teacher notebook's file name, ``"01_pretrained_classifier.ipynb"``.
        module: the exercises module the notebook imports as ``ex``.
        keys: the exercises' names, in notebook order (``ex.<key>.check()``).
    """

    number: str
    notebook: str
    module: str
    keys: tuple[str, ...]

    @property
    def exercises(self) -> dict[str, Exercise]:
        """``key -> Exercise``, in notebook order."""
        module = self.exercises_module()
        return {key: getattr(module, key) for key in self.keys}

    def exercises_module(self) -> ModuleType:
        """The (pristine, grader-side) exercises module."""
        return importlib.import_module(self.module)

    @property
    def context_names(self) -> tuple[str, ...]:
        """The names of the lesson's own objects its checkers read, without repeats."""
        names = [n for exercise in self.exercises.values() for n in exercise.context]
        return tuple(dict.fromkeys(names))


def _lesson(number: str, notebook: str, module_name: str) -> Lesson:
    """A :class:`Lesson` from its exercises module's ``EXERCISES`` (each must be reachable as
    ``module.<key>``, exactly once)."""
    module = importlib.import_module(f"xai_tutorial.{module_name}")
    keys = []
    for exercise in module.EXERCISES:
        names = [name for name, value in vars(module).items()
                 if value is exercise and not name.startswith("_")]
        if len(names) != 1:
            raise AssertionError(f"{module_name}: an exercise is reachable as {names}, "
                                 "not as exactly one public name")
        keys.append(names[0])
    return Lesson(number, notebook, module.__name__, tuple(keys))


LESSONS: dict[str, Lesson] = {
    lesson.number: lesson for lesson in (
        _lesson("01", "01_pretrained_classifier.ipynb", "classification_exercises"),
        _lesson("02", "02_class_activation_maps.ipynb", "cam_exercises"),
        _lesson("03", "03_neural_backed_decision_trees.ipynb", "decision_trees_exercises"),
        _lesson("04", "04_judging_explanations.ipynb", "evaluation_exercises"),
        _lesson("05", "05_attribution_methods.ipynb", "attribution_exercises"),
    )
}
_ALL_KEYS = [key for lesson in LESSONS.values() for key in lesson.keys]
if len(set(_ALL_KEYS)) != len(_ALL_KEYS):
    raise AssertionError("an exercise key is used by two lessons")


# ----------------------------------------------------------------------------------------------
# Reading notebooks (a submission's cells are data: any shape nbformat lets through)


def _source(cell: object) -> str:
    """A cell's source as one string: a list of lines joined; anything else (or no source)
    gives ""."""
    source = cell.get("source", "") if isinstance(cell, Mapping) else ""
    if isinstance(source, list):
        return "".join(line for line in source if isinstance(line, str))
    return source if isinstance(source, str) else ""


def _code_cells(nb: NotebookNode) -> list[tuple[int, Any]]:
    """``(index, cell)`` of the notebook's code cells (a missing or odd ``cells`` gives none)."""
    cells = nb.get("cells") if isinstance(nb, Mapping) else None
    if not isinstance(cells, list):
        return []
    return [(i, c) for i, c in enumerate(cells)
            if isinstance(c, Mapping) and c.get("cell_type") == "code"]


def _tags(cell: Mapping) -> list[str]:
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, Mapping) else None
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def lesson_of(nb: NotebookNode) -> Lesson | None:
    """The lesson ``nb`` is a copy of, read from its cells: the lesson with the most of its own
    check cells (``ex.<key>.check()``), ties broken by which exercises module is imported as
    ``ex``; None when no lesson's exercises appear, or two lessons tie."""
    imported: set[str] = set()
    checked: set[str] = set()
    for _, cell in _code_cells(nb):
        source = _source(cell)
        for found in IMPORT.finditer(source):
            imported.add(f"xai_tutorial.{found.group(1) or found.group(2)}")
        checked.update(CHECK.findall(source))
    scores = sorted(((len(checked & set(lesson.keys)), lesson.module in imported), lesson.number)
                    for lesson in LESSONS.values())
    (best, number), runner_up = scores[-1], scores[-2][0]
    if best == (0, False) or best == runner_up:
        return None
    return LESSONS[number]


def teacher(lesson: Lesson, source: Path | None = None) -> NotebookNode:
    """The lesson's teacher notebook, read from the folder ``source`` (default: the
    repository's ``notebooks/``)."""
    folder = NOTEBOOKS if source is None else Path(source)
    return nbformat.read(folder / lesson.notebook, as_version=4)


def parameters(nb: NotebookNode) -> tuple[str, dict[str, Any]]:
    """The source of the (trusted, teacher's) notebook's ``parameters`` cell and the values it
    defines, executed in an empty namespace.

    Raises:
        ValueError: the notebook has no ``parameters``-tagged code cell.
    """
    for _, cell in _code_cells(nb):
        if PARAMETERS_TAG in _tags(cell):
            source = _source(cell)
            namespace: dict[str, Any] = {}
            exec(compile(source, "<parameters>", "exec"), namespace)  # noqa: S102 (trusted)
            return source, {k: v for k, v in namespace.items() if not k.startswith("__")}
    raise ValueError("the notebook has no code cell tagged 'parameters'")


def hidden_tests(nb: NotebookNode, lesson: Lesson) -> dict[str, str]:
    """``key -> code`` of the hidden tests in each check cell of ``lesson`` (the lines between
    ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, dedented; several regions of one
    key are joined). Keys with no hidden test are absent."""
    found: dict[str, list[str]] = {}
    for _, cell in _code_cells(nb):
        source = _source(cell)
        keys = [k for k in CHECK.findall(source) if k in lesson.keys]
        regions = [textwrap.dedent(r) for r in HIDDEN.findall(source)]
        for key in keys[:1]:  # a cell checking several exercises: its tests belong to the first
            found.setdefault(key, []).extend(r for r in regions if r.strip())
    return {key: "\n".join(codes) for key, codes in found.items() if codes}


# ----------------------------------------------------------------------------------------------
# The pristine context: the lesson's objects, built from the parameters as its cells build them


def _located(value: Any, notebook_dir: Path) -> Any:
    """A path given relative to the notebook (``"../assets/x.png"``, ``"photo.jpg"``) made
    absolute against ``notebook_dir``, as the kernel (run in that folder) reads it; sample names,
    URLs and files that are not there stay as they are; lists and tuples item by item."""
    if isinstance(value, (list, tuple)):
        return type(value)(_located(v, notebook_dir) for v in value)
    if isinstance(value, (str, Path)) and "://" not in str(value):
        candidate = Path(notebook_dir) / value
        if not Path(value).is_absolute() and candidate.is_file():
            return str(candidate)
    return value


def _classifier(params: Mapping[str, Any]) -> Any:
    from ..classification import load_classifier

    return load_classifier(params["MODEL"], quiet=True)


def _context_01(params: Mapping[str, Any], where: Callable[[Any], Any]) -> dict[str, Any]:
    from ..core.images import load_image

    return {"classifier": _classifier(params), "image": load_image(where(params["PHOTO"])),
            "second_image": load_image(where(params["SECOND_PHOTO"]))}


def _context_02(params: Mapping[str, Any], where: Callable[[Any], Any]) -> dict[str, Any]:
    from ..core.images import load_image

    return {"classifier": _classifier(params), "image": load_image(where(params["PHOTO"])),
            "scene": load_image(where(params["SCENE"]))}


def _context_03(params: Mapping[str, Any], where: Callable[[Any], Any]) -> dict[str, Any]:
    from ..decision_trees import load_nbdt

    literals = {name: where(value) for name, value in LESSON_03_LITERALS.items()}
    return {"fashion_nbdt": load_nbdt("fashion"), **literals,
            "imagenet_nbdt": load_nbdt("imagenet"), "PHOTOS": where(params["PHOTOS"])}


def _context_04(params: Mapping[str, Any], where: Callable[[Any], Any]) -> dict[str, Any]:
    from .. import evaluation as ev

    found = _context_01(params, where)
    photo, second = where(params["PHOTO"]), where(params["SECOND_PHOTO"])
    objects = {"first": ev.scene_object(photo), "second": ev.scene_object(second)}
    scenes = ev.pointing_scenes(params["SCENES"], size=found["classifier"].crop, objects=objects)
    return {**found, "STEPS": params["STEPS"], "scenes": scenes}


def _context_05(params: Mapping[str, Any], where: Callable[[Any], Any]) -> dict[str, Any]:
    """As the lesson's setup cell: the model frozen and channels-last (its checkers then
    recompute exactly what the student's kernel computed), the photo, the two step knobs."""
    import torch

    from ..core.images import load_image

    classifier = _classifier(params)
    classifier.model.requires_grad_(False).to(memory_format=torch.channels_last)
    return {"classifier": classifier, "image": load_image(where(params["PHOTO"])),
            "MY_STEPS": params["MY_STEPS"], "CURVE_STEPS": params["CURVE_STEPS"]}


_BUILDERS = {"01": _context_01, "02": _context_02, "03": _context_03, "04": _context_04,
             "05": _context_05}


def context(lesson: Lesson, params: Mapping[str, Any], notebook_dir: Path) -> dict[str, object]:
    """The lesson's own objects that its checkers read (exactly the exercises' ``context``
    names), built from the instructor's ``params`` as the lesson's cells build them; paths
    relative to the notebook are read from ``notebook_dir``. Nothing is cached here.

    Raises:
        KeyError: a parameter the lesson needs is missing; whatever loading it raises
        (``UnknownNameError``, ``ImageLoadError``, ...).
    """
    built = _BUILDERS[lesson.number](params, lambda value: _located(value, notebook_dir))
    return {name: built[name] for name in lesson.context_names}


# ----------------------------------------------------------------------------------------------
# The submission, made ready for the box


@dataclass(frozen=True)
class Section:
    """Where an exercise lives in a prepared notebook: its cells run from ``first_cell`` to its
    check cell, and ``export_cell`` is the grader's cell after it that sends the answer out."""

    key: str
    first_cell: int
    check_cell: int
    export_cell: int


def _clean(cell: Mapping) -> NotebookNode:
    """A fresh cell of the submitted one's kind (code, markdown; anything else raw), with its
    source as one string, its metadata and id, and no outputs: only what nbformat allows."""
    metadata = cell.get("metadata")
    metadata = copy.deepcopy(dict(metadata)) if isinstance(metadata, Mapping) else {}
    kind = cell.get("cell_type")
    make = {"code": nbformat.v4.new_code_cell,
            "markdown": nbformat.v4.new_markdown_cell}.get(kind, nbformat.v4.new_raw_cell)
    fresh = make(_source(cell), metadata=metadata)
    if isinstance(cell.get("id"), str):
        fresh["id"] = cell["id"]
    return fresh


def _with_ids(cells: list[NotebookNode]) -> list[NotebookNode]:
    """``cells`` each with a valid id, none twice (a submission's missing, malformed or repeated
    ids replaced), so the prepared notebook validates."""
    from nbformat.corpus.words import generate_corpus_id

    seen: set[str] = set()
    for cell in cells:
        given = cell.get("id")
        if not (isinstance(given, str) and CELL_ID.fullmatch(given)) or given in seen:
            given = generate_corpus_id()
            while given in seen:
                given = generate_corpus_id()
            cell["id"] = given
        seen.add(given)
    return cells


def _parameters_cell(source: str) -> NotebookNode:
    return nbformat.v4.new_code_cell(source, metadata={"tags": [PARAMETERS_TAG]})


def prepare(nb: NotebookNode, lesson: Lesson, params_source: str,
            export: Callable[[str, Sequence[str], Sequence[str]], str]
            ) -> tuple[NotebookNode, list[Section]]:
    """A copy of the submission ready to run in the box (nothing is executed here): its first
    ``parameters`` cell holds ``params_source`` (the teacher's; a submission without one gets it
    before its first code cell), all outputs are cleared, and after each check cell of the
    lesson comes one code cell tagged ``xai-grader`` per exercise it checks, holding
    ``export(key, exercise.variables, exercise.probes)``.

    Returns the notebook and its sections, in notebook order. A check cell repeated (a student
    who checks twice) gives a section each; the last one's answer is the latest.
    """
    cells = nb.get("cells") if isinstance(nb, Mapping) else None
    cells = [_clean(c) for c in cells if isinstance(c, Mapping)] if isinstance(cells, list) else []
    tagged = [i for i, c in enumerate(cells)
              if c.get("cell_type") == "code" and PARAMETERS_TAG in _tags(c)]
    if tagged:
        cells[tagged[0]]["source"] = params_source
    else:
        code = [i for i, c in enumerate(cells) if c.get("cell_type") == "code"]
        cells.insert(code[0] if code else len(cells), _parameters_cell(params_source))
    exercises = lesson.exercises
    out: list[NotebookNode] = []
    sections: list[Section] = []
    first = 0
    for cell in cells:
        out.append(cell)
        keys = [k for k in CHECK.findall(cell["source"]) if k in exercises]
        if cell.get("cell_type") != "code" or not keys:
            continue
        check_cell = len(out) - 1
        for key in dict.fromkeys(keys):
            exercise = exercises[key]
            source = export(key, exercise.variables, exercise.probes)
            out.append(nbformat.v4.new_code_cell(source, metadata={"tags": [GRADER_TAG]}))
            sections.append(Section(key, first, check_cell, len(out) - 1))
        first = len(out)
    metadata = nb.get("metadata") if isinstance(nb, Mapping) else None
    prepared = nbformat.v4.new_notebook(cells=_with_ids(out))
    if isinstance(metadata, Mapping):
        prepared.metadata = nbformat.from_dict(copy.deepcopy(dict(metadata)))
    return prepared, sections


# ----------------------------------------------------------------------------------------------
# Hidden tests, run outside the box on the answers that came out of it


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def run_hidden(code: str, answers: Mapping[str, Any], context: Mapping[str, Any],
               module: ModuleType) -> str | None:
    """Run a teacher's hidden test in the grader's process, in the namespace
    ``{**answers, **context, "ex": module}`` (no answer replaces a context object); None if it
    passes, else a one-line reason (the assertion's message, or what it raised). What it prints
    is dropped."""
    # the answers first: a forged answer named `classifier` or `__builtins__` changes nothing
    namespace: dict[str, Any] = {**{k: v for k, v in answers.items() if not k.startswith("__")},
                                 **context, "ex": module}
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(compile(code, "<hidden tests>", "exec"), namespace)  # noqa: S102 (teacher's)
    except KeyboardInterrupt:
        raise
    except AssertionError as exc:
        message = _safe_text(exc)
        return _one_line(f"hidden test: {message}" if message else "a hidden test failed")
    except BaseException as exc:  # noqa: BLE001 (a decoded answer may make it raise anything)
        message = _safe_text(exc)
        return _one_line(f"a hidden test raised {type(exc).__name__}" +
                         (f": {message}" if message else ""))
    return None


def _safe_text(exc: BaseException) -> str:
    """``str(exc)``, or "" when its ``__str__`` raises or is not a str."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001
        return ""
    return str.__str__(text) if isinstance(text, str) else ""
