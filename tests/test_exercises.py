"""The exercise machinery: one line per check, never a traceback, wrong answers fail."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import xai_tutorial
from xai_tutorial.exercises import Exercise, Outcome, expect


def _double(value: int, twice: int) -> str | None:
    expect(isinstance(twice, int), f"`twice` should be an int, not {type(twice).__name__}")
    if twice != 2 * value:
        return f"{twice} is not twice {value}"
    return None


EXERCISE = Exercise("Double it", ("value", "twice"), _double, "multiply by 2", "twice = 2 * value")


def test_correct_answer(capsys):
    result = EXERCISE.check({"value": 3, "twice": 6})
    assert result and result.outcome is Outcome.CORRECT
    assert capsys.readouterr().out == "✓ Double it: correct!\n"


def test_wrong_answers_fail_with_a_reason(capsys):
    assert EXERCISE.check({"value": 3, "twice": 7}).outcome is Outcome.NOT_YET
    assert EXERCISE.check({"value": 3, "twice": "6"}).outcome is Outcome.NOT_YET
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["✗ Double it: not yet. 7 is not twice 3",
                     "✗ Double it: not yet. `twice` should be an int, not str"]


def test_missing_variable_is_not_attempted_not_a_name_error(capsys):
    result = EXERCISE.check({})
    assert result.outcome is Outcome.NOT_ATTEMPTED and not result
    expected = "○ Double it: not attempted yet (define `value`, `twice`, then check again)\n"
    assert capsys.readouterr().out == expected


def test_a_checker_that_breaks_is_reported_not_raised(capsys):
    broken = Exercise("Broken", ("x",), lambda x: x.nope, "", "")
    assert broken.check({"x": 1}).outcome is Outcome.NOT_YET
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "AttributeError" in out


def test_check_reads_the_callers_globals(capsys):
    namespace = {"EXERCISE": EXERCISE, "value": 4, "twice": 8}
    exec("result = EXERCISE.check()", namespace)  # as a notebook cell runs
    assert namespace["result"].outcome is Outcome.CORRECT


def test_hint_and_solution(capsys):
    EXERCISE.hint()
    EXERCISE.solution()
    out = capsys.readouterr().out
    assert "multiply by 2" in out and "twice = 2 * value" in out


def test_a_check_cell_shows_its_line_once(capsys):
    """The result a check cell ends with formats to nothing, so Jupyter shows no ``Out`` line
    beside the printed one (ipykernel sends no execute_result with empty data)."""
    from IPython.core.interactiveshell import InteractiveShell

    result = EXERCISE.check({"value": 1, "twice": 2})
    data, metadata = InteractiveShell.instance().display_formatter.format(result)
    assert data == {} and capsys.readouterr().out == "✓ Double it: correct!\n"


#: Every lesson's exercise module, found by name: a new lesson's exercises are covered too.
LESSON_EXERCISES = sorted(
    p.stem for p in (Path(xai_tutorial.__file__).parent).glob("*_exercises.py")
)


def test_every_lesson_has_an_exercise_module():
    assert len(LESSON_EXERCISES) >= 4, LESSON_EXERCISES


@pytest.mark.parametrize("lesson", LESSON_EXERCISES)
def test_every_lesson_lists_its_exercises(lesson):
    module = importlib.import_module(f"xai_tutorial.{lesson}")
    listed = module.EXERCISES
    defined = [v for v in vars(module).values() if isinstance(v, Exercise)]
    assert isinstance(listed, tuple) and len(listed) >= 3
    assert {id(e) for e in listed} == {id(e) for e in defined}, "an Exercise is not listed"


@pytest.mark.parametrize("lesson", LESSON_EXERCISES)
def test_every_lesson_exercise_has_a_hint_and_a_solution(lesson, capsys):
    exercises = importlib.import_module(f"xai_tutorial.{lesson}").EXERCISES
    for exercise in exercises:
        exercise.hint()
        exercise.solution()
    out = capsys.readouterr().out
    assert out.count("Hint (") == len(exercises) == out.count("Solution (") >= 3


def test_answer_readers_take_every_spelling_of_a_right_answer() -> None:
    import numpy as np
    import torch

    from xai_tutorial.exercises import flag, index, number, text

    for value in (0.25, np.float32(0.25), np.float64(0.25), torch.tensor(0.25),
                  torch.tensor([0.25]), np.array(0.25), np.array([0.25])):
        assert number(value, "p") == 0.25
    for value in (3, np.int64(3), torch.tensor(3), torch.tensor([3]), np.array([3])):
        assert index(value, "i") == 3
    for value in (True, np.bool_(True), torch.tensor(True)):
        assert flag(value, "f") is True

    class Agreeable(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

    read = text(Agreeable("tench"), "label")
    assert type(read) is str and read == "tench" and read != "tiger cat"


@pytest.mark.parametrize(("reader", "value", "says"), [
    ("number", True, "should be a number, not bool"),
    ("number", "0.5", "should be a number, not str"),
    ("number", float("nan"), "finite number, not nan"),
    ("number", "complex", "should be a number, not Tensor"),
    ("number", [0.5], "should be a number, not list"),
    ("index", 2.0, "should be a whole number (an int), not float"),
    ("index", True, "not bool"),
    ("flag", 1, "should be True or False, not int"),
    ("text", 3, "should be a str, not int"),
])
def test_answer_readers_refuse_with_a_reason(reader, value, says) -> None:
    import torch

    from xai_tutorial import exercises

    if value == "complex":
        value = torch.tensor(0.5 + 1j)
    with pytest.raises(AssertionError, match=re.escape(says)):
        getattr(exercises, reader)(value, "x")


def test_part_of_an_answer_is_not_yet(capsys):
    """A number without the object it was computed from is an answer, and not yet a right one."""
    result = EXERCISE.check({"twice": 6})
    assert result.outcome is Outcome.NOT_YET
    assert "Define `value` too" in result.line
