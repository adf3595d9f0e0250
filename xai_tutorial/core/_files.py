"""Atomic file writes: a file (or a set of files) appears whole, or not at all.

Temporary files are named ``.<name>.<pid>.<random>.part`` beside their destination, so a later
run can tell a leftover of a dead process (removable) from a write still in progress.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError


def temporary_beside(path: Path) -> Path:
    """Create an empty ``.<name>.<pid>.<random>.part`` file beside ``path``; return its path."""
    handle, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".part"
    )
    os.close(handle)
    return Path(name)


def publish(partial: Path, path: Path) -> None:
    """Give ``partial`` the usual permissions (0o666 less the umask) and move it onto ``path``."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(partial, 0o666 & ~umask)
    os.replace(partial, path)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, move it onto ``path``.

    The temporary file is removed if the block fails, and the final file gets the usual
    permissions, not ``mkstemp``'s private ``0o600``.
    """
    with atomic_paths(path) as (partial,):
        yield partial


@contextmanager
def atomic_paths(*paths: Path) -> Iterator[tuple[Path, ...]]:
    """Yield one temporary path per target; when the block succeeds, move them all into place.

    Every temporary file is created before the block runs (so an unwritable target fails before
    any work) and written by the block; only then are they moved, in the order given. If the
    block fails, nothing is moved; if a move fails, the files already moved are removed again.
    Either way every temporary file is removed: all the targets appear, or none.
    """
    check_targets(paths)
    partials: list[Path] = []
    moved: list[Path] = []
    try:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            partials.append(temporary_beside(path))
        yield tuple(partials)
        for partial, path in zip(partials, paths, strict=True):
            publish(partial, path)
            moved.append(path)
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        raise
    finally:
        for partial in partials:
            partial.unlink(missing_ok=True)


def check_targets(paths: Sequence[Path]) -> None:
    """Refuse, before anything is written, targets that cannot become files.

    Raises:
        InputError: a target is a directory, or one of its folders is a file.
    """
    for path in paths:
        if path.is_dir():
            raise InputError(f"{str(path)!r}: is a folder; cannot write a file there")
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise InputError(f"{str(parent)!r}: is a file, not a folder for {path.name}")
                break


def stale_partials(path: Path) -> list[Path]:
    """Leftover ``.part`` files of ``path`` whose writing process is gone (safe to remove)."""
    prefix = f".{path.name}."
    try:
        candidates = [p for p in path.parent.iterdir()
                      if p.name.startswith(prefix) and p.name.endswith(".part")]
    except OSError:
        return []
    stale = []
    for candidate in candidates:
        rest = candidate.name[len(prefix):]
        written = re.fullmatch(r"(\d+)\.[^.]+\.part", rest)
        if written:
            pid = int(written.group(1))
            if pid == os.getpid() or _alive(pid):
                continue  # still being written
        elif not re.fullmatch(r"[^.]+\.part", rest):
            continue  # another file's (e.g. ``.name.sha256.json.<pid>...``)
        stale.append(candidate)  # a dead writer's, or an unnamed leftover of an older version
    return stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def os_reason(exc: OSError) -> str:
    """What went wrong with a path, in a few plain words (for one-line error messages)."""
    if exc.errno == errno.ELOOP:
        return "a symbolic link loop (the link points, directly or not, at itself)"
    if exc.errno == errno.ENOENT:
        return "no such file"
    if exc.errno == errno.ENAMETOOLONG:
        return "a name in the path is too long"
    return (exc.strerror or str(exc)).lower() if exc.strerror else str(exc)
