"""Reading a photo's bytes: from a URL within one deadline and a byte cap, or from a regular file
(never a FIFO or a device) within the same cap. Decoding is :mod:`xai_tutorial.core.images`'.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ._files import os_reason
from ._network import Deadline, reason, shorten
from .errors import ImageLoadError


def read_url(url: str, name: str, timeout: float, max_bytes: int) -> tuple[bytes, str]:
    """The body of ``url`` and its Content-Type, within ``timeout`` seconds in all (connecting,
    status line, headers, redirects and body: one :class:`Deadline`) and ``max_bytes``."""
    try:
        with Deadline(timeout) as deadline, deadline.session() as session:
            late = ImageLoadError(f"{name}: the server took over {timeout:g} s to answer")
            try:
                answer = _request(session, url, name, timeout, max_bytes)
            except Exception:  # requests, urllib3, http.client and socket errors alike
                if deadline.expired:  # what failed was the shut-down socket
                    raise late from None
                raise
            if deadline.expired:  # a shut-down socket can also look like a short answer
                raise late
            return answer
    except ImageLoadError:
        raise
    except Exception as exc:
        if not _is_network_error(exc):
            raise
        why = reason(exc, timeout)
        if "did not answer" in why:
            why = f"the server took over {timeout:g} s to answer"
        elif "refused" in why or "resolved" in why or why == "could not connect":
            why = f"could not connect: {why}"
        raise ImageLoadError(f"{name}: {why}") from None


def _request(session, url: str, name: str, timeout: float, max_bytes: int) -> tuple[bytes, str]:
    """One GET through ``session`` (whose sockets the caller's deadline shuts down)."""
    with session.get(url, stream=True, timeout=(min(timeout, 5.0), timeout)) as response:
        if response.status_code >= 400:
            raise ImageLoadError(
                f"{name}: the server answered HTTP {response.status_code} "
                f"{shorten(str(response.reason), 60)}"
            )
        kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > max_bytes:
            raise ImageLoadError(
                f"{name}: the image is {int(length):,} bytes, over the {max_bytes:,}-byte cap"
            )
        body = bytearray()
        while True:
            # read1 returns what has arrived (at most 64 KiB), so a trickle is timed too.
            chunk = response.raw.read1(64 * 1024, decode_content=True)
            if not chunk:
                break
            body += chunk
            if len(body) > max_bytes:
                raise ImageLoadError(f"{name}: the image is over the {max_bytes:,}-byte cap")
        encoded = response.headers.get("Content-Encoding", "identity").lower()
        if length.isdigit() and encoded in ("", "identity") and len(body) < int(length):
            raise ImageLoadError(
                f"{name}: the connection closed after {len(body):,} of the {int(length):,} "
                "bytes the server announced"
            )
        return bytes(body), shorten(kind, 60)


def _is_network_error(exc: BaseException) -> bool:
    import http.client

    import requests
    import urllib3

    return isinstance(
        exc,
        (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException,
         OSError),
    )


def read_file(path: Path, name: str, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``: FIFOs and devices are never read."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of hanging; the
        # descriptor is checked with fstat before a single byte is read.
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ImageLoadError(f"{name}: {os_reason(exc)}") from None
    try:
        info = os.fstat(handle)
        if stat.S_ISDIR(info.st_mode):
            raise ImageLoadError(f"{name}: is a directory, not an image file")
        if not stat.S_ISREG(info.st_mode):
            raise ImageLoadError(
                f"{name}: is a {_file_kind(info.st_mode)}, not a regular file; only image files "
                "are read"
            )
        if info.st_size > max_bytes:
            raise ImageLoadError(
                f"{name}: the file is {info.st_size:,} bytes, over the {max_bytes:,}-byte cap"
            )
        os.set_blocking(handle, True)
        with os.fdopen(handle, "rb", closefd=False) as file:
            data = file.read(max_bytes + 1)
        if len(data) > max_bytes:  # it grew while we read it
            raise ImageLoadError(f"{name}: the file is over the {max_bytes:,}-byte cap")
        return data
    except OSError as exc:
        raise ImageLoadError(f"{name}: cannot read the file ({os_reason(exc)})") from None
    finally:
        os.close(handle)


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return kind
    return "special file"
