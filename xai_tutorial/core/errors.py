"""The package's user-facing errors: what a learner or the CLI can cause, not a bug.

Every error a user can cause derives from :class:`TutorialError` (exported as
``xai_tutorial.TutorialError``); the CLI prints any of them as one ``error: ...`` line, and
anything else that escapes is a bug and keeps its traceback. The family:

* :class:`InputError` (also a ``ValueError``): a value given to the package is not acceptable
  (a class, an option, a tensor, a layer name); :class:`UnknownNameError` for a name that must be
  one of a registry's keys; :class:`ImageLoadError` for a photo source that cannot be read;
* :class:`DownloadError` and :class:`CacheError` (also ``RuntimeError``\\ s, as they were): a
  download that failed, a cache that holds nothing usable; :class:`WriteError` (also an
  ``OSError``): an output file that could not be written whole.

Every message names the input and says what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Iterable


class TutorialError(Exception):
    """Base of every error a user of the package can cause (printed by the CLI as one line)."""


class InputError(TutorialError, ValueError):
    """A value given to the package (a name, a class, an option, an input) is not acceptable."""


class UnknownNameError(InputError):
    """A name that must be one of a registry's keys is not; the message lists the choices."""

    def __init__(self, kind: str, name: object, choices: Iterable[str]) -> None:
        self.kind, self.name, self.choices = kind, name, tuple(choices)
        shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:76] + "...'"
        listed = [c if len(c) <= 40 else c[:37] + "..." for c in self.choices[:30]]
        more = f" (and {len(self.choices) - 30} more)" if len(self.choices) > 30 else ""
        super().__init__(f"{shown}: no such {kind}; choose one of {', '.join(listed)}{more}")


class ImageLoadError(InputError):
    """An image source could not be turned into an RGB picture; the message says which and why."""


class DownloadError(TutorialError, RuntimeError):
    """A download failed (network, HTTP status, size or hash); nothing was cached."""


class CacheError(TutorialError, RuntimeError):
    """A needed file is not in the cache, or the cache holds no usable copy of it."""


class ResourceError(TutorialError, MemoryError):
    """The machine has not enough memory for this input (a smaller batch or picture fits)."""


class WriteError(TutorialError, OSError):
    """A file could not be written whole (a full disk, a file-size limit); nothing was left."""
