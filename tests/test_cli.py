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
    assert lines[0] == "Prediction: tiger cat"  # 37.89%, just above Egyptian cat (37.52%)
    assert len(lines) == 4 and lines[1].lstrip().startswith("1. tiger cat")
    assert lines[2].lstrip().startswith("2. Egyptian cat")


def test_classify_json(tmp_path):
    result = run("classify", "chelsea", "--json", "--top", "2", cwd=tmp_path)
    payload = json.loads(result.stdout)  # stdout is pure JSON; the model notice is on stderr
    assert payload["model"] == "efficientnet_lite0"
    assert [p["label"] for p in payload["predictions"]][0] == "tiger cat"
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
        (("classify", "chelsea", "--top", "0"), "between 1 and 1000"),
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
    assert lines[0].startswith("Class: Egyptian cat (index 285")  # the whole photo's top class
    assert lines[1] == " * Wrote heatmap to heatmap.jpg"
    assert lines[2] == " * Wrote combined to combined.jpg"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["combined.jpg", "heatmap.jpg"]


@pytest.mark.parametrize(
    "args, words",
    [
        (("--label", "espreso"), "close matches: 'espresso'"),
        (("--class", "1000"), "out of range"),
        (("--alpha", "1.5"), "between 0 (photo only) and 1 (heatmap only)"),
        (("--scale", "log"), "choose one of minmax, shared"),
        (("--label", "cat"), "'tiger cat', 'Persian cat', 'Siamese cat', 'Egyptian cat'"),
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


def _one_error_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("Using ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for word in words:
        assert word in lines[0], lines


def test_cam_writes_both_or_neither(tmp_path):
    (tmp_path / "out" / "combined.jpg").mkdir(parents=True)
    result = run("cam", "chelsea", "--out", "out", cwd=tmp_path)
    _one_error_line(result, "combined.jpg")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["combined.jpg"]


def test_environment_errors_name_the_path(tmp_path):
    (tmp_path / "plain").write_text("a file, not a folder")
    result = run("cam", "chelsea", "--out", "plain/sub", cwd=tmp_path)
    _one_error_line(result, "plain")
    long_name = "a" + "x" * 298 + "z"
    result = run("cam", "chelsea", "--out", long_name, cwd=tmp_path)
    # the path is named, cut in the middle (echoed paths are capped), and the reason stays
    _one_error_line(result, "axxxx", "xxxxz/heatmap.jpg", "...", "too long")
    assert len(result.stderr.strip()) <= 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def test_cache_that_is_a_file(tmp_path):
    (tmp_path / "torch-file").write_text("not a folder")
    env = dict(os.environ, TORCH_HOME=str(tmp_path / "torch-file"))
    result = subprocess.run(
        [sys.executable, "-m", "xai_tutorial", "fetch", "resnet18", "--quiet"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )
    _one_error_line(result, "torch-file")
    listing = subprocess.run(
        [sys.executable, "-m", "xai_tutorial", "classify", "chelsea", "--top", "1"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )
    assert listing.returncode == 0, listing.stderr  # the bundled model needs no cache


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_out(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = run("cam", "chelsea", "--out", "locked", cwd=tmp_path)
    _one_error_line(result, "locked")


def test_fetch_list_shows_a_corrupt_file(tmp_path):
    from xai_tutorial.downloads import get_download

    path = get_download("resnet18").path  # under the test's own TORCH_HOME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not the weights")
    result = run("fetch", "--list", cwd=tmp_path)
    assert result.returncode == 0
    line = next(x for x in result.stdout.splitlines() if x.startswith("resnet18"))
    assert line.split()[1] == "corrupt"
    result = run("classify", "chelsea", "--top", "1", cwd=tmp_path)
    assert result.returncode == 0 and "corrupt" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_bug_keeps_its_traceback(monkeypatch, capsys):
    from xai_tutorial import classification, cli

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(classification, "load_classifier", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["classify", "chelsea"])
    monkeypatch.setattr(classification, "load_classifier",
                        lambda *_a, **_k: (_ for _ in ()).throw(ValueError("plain")))
    with pytest.raises(ValueError, match="plain"):
        cli.main(["classify", "chelsea"])
    monkeypatch.setattr(classification, "load_classifier",
                        lambda *_a, **_k: (_ for _ in ()).throw(OSError("no errno")))
    with pytest.raises(OSError, match="no errno"):
        cli.main(["classify", "chelsea"])
    assert "error:" not in capsys.readouterr().err


def test_user_errors_are_one_line_in_process(monkeypatch, capsys):
    from xai_tutorial import classification, cli
    from xai_tutorial.errors import UnknownNameError

    def unknown(*_: object, **__: object) -> None:
        raise UnknownNameError("model", "vgg", ["a", "b"])

    monkeypatch.setattr(classification, "load_classifier", unknown)
    assert cli.main(["classify", "chelsea"]) == 1
    assert capsys.readouterr().err == "error: 'vgg': no such model; choose one of a, b\n"

    def denied(*_: object, **__: object) -> None:
        raise PermissionError(13, "Permission denied", "/some/cache")

    monkeypatch.setattr(classification, "load_classifier", denied)
    assert cli.main(["classify", "chelsea"]) == 1
    assert capsys.readouterr().err == "error: /some/cache: Permission denied\n"


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


MAX_POOL_MODEL = '''
import torch
from torch import nn

from xai_tutorial import Classifier


class MaxPooled(nn.Module):
    """conv -> ReLU -> AdaptiveMaxPool2d(7) -> Linear: no global average pooling."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=4)
        self.pool = nn.AdaptiveMaxPool2d(7)
        self.fc = nn.Linear(8 * 7 * 7, 10)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.conv(x))).flatten(1))


def max_pooled():
    torch.manual_seed(0)
    return Classifier("max-pooled", MaxPooled(), [f"class {i}" for i in range(10)],
                      resize=64, crop=64)
'''


def test_explain_grad_cam_on_a_model_without_global_average_pooling(tmp_path):
    """Grad-CAM needs no GAP: by default it looks at the last spatial layer (here the max
    pooling's 7 x 7 output); --layer names another; methods without a layer refuse --layer."""
    (tmp_path / "max_pool_model.py").write_text(MAX_POOL_MODEL)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    def explain(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "xai_tutorial", "explain", "chelsea", "--model",
             "max_pool_model:max_pooled", "--json", *args],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)

    for args in ((), ("--layer", "conv")):
        out = tmp_path / ("out" + "_".join(args))
        result = explain("--method", "grad_cam", "--out", str(out), *args)
        assert result.returncode == 0, result.stderr
        assert "Grad-CAM" not in result.stderr
        payload = json.loads(result.stdout)
        assert payload["method"] == "grad_cam" and payload.get("layer") == (args[1:] or [None])[0]
        assert (out / "heatmap.jpg").is_file() and (out / "combined.jpg").is_file()
    for method in ("occlusion", "cam"):
        result = explain("--method", method, "--layer", "conv", "--out", str(tmp_path / method))
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr == f"error: --layer: the method {method!r} takes no layer " \
                                "(grad_cam does)\n"
        assert not (tmp_path / method).exists()
    unknown = explain("--method", "grad_cam", "--layer", "nope", "--out", str(tmp_path / "x"))
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    assert "'nope'" in unknown.stderr and "conv" in unknown.stderr


def test_explain_help_documents_layer(tmp_path):
    result = run("explain", "--help", cwd=tmp_path)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--layer NAME" in text and "grad_cam only" in text and "refused for methods" in text
