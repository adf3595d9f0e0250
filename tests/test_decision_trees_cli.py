"""Lesson 03 from the shell: ``nbdt SOURCE --maps DIR`` and ``--model imagenet``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BOOT = str(ROOT / "assets" / "fashion" / "9-ankle-boot.png")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xai_tutorial", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


def test_nbdt_maps_writes_one_overlay_per_decision(tmp_path):
    result = run("nbdt", BOOT, "--model", "fashion", "--maps", "maps", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert len(payload["maps"]) == len(payload["decisions"]) == 4
    written = sorted((tmp_path / "maps").iterdir())
    assert [p.name for p in written] == sorted(Path(p).name for p in payload["maps"])
    assert written[1].name == "02-footwear.png" and Image.open(written[0]).mode == "RGB"


def test_nbdt_maps_writes_nothing_on_bad_input(tmp_path):
    result = run("nbdt", "missing.png", "--model", "fashion", "--maps", "maps", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "maps").exists()


def test_nbdt_imagenet_says_it_is_not_trained_for_trees(tmp_path):
    result = run("nbdt", "chelsea", "--model", "imagenet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "NOT trained for trees" in result.stderr
    assert result.stdout.startswith("Prediction: ") and result.stdout.count("(") >= 3
    # its node names are lists of classes: one decision per line, no 500-character line
    lines = result.stdout.splitlines()
    assert lines[1] == "Decisions:" and lines[2].startswith("  1. ")
    assert max(map(len, lines)) <= 160
