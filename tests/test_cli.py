"""The command line as a user runs it: real subprocesses, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "xai_tutorial", *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=300,
    )


def test_classify_prints_the_tutorial_line_and_table(tmp_path):
    result = run("classify", "chelsea", "--model", "efficientnet_lite0", "--top", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Prediction: Egyptian cat"
    assert len(lines) == 4 and lines[1].lstrip().startswith("1. Egyptian cat")


def test_classify_json(tmp_path):
    result = run("classify", "chelsea", "--json", "--top", "2", cwd=tmp_path)
    payload = json.loads(result.stdout)  # stdout is pure JSON; the model notice is on stderr
    assert payload["model"] == "efficientnet_lite0"
    assert [p["label"] for p in payload["predictions"]][0] == "Egyptian cat"
    assert set(payload["predictions"][0]) == {"index", "label", "probability"}
    assert "Using efficientnet_lite0" in result.stderr


def _bad_inputs(folder: Path) -> dict[str, str]:
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not a picture")
    (folder / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (folder / "sub").mkdir()
    return {
        str(folder / "missing.jpg"): "no such file",
        str(folder / "empty.jpg"): "empty",
        str(folder / "notes.jpg"): "not an image",
        str(folder / "logo.svg"): "vector format",
        str(folder / "sub"): "directory",
        "ftp://example.org/a.jpg": "scheme",
    }


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    for source, words in _bad_inputs(tmp_path).items():
        before = sorted(p.name for p in tmp_path.iterdir())
        result = run("classify", source, cwd=tmp_path)
        assert result.returncode == 1
        assert result.stdout == ""
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
        assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    "args, words",
    [
        (("classify", "chelsea", "--top", "0"), "not between 1 and 1000"),
        (("classify", "chelsea", "--model", "vgg"), "no such model"),
        (("classify", "chelsea", "--model", "resnet18"), "fetch resnet18"),
        (("fetch", "vgg"), "invalid choice"),
    ],
)
def test_bad_options(tmp_path, args, words):
    result = run(*args, cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert words in result.stderr


def test_fetch_list_is_offline(tmp_path):
    result = run("fetch", "--list", cwd=tmp_path)
    assert result.returncode == 0
    assert "resnet18" in result.stdout and "not downloaded" in result.stdout
