"""Atomic file writes: a file (or a set of files) appears whole, or not at all.

Temporary files are named ``.<name>.<pid>.<random>.part`` beside their destination, so a later
run can tell a leftover of a dead process (removable) from a write still in progress.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
    block fails, nothing is moved and every temporary file is removed.
    """
    partials: list[Path] = []
    try:
        for path in paths:
            partials.append(temporary_beside(path))
        yield tuple(partials)
        for partial, path in zip(partials, paths, strict=True):
            publish(partial, path)
    finally:
        for partial in partials:
            partial.unlink(missing_ok=True)


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
