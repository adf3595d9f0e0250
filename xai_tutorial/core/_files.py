"""Atomic file writes: a file (or a set of files) appears whole, or not at all.

Temporary files are named ``.<name>.<pid>.<random>.part`` beside their destination, so a later
run can tell a leftover of a dead process (removable) from a write still in progress.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError, WriteError


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
def atomic_path(path: Path, *, verify: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, move it onto ``path``.

    The temporary file is removed if the block fails, and the final file gets the usual
    permissions, not ``mkstemp``'s private ``0o600``. See :func:`atomic_paths`.
    """
    with atomic_paths(path, verify=verify) as (partial,):
        yield partial


@contextmanager
def atomic_paths(*paths: Path, verify: Callable[[Path], None] | None = None) -> Iterator[
    tuple[Path, ...]
]:
    """Yield one temporary path per target; when the block succeeds, move them all into place.

    Every temporary file is created before the block runs (so an unwritable target fails before
    any work) and written by the block. Then each is flushed to disk (``fsync``, which surfaces a
    full disk that the write itself did not report), must be non-empty, and is read back by
    ``verify`` (e.g. decoded) when given: only a file that is whole counts as written. Only then
    are they moved, in the order given, with SIGTERM/SIGHUP/SIGINT held back. If the block or a
    check fails, nothing is moved; if a move fails, the files already moved are removed again.
    Either way every temporary file is removed: all the targets appear, or none. SIGTERM and
    SIGHUP while the block runs unwind it like Ctrl-C (the temporary files go), then end the
    process as the signal would have. Leftover temporary files of a writer that died are removed
    before writing.

    Raises:
        InputError: a target cannot be a file (see :func:`check_targets`).
        WriteError: a file was not written whole (a full disk or a file-size limit).
    """
    check_targets(paths)
    partials: list[Path] = []
    created: list[Path] = []
    with unwind_on_signals():
        try:
            for path in paths:
                created += make_folders(path.parent)
                for leftover in stale_partials(path):
                    leftover.unlink(missing_ok=True)
                partials.append(temporary_beside(path))
            try:
                yield tuple(partials)
            except OSError as exc:
                raise _named(exc, paths) from None
            for partial, path in zip(partials, paths, strict=True):
                check_written(partial, path, verify)
            with signals_blocked():
                _publish_all(partials, paths)
        except BaseException:
            for partial in partials:
                partial.unlink(missing_ok=True)
            remove_empty(created)
            raise
        finally:
            for partial in partials:
                partial.unlink(missing_ok=True)


def _publish_all(partials: Sequence[Path], paths: Sequence[Path]) -> None:
    """Move every partial onto its target; if one move fails, put back what was there before.

    Each existing target is first hard-linked to a backup beside it (a copy where links are not
    allowed), so a failed later move restores the earlier targets exactly: the old pair stays
    whole, never half old and half new, and nothing old is lost.
    """
    backups: dict[Path, Path | None] = {}
    try:
        for partial, path in zip(partials, paths, strict=True):
            backups[path] = _backup(path)
            publish(partial, path)
    except BaseException:
        for path, backup in backups.items():
            if backup is not None:
                os.replace(backup, path)
            else:
                path.unlink(missing_ok=True)
        raise
    finally:
        for backup in backups.values():
            if backup is not None:
                backup.unlink(missing_ok=True)


def _backup(path: Path) -> Path | None:
    """A hard link (or copy) of the existing regular file ``path`` beside it, or ``None``."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
    except FileNotFoundError:
        return None
    backup = temporary_beside(path)
    backup.unlink()
    try:
        os.link(path, backup)
    except OSError:
        shutil.copy2(path, backup)
    return backup


def _named(exc: OSError, paths: Sequence[Path]) -> OSError:
    """A write error that names the output, not the temporary file (a full disk, a file-size
    limit: ``write`` errors carry no file name)."""
    if exc.errno in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
        where = paths[0].parent if len(paths) > 1 else paths[0]
        return WriteError(f"{printable(where)}: could not write ({os_reason(exc)}); nothing was "
                          "written")
    return exc


def make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, deepest first."""
    missing: list[Path] = []
    current = folder
    while not os.path.lexists(current) and current != current.parent:
        missing.append(current)
        current = current.parent
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def remove_empty(folders: Sequence[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty: what a failed write created."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            break


def check_written(partial: Path, path: Path, verify: Callable[[Path], None] | None) -> None:
    """Flush ``partial`` to disk, and refuse it when empty or when ``verify`` cannot read it.

    Raises:
        WriteError: naming ``path`` (the file it was to become) and what was wrong.
    """
    try:
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        size = os.stat(partial).st_size
    except OSError as exc:
        raise WriteError(f"{printable(path)}: could not be written whole ({os_reason(exc)}); "
                         "nothing was written") from None
    if size == 0:
        raise WriteError(f"{printable(path)}: the file came out empty (a full disk or a file-size "
                         "limit?); nothing was written")
    if verify is not None:
        try:
            verify(partial)
        except Exception as exc:  # whatever the reader says: it is not whole
            raise WriteError(
                f"{printable(path)}: the written file does not read back whole ({size:,} bytes: "
                f"{printable(str(exc), 100)}); a full disk or a file-size limit? nothing was "
                "written"
            ) from None


def check_targets(paths: Sequence[Path]) -> None:
    """Refuse, before anything is written, targets that cannot become files.

    Raises:
        InputError: a target is a directory, one of its folders is a file, or a symbolic link
            loop is in the way.
    """
    for path in paths:
        try:
            os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InputError(f"{printable(path)}: {os_reason(exc)}") from None
        if path.is_dir():
            raise InputError(f"{printable(path)}: is a folder; cannot write a file there")
        for parent in path.parents:
            try:
                os.stat(parent)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise InputError(f"{printable(parent)}: {os_reason(exc)}") from None
                if os.path.islink(parent):  # a dangling link where a folder must be
                    raise InputError(f"{printable(parent)}: is a broken symbolic link, not a "
                                     f"folder for {printable(path.name)}") from None
                continue
            if not parent.is_dir():
                raise InputError(f"{printable(parent)}: is a file, not a folder for "
                                 f"{printable(path.name)}")
            break


class Interrupted(BaseException):
    """SIGTERM or SIGHUP inside :func:`unwind_on_signals`: unwinds the block (``finally`` clauses
    remove partial files), then the signal is delivered again with the handler that was there."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))

#: Non-empty while an :func:`unwind_on_signals` block owns the handlers (one owner at a time).
_unwinding: list[bool] = []


@contextmanager
def unwind_on_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into :class:`Interrupted` inside the block (SIGINT already raises
    ``KeyboardInterrupt``), so ``finally`` clauses run; re-deliver the signal afterwards (the
    default ends the process). Nested blocks and other threads leave the handlers alone."""
    if threading.current_thread() is not threading.main_thread() or _unwinding:
        yield
        return
    previous: dict[int, object] = {}

    def handler(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    for sig in SIGNALS:
        old = signal.getsignal(sig)
        if old in (signal.SIG_IGN, None):
            continue
        previous[sig] = old
        signal.signal(sig, handler)
    _unwinding.append(True)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)  # type: ignore[arg-type]
        previous.clear()

    try:
        yield
    except Interrupted as exc:
        restore()
        os.kill(os.getpid(), exc.signum)  # the previous handler (default: terminate) runs now
        raise
    finally:
        _unwinding.clear()
        restore()


@contextmanager
def signals_blocked() -> Iterator[None]:
    """Hold SIGTERM/SIGHUP/SIGINT back while files move into place (they arrive afterwards)."""
    if not hasattr(signal, "pthread_sigmask") or (
        threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    held = {*SIGNALS, signal.SIGINT}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


#: Longest path or name echoed in a message.
SHOWN_CHARS = 160


def escaped(text: str) -> str:
    """``text`` with every control character (newline, escape, ...) written out as ``\\n``,
    ``\\x1b``, ...: shown on a terminal, never obeyed by it."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def printable(text: object, limit: int = SHOWN_CHARS) -> str:
    """``text`` safe for one terminal line: control characters (newlines, escape sequences)
    shown as ``\\n``, ``\\x1b``, ...; cut to ``limit`` characters with ``...`` in the middle."""
    value = str(text)
    if len(value) > 4 * limit:
        value = value[: 2 * limit] + value[-2 * limit:]
    shown = escaped(value)
    if len(shown) <= limit:
        return shown
    half = (limit - 3) // 2
    return shown[:half] + "..." + shown[-half:]


def target_of(path: object) -> str:
    """The file a temporary ``.<name>.<pid>.<random>.part`` stands for (``path`` itself
    otherwise): what a message should name."""
    text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
    folder, name = os.path.split(text)
    match = re.fullmatch(r"\.(.+)\.\d+\.[^.]+\.part", name)
    return os.path.join(folder, match.group(1)) if match else text


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
