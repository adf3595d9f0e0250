"""Self-checking exercises for the lessons, in the style of Kaggle's learntools.

Each lesson has a module ``<lesson>_exercises`` (for example :mod:`xai_tutorial.cam_exercises`)
that defines its exercises as :class:`Exercise` objects. In a notebook, the learner writes the
answer in a cell, assigning the variables the exercise names, and the next cell checks it::

    from xai_tutorial import cam_exercises as ex
    ...
    ex.second_class.check()    # one line: correct, not yet (and why), or not attempted
    ex.second_class.hint()     # a nudge
    ex.second_class.solution() # the answer, when stuck

``check()`` reads the learner's variables from the notebook's namespace, so a variable that does
not exist yet (the cell was not run, or still raises ``NotImplementedError`` in the student copy)
is reported as "not attempted", never as a ``NameError``. A checker that raises is reported as
"not yet" with the reason; ``check()`` itself never raises.

A checker is a function of the variables' values (positional, in the order of ``variables``). It
returns ``None`` when the answer is right and a short reason otherwise, or it may raise
``AssertionError`` with the reason; :func:`expect` helps write them.

**Checkers follow the lesson's own objects.** An exercise may name ``context`` variables (for
example ``("classifier", "image")``): the lesson's parameters cell and setup cells define them, and
the checker receives them as keyword arguments and recomputes the right answer from them. So a
right answer is right for whatever model and photo the instructor put in the parameters cell; a
grader passes the instructor's objects in the namespace instead of the student's.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .core._files import escaped

Checker = Callable[..., "str | None"]


class Outcome(str, Enum):
    """What :meth:`Exercise.check` found."""

    CORRECT = "correct"
    NOT_YET = "not yet"
    NOT_ATTEMPTED = "not attempted"


@dataclass(frozen=True)
class Result:
    """One check: its outcome and the line shown to the learner."""

    outcome: Outcome
    line: str

    def __bool__(self) -> bool:
        return self.outcome is Outcome.CORRECT

    def __str__(self) -> str:
        return self.line

    def _ipython_display_(self) -> None:
        """Shown as nothing: ``check()`` has already printed the line (no duplicate ``Out``)."""


def expect(condition: bool, reason: str) -> None:
    """Inside a checker: stop with ``reason`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(reason)


# ----------------------------------------------------------------------------------------------
# Reading a learner's answer: one definition of "a number", "a class index", "a name", "yes or no"
# for every checker, so a right answer is never refused for its type (a numpy scalar, the 0-d
# tensor that ``.argmax()`` or ``.mean()`` gives) and a hostile object never passes for a right one.


def _scalar(value: object) -> object:
    """The Python value inside a one-element tensor or array; anything else as it is."""
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
        return value.detach().reshape(()).item()
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.reshape(()).item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def number(value: object, name: str) -> float:
    """``value`` as a finite float if it is one real number: an int or float, a numpy scalar, or
    a one-element tensor or array; never a bool, a complex number or a str.

    Raises:
        AssertionError: with the reason (what a checker reports as "not yet").
    """
    got = _scalar(value)
    expect(isinstance(got, (int, float)) and not isinstance(got, bool),
           f"`{name}` should be a number, not {type(value).__name__}")
    result = float(got)  # type: ignore[arg-type]
    expect(math.isfinite(result), f"`{name}` should be a finite number, not {result}")
    return result


def index(value: object, name: str) -> int:
    """``value`` as an int if it is one whole number (an int, a numpy integer, a one-element
    integer tensor such as ``logits.argmax()``); never a bool or a float.

    Raises:
        AssertionError: with the reason.
    """
    got = _scalar(value)
    expect(isinstance(got, int) and not isinstance(got, bool),
           f"`{name}` should be a whole number (an int), not {type(value).__name__}")
    return int(got)  # type: ignore[arg-type]


def text(value: object, name: str) -> str:
    """``value`` as a plain ``str`` (a subclass is read as its characters only, so an object
    whose ``__eq__`` says yes to everything compares as what it spells).

    Raises:
        AssertionError: with the reason.
    """
    expect(isinstance(value, str), f"`{name}` should be a str, not {type(value).__name__}")
    return str.__str__(value)  # type: ignore[arg-type]


def flag(value: object, name: str) -> bool:
    """``value`` as a bool if it is ``True``/``False`` (or numpy's, or a one-element bool tensor).

    Raises:
        AssertionError: with the reason.
    """
    got = _scalar(value)
    expect(isinstance(got, bool), f"`{name}` should be True or False, not {type(value).__name__}")
    return bool(got)


def photos(**pictures: object) -> list:
    """The lesson's context photos, each loaded with :func:`~xai_tutorial.load_image` (so a
    sample name or a path works as well as a picture), in the order given.

    Raises:
        AssertionError: naming the first that does not load ("re-run the lesson's cells").
    """
    from .core.errors import InputError
    from .core.images import load_image

    loaded = []
    for name, picture in pictures.items():
        try:
            loaded.append(load_image(picture))  # type: ignore[arg-type]
        except InputError:
            raise AssertionError(f"`{name}` is not a photo that load_image reads (it is a "
                                 f"{type(picture).__name__}): re-run the lesson's cells "
                                 "above") from None
    return loaded


def _text(value: object) -> str:
    """``str(value)``, safely: a learner's exception or object whose ``__str__`` raises (or
    returns something that is not a str) is shown by its type's name instead."""
    try:
        text = str(value)
        if type(text) is not str:
            raise TypeError
        return str.__str__(text)
    except BaseException:  # noqa: BLE001 (whatever __str__ raised)
        if isinstance(value, BaseException):
            return f"(its message could not be shown: {_name_of(value)}.__str__ raised)"
        return "(a reason that could not be shown)"


def _name_of(exc: BaseException) -> str:
    return getattr(type(exc), "__name__", "an exception")


def _first_line(text: str, limit: int = 300) -> str:
    """``text`` as one line of at most ``limit`` characters, control characters (a learner's
    escape sequences) shown rather than sent to the terminal."""
    line = " ".join(text.split())
    line = escaped(line)
    return line if len(line) <= limit else line[: limit - 1].rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True)
class Exercise:
    """An exercise: the variables the learner defines, how to check them, a hint and a solution.

    Attributes:
        name: a short title, shown in every line this exercise prints.
        variables: the names the learner's cell must define, in the order ``checker`` takes them.
        checker: ``checker(*values) -> None`` when right, else a reason (or ``AssertionError``).
        hint_text: a nudge that does not give the answer away.
        solution_text: a working answer, as code.
        context: names of the lesson's own objects (``classifier``, ``image``, ...) that the
            checker takes as keyword arguments, read from the same namespace as the answer.
        probes: fixed inputs (sample names) the grader applies a callable answer to, in the
            learner's kernel, so only the results leave it (the checker calls it on these).
    """

    name: str
    variables: tuple[str, ...]
    checker: Checker
    hint_text: str
    solution_text: str
    context: tuple[str, ...] = ()
    probes: tuple[str, ...] = ()

    def evaluate(self, namespace: Mapping[str, Any]) -> Result:
        """Check the answer in ``namespace`` without printing anything."""
        missing = [v for v in self.variables if v not in namespace]
        if missing:
            names = ", ".join(f"`{v}`" for v in missing)
            if len(missing) == len(self.variables):
                return Result(Outcome.NOT_ATTEMPTED, f"○ {self.name}: not attempted yet "
                                                     f"(define {names}, then check again)")
            # Part of an answer (a number without the object it was computed from) is an
            # answer, and not yet a right one.
            return Result(Outcome.NOT_YET, f"✗ {self.name}: not yet. Define {names} too: the "
                                           "answer is checked together with what it comes from")
        absent = [v for v in self.context if v not in namespace]
        if absent:
            names = ", ".join(f"`{v}`" for v in absent)
            return Result(Outcome.NOT_ATTEMPTED,
                          f"○ {self.name}: not checked yet: {names} not defined (run the "
                          "lesson's cells above this one first, then check again)")
        context = {v: namespace[v] for v in self.context}
        try:
            # What a library prints while a checker runs (nbdt's import-time noise, a learner
            # object's own prints) is not the verdict: only the one line below is shown.
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                reason = self.checker(*(namespace[v] for v in self.variables), **context)
            reason = _text(reason) if reason else None
        except KeyboardInterrupt:
            raise  # the learner stopped the cell: not an answer
        except AssertionError as exc:
            reason = _text(exc) or "the answer does not pass the check"
        except SystemExit:
            reason = "checking it called exit() (SystemExit); an answer must not end the kernel"
        except BaseException as exc:  # noqa: BLE001 (GeneratorExit, a learner's own, ...)
            reason = f"checking it raised {_name_of(exc)}: {_text(exc)}".rstrip(": ")
        if reason:
            return Result(Outcome.NOT_YET, f"✗ {self.name}: not yet. {_first_line(reason)}")
        return Result(Outcome.CORRECT, f"✓ {self.name}: correct!")

    def check(self, namespace: Mapping[str, Any] | None = None) -> Result:
        """Check the learner's answer and print one line; reads the caller's globals by default."""
        if namespace is None:
            frame = inspect.currentframe()
            caller = frame.f_back if frame is not None else None
            namespace = caller.f_globals if caller is not None else {}
        result = self.evaluate(namespace)
        print(result.line)
        return result

    def hint(self) -> None:
        """Print the hint."""
        print(f"Hint ({self.name}): {self.hint_text}")

    def solution(self) -> None:
        """Print a working solution."""
        print(f"Solution ({self.name}):\n{inspect.cleandoc(self.solution_text)}")
