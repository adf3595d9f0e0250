"""Lesson 00: is this machine ready? Versions, models, WordNet, and the one download step.

Everything here except :func:`fetch_step` with ``download=True`` works offline.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from importlib import metadata

from .classification import model_status
from .core.downloads import DOWNLOADS, CacheError, DownloadError, fetch, get_download

PACKAGES = (
    "torch", "torchvision", "numpy", "pillow", "matplotlib", "ipywidgets", "jupyterlab",
    "nbdt", "pytorchcv", "nltk", "networkx", "scikit-image", "captum", "scipy",
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


#: What each download state means for the learner, one line each.
STATE_DETAIL = {
    "cached": "verified; works offline",
    "not downloaded": "optional: `python -m xai_tutorial fetch {name}`",
    "unverified": "not used: no record of a verified download; `python -m xai_tutorial fetch "
    "{name}` downloads a verified copy",
    "corrupt": "not used: its hash does not match; `python -m xai_tutorial fetch {name}` "
    "downloads it again",
}


def download_state(name: str) -> str:
    """The state of one download (``Download.state``), or ``"error: ..."`` when the cache path
    itself is unusable; never raises for the cache (the report must run to the end)."""
    try:
        return get_download(name).state()
    except CacheError as exc:
        return f"error: {exc}"


def model_checks() -> list[Check]:
    """One row per bundled model and per download: bundled, or the download's state
    (cached, unverified, corrupt, not downloaded), each file hashed once."""
    rows = []
    models = model_status()
    for name, state in models.items():
        if name not in DOWNLOADS:
            rows.append(Check(name, state, "works offline"))
    for name in DOWNLOADS:
        state = download_state(name)
        if state.startswith("error: "):
            rows.append(Check(name, "error", state[len("error: "):]))
        elif state == "not downloaded" and name not in models:
            rows.append(Check(name, state, get_download(name).description))
        else:
            rows.append(Check(name, state, STATE_DETAIL[state].format(name=name)))
    return rows


def fetch_step(download: bool = False) -> dict[str, str]:
    """The explicit download step: fetch what is not cached and verified when ``download`` is true.

    An unverified or corrupt file counts as missing: it is downloaded again. Never raises for
    network or cache problems: each item's outcome is printed as one line and returned, so the
    notebook runs to the end offline.
    """
    outcome: dict[str, str] = {}
    for name in DOWNLOADS:
        state = download_state(name)
        if state == "cached":
            outcome[name] = "cached"
        elif not download:
            skipped = "skipped (set DOWNLOAD = True to fetch)"
            outcome[name] = skipped if state == "not downloaded" else f"{state}; {skipped}"
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
