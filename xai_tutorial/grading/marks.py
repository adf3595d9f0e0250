"""From a run in the box to marks: decode the answers, check them outside the kernel.

Everything here runs in the grader's process on data: the answers came out of the box as JSON
(:mod:`.answers`), the checkers and the context (model, photos) are the grader's own, loaded
before any submission ran, and the hidden tests are the teacher notebook's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..exercises import Outcome
from . import answers as answers_mod
from . import lessons as lessons_mod
from .report import Mark
from .run import CellError, Execution

#: Errors that mean a limit of the box, by exception name and by words of its message.
_LIMITS = (
    ("memory limit", ("MemoryError",), ("can't allocate memory", "Cannot allocate memory")),
    ("process limit", ("BlockingIOError",), ("Resource temporarily unavailable",)),
    ("file-size limit", (), ("File too large",)),
    ("disk limit of the box", (), ("No space left on device", "Disk quota exceeded")),
    ("no network in the box", ("URLError", "gaierror", "ConnectionError"),
     ("Network is unreachable", "Temporary failure in name resolution")),
)


def limit_of(error: CellError) -> str | None:
    """Which limit of the box an error of a cell means, or None."""
    for name, exceptions, words in _LIMITS:
        if error.name in exceptions or any(w in error.message for w in words):
            return name
    return None


def cell_number(nb: Any, index: int) -> int:
    """The 1-based number of cell ``index`` as the student sees it (grader cells not counted)."""
    cells = nb.cells[:index + 1]
    return sum(1 for c in cells if lessons_mod.GRADER_TAG not in c.get("metadata", {}).get(
        "tags", []))


def _section_error(run: Execution, section: lessons_mod.Section) -> str | None:
    """Why the cells of ``section`` failed, if one did (a student's unfinished stub, which
    raises NotImplementedError, is not an error: it is "not attempted")."""
    for error in run.errors:
        if section.first_cell <= error.cell <= section.check_cell and (
                error.name != "NotImplementedError"):
            where = f"cell {cell_number(run.notebook, error.cell)}"
            limit = limit_of(error)
            if limit:
                return f"{limit} ({error.name} in {where})"
            return f"{where} raised {error.name}: {error.message}".rstrip(": ")[:300]
    return None


def _decode(text: str, key: str, probes: Mapping[str, Any], limit: int) -> dict[str, Any]:
    payload = json.loads(text)
    got_key, values = answers_mod.decode(payload, probes=probes, limit=limit)
    if got_key != key:
        raise answers_mod.AnswerError(f"the answers of {got_key!r} came where {key!r}'s belong")
    return values


def mark_section(section: lessons_mod.Section, run: Execution, pristine: Any,
                 limit: int) -> Mark:
    """The mark of one exercise of one run (see the module's docstring)."""
    lesson = pristine.lesson
    exercise = lesson.exercises[section.key]
    text = run.answers.get(section.export_cell)
    if text is None:
        if run.stopped and (run.stopped_cell is None or run.stopped_cell <= section.export_cell):
            where = (f" at cell {cell_number(run.notebook, run.stopped_cell)}"
                     if run.stopped_cell is not None and run.stopped_cell >= 0 else "")
            return Mark("error", f"{run.stopped}{where}", f"⚠ {exercise.name}: not checked: "
                        f"the notebook stopped before it ({run.stopped}{where})")
        return Mark("error", "its answers did not come out of the kernel (the notebook's own "
                    "code stopped the grader's cell)", f"⚠ {exercise.name}: not checked")
    try:
        values = _decode(text, section.key, pristine.probes, limit)
    except (answers_mod.AnswerError, ValueError, RecursionError) as exc:
        reason = f"its answers could not be read: {' '.join(str(exc).split())[:200]}"
        return Mark("error", reason, f"⚠ {exercise.name}: not checked ({reason})")
    # only the exercise's own variables, and never in place of the lesson's objects
    values = {k: v for k, v in values.items() if k in exercise.variables}
    result = exercise.evaluate({**values, **pristine.context})
    if result.outcome is Outcome.CORRECT:
        hidden = pristine.hidden.get(section.key)
        failed = hidden and lessons_mod.run_hidden(hidden, values, pristine.context,
                                                   lesson.exercises_module())
        if failed:
            return Mark("not yet", failed, f"✗ {exercise.name}: not yet. {failed}")
        return Mark("correct", "", result.line)
    head = f"{exercise.name}: "  # a title may hold ': ' itself
    reason = (result.line.split(head, 1)[1] if head in result.line
              else result.line.split(": ", 1)[-1])
    if result.outcome is Outcome.NOT_YET:
        return Mark("not yet", reason.removeprefix("not yet. "), result.line)
    error = _section_error(run, section)
    if error:
        return Mark("error", error, f"⚠ {exercise.name}: {error}")
    return Mark("not attempted", reason, result.line)


def marks_for(run: Execution, sections: Sequence[lessons_mod.Section], pristine: Any,
              limit: int) -> dict[str, Mark]:
    """The marks of one lesson's notebook: the last section of each exercise counts (a
    student who checks twice); an exercise with no check cell is "not attempted"."""
    marks: dict[str, Mark] = {}
    for section in sections:
        marks[section.key] = mark_section(section, run, pristine, limit)
    for key, exercise in pristine.lesson.exercises.items():
        marks.setdefault(key, Mark("not attempted", "its check cell is not in the notebook",
                                   f"○ {exercise.name}: not attempted (no check cell)"))
    return marks


def missing_lesson_marks(lesson: lessons_mod.Lesson, broken: bool,
                         problem: str = "") -> dict[str, Mark]:
    """Marks of a lesson a student did not hand in: "not attempted", or "error" when one of
    their files could not be read (it may have been this lesson's)."""
    marks = {}
    for key, exercise in lesson.exercises.items():
        if broken:
            reason = problem or "a notebook of this student could not be read or graded"
            marks[key] = Mark("error", reason, f"⚠ {exercise.name}: not checked ({reason})")
        else:
            reason = f"no notebook of lesson {lesson.number} handed in"
            marks[key] = Mark("not attempted", reason, "")
    return marks


def error_lines(run: Execution, lesson: str) -> list[str]:
    """The errors that stopped cells, for the student's feedback (stubs left out)."""
    found = []
    for error in run.errors:
        if error.name == "NotImplementedError":
            continue
        head = (f"lesson {lesson}, cell {cell_number(run.notebook, error.cell)}: "
                f"{error.name}: {error.message}").rstrip(": ")
        found.append("\n".join([head, *error.lines]))
    if run.stopped:
        where = (f" at cell {cell_number(run.notebook, run.stopped_cell)}"
                 if run.stopped_cell is not None and run.stopped_cell >= 0 else "")
        found.append(f"lesson {lesson}: stopped: {run.stopped}{where}")
    return found
