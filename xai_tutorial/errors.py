"""The package's user-facing error types: what a learner or the CLI can cause, not a bug.

Every error here has a message that names the input and says what is wrong with it; the CLI prints
it as one ``error: ...`` line. Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class InputError(ValueError):
    """A value given to the package (a name, a class, an option) is not acceptable."""


class UnknownNameError(InputError):
    """A name that must be one of a registry's keys is not; the message lists the choices."""

    def __init__(self, kind: str, name: object, choices: Iterable[str]) -> None:
        self.kind, self.name, self.choices = kind, name, tuple(choices)
        super().__init__(f"{name!r}: no such {kind}; choose one of {', '.join(self.choices)}")
