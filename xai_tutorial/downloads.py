"""The one explicit download step (lesson 00): weights that do not ship with the package.

Nothing else in the package touches the network for weights. :func:`fetch` downloads with a
progress bar into a temporary file beside its destination, checks the SHA-256, and only then moves
it into place, so an interrupted or corrupt download leaves nothing behind. Where no hash is known
in advance (nbdt's released checkpoints publish none), the size and SHA-256 of the first download
are recorded beside the file and checked on every later load.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ._files import atomic_path

#: Seconds to wait for a download server before giving up.
DOWNLOAD_TIMEOUT = 30.0


class DownloadError(RuntimeError):
    """A download failed or did not verify; nothing was saved."""


class CacheError(RuntimeError):
    """A cached weights file is missing or no longer matches its recorded hash."""


def cache_dir() -> Path:
    """This package's download folder: ``$XAI_TUTORIAL_CACHE`` or ``~/.cache/xai-tutorial``."""
    env = os.environ.get("XAI_TUTORIAL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "xai-tutorial"


def torch_hub_checkpoints() -> Path:
    """torch's hub checkpoint folder (``$TORCH_HOME/hub/checkpoints``), where torchvision looks."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


@dataclass(frozen=True)
class Download:
    """A file the tutorial can fetch: where from, where to, and how to check it.

    Attributes:
        name: the name used by ``python -m xai_tutorial fetch NAME``.
        url: where the file is downloaded from.
        folder: returns the destination folder (evaluated at call time, so env vars apply).
        description: one line for listings.
        sha256: the full expected SHA-256, when known.
        sha256_prefix: the leading hex digits of the SHA-256 (torch hub's file-name convention).
    """

    name: str
    url: str
    folder: Callable[[], Path]
    description: str
    sha256: str | None = None
    sha256_prefix: str | None = None

    @property
    def filename(self) -> str:
        return Path(urlparse(self.url).path).name

    @property
    def path(self) -> Path:
        return self.folder() / self.filename

    @property
    def record_path(self) -> Path:
        return self.path.with_name(self.path.name + ".sha256.json")

    def is_cached(self) -> bool:
        return self.path.is_file()

    def state(self) -> str:
        """``"cached"`` (present and verified), ``"corrupt"``, ``"unverified"`` or
        ``"not downloaded"``: what listings show and what default choices rely on."""
        if not self.path.is_file():
            return "not downloaded"
        try:
            verify(self)
        except CacheError:
            return "corrupt"
        return "cached"


def _resnet18() -> Download:
    from torch.hub import HASH_REGEX
    from torchvision.models import ResNet18_Weights

    url = ResNet18_Weights.IMAGENET1K_V1.url
    match = HASH_REGEX.search(Path(urlparse(url).path).name)
    return Download(
        name="resnet18",
        url=url,
        folder=torch_hub_checkpoints,
        description="torchvision ResNet-18 ImageNet weights (the 2020 tutorial's model, 45 MB)",
        sha256_prefix=match.group(1) if match else None,
    )


_NBDT_RELEASE = "https://github.com/alvinwan/neural-backed-decision-trees/releases/download/0.0.1/"


def _nbdt_cifar10() -> Download:
    return Download(
        name="nbdt_cifar10",
        url=_NBDT_RELEASE
        + "ckpt-CIFAR10-wrn28_10_cifar10-induced-wrn28_10_cifar10-SoftTreeSupLoss.pth",
        folder=lambda: cache_dir() / "nbdt",
        description="nbdt's WideResNet-28-10 CIFAR-10 NBDT checkpoint (the tutorial's, 140 MB)",
    )


#: Everything ``fetch`` knows, by name. Values are factories so nothing heavy runs at import.
DOWNLOADS: dict[str, Callable[[], Download]] = {
    "resnet18": _resnet18,
    "nbdt_cifar10": _nbdt_cifar10,
}


def get_download(name: str) -> Download:
    try:
        return DOWNLOADS[name]()
    except KeyError:
        raise DownloadError(
            f"{name!r}: nothing to fetch by that name; choose one of {', '.join(DOWNLOADS)}"
        ) from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_hash(item: Download, actual: str) -> None:
    if item.sha256 and actual != item.sha256:
        raise DownloadError(
            f"{item.name}: downloaded file has SHA-256 {actual[:16]}..., expected "
            f"{item.sha256[:16]}...; nothing was saved"
        )
    if item.sha256_prefix and not actual.startswith(item.sha256_prefix):
        raise DownloadError(
            f"{item.name}: downloaded file has SHA-256 {actual[:16]}..., expected it to start "
            f"with {item.sha256_prefix}; nothing was saved"
        )


def verify(item: Download) -> Path:
    """Check a cached file against its known or recorded hash; return its path.

    Raises:
        CacheError: the file is missing, or its SHA-256 differs from what is expected/recorded.
    """
    path = item.path
    if not path.is_file():
        raise CacheError(
            f"{item.name}: not downloaded yet ({path}); run `python -m xai_tutorial fetch "
            f"{item.name}` or notebook 00 while online"
        )
    expected = item.sha256
    if item.record_path.is_file():
        try:
            record = json.loads(item.record_path.read_text())
            expected = expected or record["sha256"]
        except (ValueError, KeyError, TypeError):
            raise CacheError(
                f"{item.name}: the hash record {item.record_path} is unreadable; delete "
                f"{path} and fetch it again"
            ) from None
    actual = sha256_of(path)
    ok = actual == expected if expected else True
    if item.sha256_prefix:
        ok = ok and actual.startswith(item.sha256_prefix)
    if not ok:
        raise CacheError(
            f"{item.name}: {path} has SHA-256 {actual[:16]}..., which does not match the "
            f"download's; delete it and run `python -m xai_tutorial fetch {item.name}`"
        )
    return path


def fetch(
    name: str | Download,
    *,
    progress: bool = True,
    timeout: float = DOWNLOAD_TIMEOUT,
    force: bool = False,
) -> Path:
    """Download one file into its cache folder, verified, and return its path.

    The bytes go to a temporary file beside the destination; only a complete download whose
    SHA-256 matches is moved into place (``os.replace``, atomic), with a ``.sha256.json`` record of
    its size, hash and URL. A file already cached is verified instead of downloaded again.

    Args:
        name: a key of :data:`DOWNLOADS`, or a :class:`Download`.
        progress: show a progress bar (tqdm; a widget in Jupyter).
        timeout: seconds to wait for the server.
        force: download again even when a verified copy is cached.

    Raises:
        DownloadError: the server could not be reached or answered with an error, the transfer was
            cut short, or the hash did not match. Nothing is left in the cache.
    """
    import pooch
    import requests

    item = name if isinstance(name, Download) else get_download(name)
    if item.is_cached() and not force:
        try:
            return verify(item)
        except CacheError:
            pass  # a stale or corrupt copy: download a fresh one over it
    item.path.parent.mkdir(parents=True, exist_ok=True)
    host = urlparse(item.url).netloc
    with atomic_path(item.path) as partial:
        downloader = pooch.HTTPDownloader(progressbar=progress, timeout=timeout, stream=True)
        try:
            downloader(item.url, str(partial), None)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise DownloadError(
                f"{item.name}: {host} answered HTTP {status} for {item.url}; nothing was saved"
            ) from None
        except requests.Timeout:
            raise DownloadError(
                f"{item.name}: {host} did not answer within {timeout:g} s; nothing was saved"
            ) from None
        except requests.RequestException as exc:
            text = str(exc)
            if "IncompleteRead" in text or "Connection broken" in text:
                reason = "the transfer was cut short"
            elif isinstance(exc, requests.ConnectionError):
                reason = f"cannot reach {host} (offline?)"
            else:
                reason = f"download failed ({text[:160]})"
            raise DownloadError(f"{item.name}: {reason}; nothing was saved") from None
        actual = sha256_of(partial)
        _check_hash(item, actual)
        size = partial.stat().st_size
    record = {"name": item.name, "url": item.url, "size": size, "sha256": actual}
    with atomic_path(item.record_path) as partial:
        partial.write_text(json.dumps(record, indent=2) + "\n")
    return item.path


def status() -> dict[str, bool]:
    """Which fetchable files are already cached, by name (no network)."""
    return {name: factory().is_cached() for name, factory in DOWNLOADS.items()}
