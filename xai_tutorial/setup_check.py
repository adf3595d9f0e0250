"""Lesson 00: is this machine ready? Versions, models, WordNet, and the one download step.

Everything here except :func:`fetch_step` with ``download=True`` works offline.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from importlib import metadata

from .classification import model_status
from .downloads import DOWNLOADS, CacheError, DownloadError, fetch, get_download

PACKAGES = (
    "torch", "torchvision", "numpy", "pillow", "matplotlib", "ipywidgets", "jupyterlab",
    "nbdt", "pytorchcv", "nltk", "networkx", "scikit-image",
)


@dataclass(frozen=True)
class Check:
    """One line of the readiness report."""

    what: str
    state: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.what:<20} {self.state:<16} {self.detail}".rstrip()


def package_versions() -> list[Check]:
    rows = [Check("python", platform.python_version())]
    for name in PACKAGES:
        try:
            rows.append(Check(name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append(Check(name, "MISSING", "run `make setup`"))
    return rows


def wordnet_status() -> Check:
    """Whether nltk can read WordNet offline (needed only to name new NBDT hierarchies)."""
    try:
        import nltk

        nltk.data.find("corpora/wordnet")
    except LookupError:
        return Check("wordnet", "not installed", "optional: names new NBDT hierarchies")
    return Check("wordnet", "available")


def model_checks() -> list[Check]:
    rows = []
    models = model_status()  # verifies cached weights by hash: once
    for name, state in models.items():
        detail = "works offline" if state in ("bundled", "cached") else (
            f"optional: `python -m xai_tutorial fetch {name}`"
        )
        rows.append(Check(name, state, detail))
    for name in DOWNLOADS:
        if name in models:
            continue
        item = get_download(name)
        state = "cached" if item.is_cached() else "not downloaded"
        rows.append(Check(name, state, item.description))
    return rows


def report() -> list[Check]:
    """Everything notebook 00 shows, in order (no network)."""
    return [*package_versions(), *model_checks(), wordnet_status()]


def fetch_step(download: bool = False) -> dict[str, str]:
    """The explicit download step: fetch what is missing when ``download`` is true.

    Never raises for network problems: each item's outcome is printed as one line and returned,
    so the notebook runs to the end offline.
    """
    outcome: dict[str, str] = {}
    for name in DOWNLOADS:
        item = get_download(name)
        if item.is_cached():
            outcome[name] = "cached"
        elif not download:
            outcome[name] = "skipped (set DOWNLOAD = True to fetch)"
        else:
            try:
                fetch(name)
                outcome[name] = "downloaded and verified"
            except (DownloadError, CacheError) as exc:
                outcome[name] = f"not fetched: {exc}"
        print(f"{name}: {outcome[name]}")
    return outcome


def show(rows: list[Check]) -> None:
    """Print report rows, one a line."""
    for row in rows:
        print(row)
