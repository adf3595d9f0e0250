"""Several files written together or not at all (e.g. ``heatmap.jpg`` and ``combined.jpg``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import InputError


def check_targets(paths: Sequence[Path]) -> None:
    """Refuse, before anything is written, targets that cannot become files.

    Raises:
        InputError: a target is a directory, or its folder is a file.
        OSError: the environment refuses (e.g. a folder that cannot be created); the error
            names the path.
    """
    for path in paths:
        if path.is_dir():
            raise InputError(f"{str(path)!r}: is a folder; cannot write a file there")
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise InputError(f"{str(parent)!r}: is a file, not a folder for {path.name}")
                break


def write_all(writers: dict[Path, Callable[[Path], None]]) -> list[Path]:
    """Write every file or none: ``writer(temporary)`` for each, then move all into place.

    Each writer writes its file to a temporary name beside its target. Only when all have
    succeeded are they moved onto the targets (``os.replace``, atomic per file). If any step
    fails, the temporaries and the files already moved are removed, and the error propagates.

    Returns:
        The target paths, in order.
    """
    targets = list(writers)
    check_targets(targets)
    for path in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
    temporaries: list[Path] = []
    moved: list[Path] = []
    try:
        for path, write in writers.items():
            handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                            suffix=".part")
            os.close(handle)
            temporaries.append(Path(name))
            write(Path(name))
        umask = os.umask(0)
        os.umask(umask)
        for partial in temporaries:
            os.chmod(partial, 0o666 & ~umask)
        for partial, path in zip(temporaries, targets, strict=True):
            os.replace(partial, path)
            moved.append(path)
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        raise
    finally:
        for partial in temporaries:
            partial.unlink(missing_ok=True)
    return targets
