"""Shared by the URL loader and ``fetch``: credential redaction, whole-word shortening, and one
short reason for every way an HTTP request can fail (requests, urllib3 and socket errors alike).

Nothing here imports requests or urllib3 at module level, so ``import xai_tutorial`` stays light.
"""

from __future__ import annotations

import re
import socket
import ssl

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@?#\s]*)@")


def redact(text: str) -> str:
    """``text`` with the password of every URL's userinfo replaced by ``***``.

    ``http://alice:s3cr3t@host/x`` becomes ``http://alice:***@host/x``; a user name alone is kept.
    Works on malformed URLs too (it is a pattern, not a parser).
    """

    def hide(match: re.Match[str]) -> str:
        user = match.group("user")
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        return f"{match.group('scheme')}{user}@"

    return _USERINFO.sub(hide, text)


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
