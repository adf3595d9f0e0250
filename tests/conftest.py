"""Shared fixtures: an isolated cache, a loopback HTTP server, and the bundled model."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import matplotlib
import pytest

matplotlib.use("Agg")

#: A stand-in ``gs`` (Ghostscript) first on PATH for the whole session: it records every call in
#: the file ``$XAI_GS_LOG`` and fails. The package must never start Ghostscript (issue 17:
#: Pillow's EPS plugin runs it on untrusted files), so the session ends with the log empty.
GS_STAND_IN = """#!/bin/sh
echo "gs $*" >> "${XAI_GS_LOG:-/dev/null}"
exit 1
"""


@pytest.fixture(scope="session", autouse=True)
def ghostscript_never_runs(tmp_path_factory):
    import os

    folder = tmp_path_factory.mktemp("gs-stand-in")
    gs = folder / "gs"
    gs.write_text(GS_STAND_IN)
    gs.chmod(0o755)
    log = folder / "calls.log"
    old_path, old_log = os.environ.get("PATH", ""), os.environ.get("XAI_GS_LOG")
    os.environ["PATH"] = f"{folder}{os.pathsep}{old_path}"
    os.environ["XAI_GS_LOG"] = str(log)
    yield log
    os.environ["PATH"] = old_path
    if old_log is None:
        os.environ.pop("XAI_GS_LOG", None)
    calls = log.read_text() if log.exists() else ""
    assert not calls, f"Ghostscript was started during the tests:\n{calls}"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/octet-stream"
    delay: float = 0.0  # seconds to wait before sending the body
    drip: float = 0.0  # seconds between 1-byte writes (a slow server)
    truncate_to: int | None = None  # announce len(body) but send only this many bytes
    stall: float = 0.0  # seconds to hang after the headers (then close)
    raw: bytes | None = None  # send exactly these bytes after the status line (broken framing)
    headers: dict[str, str] = field(default_factory=dict)  # extra or replacing headers
    length: int | None = None  # the Content-Length to announce (default: len(body))
    hits: int = 0


@dataclass
class LoopbackServer:
    """A real HTTP server on 127.0.0.1 whose answers the test decides, path by path."""

    base: str
    routes: dict[str, Route] = field(default_factory=dict)

    def add(self, path: str, **kwargs: object) -> str:
        self.routes[path] = Route(**kwargs)  # type: ignore[arg-type]
        return self.base + path


@contextmanager
def serve() -> Iterator[LoopbackServer]:
    """Run a :class:`LoopbackServer` on 127.0.0.1 for the duration of the block."""
    routes: dict[str, Route] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            route = routes.get(self.path)
            if route is None:
                self.send_error(404, "Not Found")
                return
            route.hits += 1
            time.sleep(route.delay)
            self.send_response(route.status)
            if route.raw is not None:  # the rest of the headers and the body, as written
                self.flush_headers()
                self.wfile.write(route.raw)
                self.wfile.flush()
                self.close_connection = True
                return
            headers = {"Content-Type": route.content_type,
                       "Content-Length": str(len(route.body) if route.length is None
                                             else route.length)}
            headers.update(route.headers)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if route.stall:
                self.wfile.flush()
                time.sleep(route.stall)
                self.close_connection = True
                return
            body = route.body if route.truncate_to is None else route.body[: route.truncate_to]
            try:
                if route.drip:
                    for i in range(len(body)):
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(route.drip)
                else:
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass
            if route.truncate_to is not None:
                self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    loopback = LoopbackServer(f"http://127.0.0.1:{server.server_address[1]}", routes)
    try:
        yield loopback
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    with serve() as loopback:
        yield loopback


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets empty download caches: nothing from the developer's machine leaks in."""
    root = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))
    monkeypatch.setenv("XAI_TUTORIAL_CACHE", str(root / "xai"))
    return root


@pytest.fixture(scope="session")
def bundled():
    """The bundled, genuinely pretrained EfficientNet-Lite0 (loaded once per session)."""
    from xai_tutorial import load_classifier

    return load_classifier("efficientnet_lite0")
