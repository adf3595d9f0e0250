"""scripts/install_torch.py: CPU-only torch when its index answers, one line when it does not.

The index is a loopback server here (no network): one that answers, one that hangs, and a port
where nothing listens. ``--dry-run`` prints the pip command instead of running it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install_torch.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--platform", "linux", *args],
                          capture_output=True, text=True, timeout=60)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # free again once closed: nothing listens there


def test_reachable_index_installs_from_it(http_server) -> None:
    index = http_server.add("/whl/cpu/torch/", body=b"<html>torch-2.14.1+cpu</html>")
    index = index.removesuffix("/torch/")
    result = run("--index", index, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1:] == ["-m", "pip", "install", "--quiet", "--index-url", index,
                                         "torch", "torchvision"]


@pytest.mark.parametrize("server", ["nothing listening", "hangs", "404"])
def test_unreachable_index_falls_back_in_one_line(server: str, http_server) -> None:
    if server == "nothing listening":
        index = f"http://127.0.0.1:{closed_port()}/whl/cpu"
    else:
        route = {"hangs": {"delay": 5.0}, "404": {"status": 404}}[server]
        index = http_server.add("/whl/cpu/torch/", **route).removesuffix("/torch/")
    result = run("--index", index, "--timeout", "1", "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and "unreachable" in lines[0] and index in lines[0]
    assert "pip" not in result.stdout


def test_other_platforms_keep_pypi_wheels_silently() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--platform", "darwin", "--dry-run"],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_bad_timeout_is_a_usage_error() -> None:
    result = run("--timeout", "0")
    assert result.returncode == 2 and "--timeout must be positive" in result.stderr
