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


def test_cam_writes_both_files_and_json(tmp_path):
    result = run("cam", "cat_and_coffee", "--label", "espresso", "--out", "maps", "--json",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["label"] == "espresso" and payload["index"] == 967
    row, col = payload["peak"]
    assert 0 <= row < 300 and col >= 451  # on the cup, in input-image pixels
    from PIL import Image

    for key in ("heatmap", "combined"):
        assert Image.open(tmp_path / payload[key]).size == (901, 300)


def test_cam_text_output(tmp_path):
    result = run("cam", "chelsea", "--alpha", "0.3", "--scale", "shared", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Class: Egyptian cat (index 285")
    assert lines[1] == " * Wrote heatmap to heatmap.jpg"
    assert lines[2] == " * Wrote combined to combined.jpg"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["combined.jpg", "heatmap.jpg"]


@pytest.mark.parametrize(
    "args, words",
    [
        (("--label", "espreso"), "close matches: 'espresso'"),
        (("--class", "1000"), "out of range"),
        (("--alpha", "1.5"), "not between 0 and 1"),
        (("--cmap", "rainbowz"), "not a matplotlib colormap"),
        (("--class", "3", "--label", "cat"), "not allowed with"),
    ],
)
def test_cam_bad_options_write_nothing(tmp_path, args, words):
    result = run("cam", "chelsea", *args, cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert words in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_cam_out_is_a_file(tmp_path):
    (tmp_path / "taken").write_text("keep")
    result = run("cam", "chelsea", "--out", "taken", cwd=tmp_path)
    assert result.returncode == 1 and "is a file" in result.stderr
    assert (tmp_path / "taken").read_text() == "keep"


SNEAKER = str(Path(__file__).resolve().parents[1] / "assets" / "fashion" / "7-sneaker.png")


def test_nbdt_default_is_the_bundled_fashion_model(tmp_path):
    result = run("nbdt", SNEAKER, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Prediction: Sneaker // Decisions: ")
    assert "footwear (" in result.stdout and result.stdout.count("\n") == 1
    assert "Using the fashion NBDT" in result.stderr and "fetch nbdt_cifar10" in result.stderr


def test_nbdt_json(tmp_path):
    result = run("nbdt", SNEAKER, "--model", "fashion", "--soft", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["model"] == "fashion" and payload["prediction"] == "Sneaker"
    assert set(payload["decisions"][0]) == {"name", "probability"}
    assert payload["decisions"][-1]["name"] == "Sneaker"


@pytest.mark.parametrize(
    "args, words",
    [(("chelsea", "--model", "cifar10"), "fetch nbdt_cifar10"),
     (("missing.png",), "no such file"),
     (("chelsea", "--model", "mnist"), "invalid choice")],
)
def test_nbdt_errors_are_one_line(tmp_path, args, words):
    result = run("nbdt", *args, cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert words in result.stderr
    assert len([line for line in result.stderr.splitlines() if "error: " in line]) == 1
