"""Shared by the URL loader and ``fetch``: credential redaction, whole-word shortening, and one
short reason for every way an HTTP request can fail (requests, urllib3 and socket errors alike).

Nothing here imports requests or urllib3 at module level, so ``import xai_tutorial`` stays light.
"""

from __future__ import annotations

import re
import socket
import ssl

#: Query parameters whose values are hidden: names holding any of these words.
_SECRET_KEYS = re.compile(r"(token|key|secret|pass|pwd|auth|sig|credential|session|code)",
                          re.IGNORECASE)
_QUERY_VALUE = re.compile(r"([?&;][^=&#\s]*=)([^&#\s]*)")
_AUTHORITY_END = re.compile(r"[/?#\s]")


def redact(text: str) -> str:
    """``text`` with every URL's credentials hidden: the whole userinfo becomes ``***``, and so
    does the value of a query parameter whose name looks secret (``token``, ``key``, ``sig``,
    ``password``, ...).

    ``http://alice:s3cr3t@host/x`` becomes ``http://***@host/x``, and so does
    ``http://ghp_T0KEN@host/x`` (a user name alone can be the secret). The userinfo ends at the
    *last* ``@`` before the next URL (or the end of the text): a password holding ``@``, ``/``,
    ``#``, ``?``, a quote or a space is hidden whole. Text between a URL's host and a later ``@``
    may be hidden too: over-hiding, never leaking.

    Linear time: each stretch of text between two URLs is read a bounded number of times (a
    pattern, not a parser).
    """
    if "://" not in text:
        return text
    starts = [m.start() for m in re.finditer("://", text)]
    pieces = [text[: starts[0]]]
    for number, found in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(text)
        stretch = text[found + 3:end]  # up to the next URL's "://"
        at = stretch.rfind("@")
        if at >= 0:
            stretch = "***" + stretch[at:]
        host_end = _AUTHORITY_END.search(stretch)
        if host_end is not None:
            rest = stretch[host_end.start():]
            rest = _QUERY_VALUE.sub(
                lambda m: m.group(1) + ("***" if _SECRET_KEYS.search(m.group(1)) else m.group(2)),
                rest)
            stretch = stretch[: host_end.start()] + rest
        pieces.append("://" + stretch)
    return "".join(pieces)


def shorten(text: str, limit: int = 160) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, marked with ``...``."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:([{") + "..."


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, the exceptions it wraps (``args``, ``reason``, ``__cause__``, ``__context__``)."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 20:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        for nested in (
            getattr(current, "reason", None),
            current.__cause__,
            current.__context__,
            *getattr(current, "args", ()),
        ):
            if isinstance(nested, BaseException):
                todo.append(nested)
    return seen


def reason(exc: BaseException, timeout: float | None = None) -> str:
    """One short phrase saying why a request failed (no URL in it: the caller names the input)."""
    chain = _chain(exc)
    names = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain)
    lowered = text.lower()
    wait = f" within {timeout:g} s" if timeout is not None else ""
    if any(isinstance(e, socket.gaierror) for e in chain) or "NameResolutionError" in names or (
        "name or service not known" in lowered or "failed to resolve" in lowered
    ):
        return "the host name could not be resolved (offline, or a typo in the address?)"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in lowered:
        return "the connection was refused (no server is listening there)"
    if names & {"IncompleteRead"} or "incompleteread" in lowered or "ended prematurely" in lowered:
        return "the connection closed before the whole body arrived"
    if names & {"InvalidChunkLength", "ChunkedEncodingError"} or "chunk" in lowered:
        if "incomplete" in lowered or "premature" in lowered:
            return "the connection closed before the whole body arrived"
        return "the server's chunked transfer encoding is broken"
    if names & {"DecodeError", "ContentDecodingError"} or "decompress" in lowered:
        return "the server's content encoding (gzip/deflate) is invalid"
    if names & {"ReadTimeout", "ReadTimeoutError", "ConnectTimeout", "ConnectTimeoutError",
                "Timeout", "TimeoutError"} or any(isinstance(e, TimeoutError) for e in chain):
        return f"the server did not answer{wait}"
    if any(isinstance(e, ssl.SSLError) for e in chain) or "SSLError" in names:
        return "the TLS (https) handshake failed"
    if names & {"InvalidSchema", "URLSchemeUnknown"}:
        return "not an http(s) URL"
    if "content-length" in lowered:
        return "the server sent an invalid or conflicting Content-Length header"
    if names & {"InvalidURL", "MissingSchema", "LocationParseError",
                "InvalidHeader"} or "invalid url" in lowered:
        return "not a valid URL"
    if names & {"TooManyRedirects"}:
        return "too many redirects"
    if any(isinstance(e, ConnectionResetError) for e in chain) or "reset by peer" in lowered:
        return "the server reset the connection"
    if names & {"RemoteDisconnected", "ProtocolError", "BadStatusLine"}:
        return "the server closed the connection or did not speak HTTP"
    if names & {"ConnectionError", "NewConnectionError", "MaxRetryError"}:
        return "could not connect"
    last = chain[-1] if chain else exc
    return shorten(redact(f"{type(last).__name__}: {last}"), 120)


class Deadline:
    """One wall-clock deadline for a whole HTTP request: connecting, the status line, every
    header, ``100 Continue`` answers, redirects and the body.

    ``session()`` gives a ``requests.Session`` whose connections record their sockets; when the
    deadline passes, a timer shuts every one of them down, so whatever the request is blocked on
    (a trickled header, an endless ``100 Continue``, the fifth redirect) fails at once, and
    :attr:`expired` says why. Use it as a context manager; the timer stops on leaving.
    (A host-name lookup that hangs cannot be interrupted this way: it runs before a socket
    exists.)
    """

    def __init__(self, seconds: float) -> None:
        import threading

        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def session(self):
        """A ``requests.Session`` whose every connection (redirects too) obeys this deadline."""
        import requests
        import urllib3
        from requests.adapters import HTTPAdapter
        from urllib3.connection import HTTPConnection, HTTPSConnection

        track = self._track

        class Tracked(HTTPConnection):
            def _new_conn(self):  # type: ignore[override]
                sock = super()._new_conn()
                track(sock)
                return sock

        class TrackedTLS(HTTPSConnection):
            def _new_conn(self):  # type: ignore[override]
                sock = super()._new_conn()
                track(sock)
                return sock

        class Pool(urllib3.HTTPConnectionPool):
            ConnectionCls = Tracked

        class PoolTLS(urllib3.HTTPSConnectionPool):
            ConnectionCls = TrackedTLS

        session = requests.Session()
        for prefix in ("http://", "https://"):
            adapter = HTTPAdapter(max_retries=0)
            adapter.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": PoolTLS}
            session.mount(prefix, adapter)
        return session
