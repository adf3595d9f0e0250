"""Binder's environment.yml and pyproject.toml name the same packages; no binder/ folder."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]

# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    conda, pip, section = set(), set(), None
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith(":"):
            section = stripped[:-1].lstrip("- ")
            continue
        if stripped.startswith("- ") and section in ("dependencies", "pip"):
            name = _name(stripped[2:])
            if name in ("python", "pip", "cpuonly"):
                continue
            (pip if section == "pip" else conda).add(CONDA_TO_PYPI.get(name, name))
    assert conda | pip == wanted, (sorted((conda | pip) - wanted), sorted(wanted - (conda | pip)))


def test_binder_files_at_the_root():
    assert not (ROOT / "binder").exists()  # repo2docker would read only that folder
    post_build = (ROOT / "postBuild").read_text()
    assert "pip install" in post_build and "fetch" in post_build
    assert "cpuonly" in (ROOT / "environment.yml").read_text() or "cpu" in (
        ROOT / "environment.yml"
    ).read_text()


def test_binder_start_gives_kernels_one_thread(tmp_path):
    """repo2docker runs ``start`` before JupyterLab: kernels inherit one OpenMP thread (Binder's
    one CPU is a quota torch cannot see), unless the user set their own."""
    import os
    import subprocess

    start = ROOT / "start"
    assert os.access(start, os.X_OK)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    shown = subprocess.run([str(start), "sh", "-c", "echo $OMP_NUM_THREADS $MKL_NUM_THREADS"],
                           env=env, capture_output=True, text=True, check=True).stdout.split()
    assert shown == ["1", "1"]
    env["OMP_NUM_THREADS"] = "4"
    kept = subprocess.run([str(start), "sh", "-c", "echo $OMP_NUM_THREADS"], env=env,
                          capture_output=True, text=True, check=True).stdout.strip()
    assert kept == "4"
