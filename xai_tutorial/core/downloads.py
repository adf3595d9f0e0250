"""The one explicit download step (lesson 00): weights that do not ship with the package.

Nothing else in the package touches the network for weights. :func:`fetch` downloads with a
progress bar into a temporary file beside its destination, checks the SHA-256, and only then moves
it into place together with a ``.sha256.json`` record of the verified download, so an interrupted
or corrupt download leaves nothing behind (SIGINT, SIGTERM and SIGHUP included).

Only what was verified is trusted. :meth:`Download.state` is ``"cached"`` only for a file whose
SHA-256 matches the hash known in advance (torchvision's file names carry a prefix of it), or,
where none is known (nbdt's released checkpoints publish none), the hash recorded by a completed,
verified download. A file with no usable record is ``"unverified"`` and a mismatch ``"corrupt"``:
neither is loaded, and :func:`fetch` downloads both again.

Nothing in the cache is trusted to be well-formed. A file outside its download's size range is
``"corrupt"`` before a byte is hashed; a record is read only when it is a small regular file (a
FIFO, a device or a huge or deeply nested document is just "no usable record"); and a checkpoint
whose full hash is not known in advance counts as cached only once loading it found its network's
keys and tensor shapes (:mod:`~xai_tutorial.core.checkpoints`). :func:`load_checkpoint` hands
consumers a state dict checked that way, or one ``CacheError``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._files import (
    Interrupted,
    make_folders,
    os_reason,
    printable,
    publish,
    remove_empty,
    signals_blocked,
    stale_partials,
    temporary_beside,
    unwind_on_signals,
)
from ._network import reason, redact
from .checkpoints import (
    RESNET18,
    WRN28_10_CIFAR10,
    Architecture,
    CheckpointMismatch,
    check_file,
    file_key,
    open_regular,
    read_record,
)
from .checkpoints import read_state_dict as _read_state_dict
from .errors import CacheError, DownloadError

#: Seconds to wait for a download server before giving up.
DOWNLOAD_TIMEOUT = 30.0


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
        min_bytes, max_bytes: the sizes the file can have; any other is refused before hashing.
        architecture: the network the file is a checkpoint of. Without a full ``sha256``, the
            file counts as cached only once loading it found that network's keys and shapes.
    """

    name: str
    url: str
    folder: Callable[[], Path]
    description: str
    sha256: str | None = None
    sha256_prefix: str | None = None
    min_bytes: int = 0
    max_bytes: int | None = None
    architecture: Architecture | None = None

    @property
    def filename(self) -> str:
        return Path(self.url.split("#", 1)[0].split("?", 1)[0]).name

    @property
    def path(self) -> Path:
        return self.folder() / self.filename

    @property
    def record_path(self) -> Path:
        return self.path.with_name(self.path.name + ".sha256.json")

    def is_cached(self) -> bool:
        """Whether a verified copy is cached: ``state() == "cached"``."""
        return self.state() == "cached"

    def state(self) -> str:
        """``"cached"`` (present and verified), ``"corrupt"`` (its size, hash or, without a full
        known hash, its keys and tensor shapes do not match), ``"unverified"`` (present, but no
        known or recorded hash to check it against) or
        ``"not downloaded"``: what listings show and what default choices rely on (no network).

        Raises:
            CacheError: the cache path itself cannot be examined (e.g. a name too long).
        """
        return _inspect(self)[0]


def _looks_at(item: Download) -> os.stat_result | None:
    """``stat`` of the cached file, ``None`` when absent; a CacheError for unusable paths."""
    try:
        return os.stat(item.path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise CacheError(
            f"{item.name}: cannot look at {item.path} ({os_reason(exc)})"
        ) from None


def _size_problem(item: Download, size: int) -> str | None:
    """Why a file of ``size`` bytes cannot be ``item`` (outside its size range), or ``None``."""
    if size >= item.min_bytes and (item.max_bytes is None or size <= item.max_bytes):
        return None
    what = f"a {item.architecture.label} checkpoint" if item.architecture else "this download"
    bounds = (f"{item.min_bytes:,} to {item.max_bytes:,}" if item.max_bytes is not None
              else f"at least {item.min_bytes:,}")
    return f"is {size:,} bytes, not {what} ({bounds} bytes)"


def _needs_loading(item: Download) -> bool:
    """Whether ``item`` counts as cached only once loaded: no full hash, but a known network."""
    return item.architecture is not None and not item.sha256


def _inspect(item: Download) -> tuple[str, str]:
    """The item's state and, for a state other than cached, why."""
    where = printable(item.path)
    info = _looks_at(item)
    if info is None:
        return "not downloaded", f"{where} does not exist"
    if not stat.S_ISREG(info.st_mode):
        return "corrupt", f"{where} is not a regular file"
    recorded = None
    if not (item.sha256 or item.sha256_prefix):
        recorded = read_record(item.record_path)
        if recorded is None:
            return "unverified", (
                f"{where} has no record of a verified download ({item.record_path.name} "
                "is missing or unreadable)"
            )
        if recorded[1] is not None and recorded[1] != info.st_size:
            return "corrupt", (
                f"{where} is {info.st_size:,} bytes, not the {recorded[1]:,} downloaded"
            )
    too = _size_problem(item, info.st_size)
    if too:
        return "corrupt", f"{where} {too}"
    try:
        actual = sha256_of(item.path)
    except OSError as exc:
        return "unverified", f"{where} cannot be read ({os_reason(exc)})"
    if item.sha256:
        expected, ok = item.sha256, actual == item.sha256
    elif item.sha256_prefix:
        expected, ok = item.sha256_prefix, actual.startswith(item.sha256_prefix)
    else:
        assert recorded is not None
        expected, ok = recorded[0], actual == recorded[0]
    if not ok:
        return "corrupt", (
            f"{where} has SHA-256 {actual[:16]}..., which does not match the download's "
            f"({expected[:16]}...)"
        )
    if _needs_loading(item):
        assert item.architecture is not None
        why = check_file(item.path, item.architecture)
        if why:
            return "corrupt", f"{where} is not the {item.architecture.label} checkpoint: {why}"
    return "cached", ""


def _resnet18() -> Download:
    from torch.hub import HASH_REGEX
    from torchvision.models import ResNet18_Weights

    weights = ResNet18_Weights.IMAGENET1K_V1
    match = HASH_REGEX.search(Path(urlsplit(weights.url).path).name)
    mib = weights.meta.get("_file_size")  # MiB to 3 decimals: 44.661
    if isinstance(mib, (int, float)) and mib > 0:
        sizes = math.floor((mib - 0.001) * 2**20), math.ceil((mib + 0.001) * 2**20)
    else:  # 11.7 M float32 parameters: 46.8 MB
        sizes = 40_000_000, 100_000_000
    return Download(
        name="resnet18",
        url=weights.url,
        folder=torch_hub_checkpoints,
        description="torchvision ResNet-18 ImageNet weights (the 2020 tutorial's model, 45 MB)",
        sha256_prefix=match.group(1) if match else None,
        min_bytes=sizes[0],
        max_bytes=sizes[1],
        architecture=RESNET18,
    )


_NBDT_RELEASE = "https://github.com/alvinwan/neural-backed-decision-trees/releases/download/0.0.1/"


def _nbdt_cifar10() -> Download:
    return Download(
        name="nbdt_cifar10",
        url=_NBDT_RELEASE
        + "ckpt-CIFAR10-wrn28_10_cifar10-induced-wrn28_10_cifar10-SoftTreeSupLoss.pth",
        folder=lambda: cache_dir() / "nbdt",
        description="nbdt's WideResNet-28-10 CIFAR-10 NBDT checkpoint (the tutorial's, 140 MB)",
        # 36.5 M float32 numbers, 146 MB (139 MiB): a file under 64 MiB cannot hold them, and
        # one over 320 MiB holds far more than the network.
        min_bytes=64 * 2**20,
        max_bytes=320 * 2**20,
        architecture=WRN28_10_CIFAR10,
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


_HASHES: dict[tuple[object, ...], str] = {}


def sha256_of(path: Path) -> str:
    """The file's SHA-256, hashed once per process while the file is unchanged (same device,
    inode, size, mtime and ctime).

    Raises:
        OSError: it cannot be opened, or is not a regular file (never waits on a FIFO).
    """
    handle, info = open_regular(path)
    with os.fdopen(handle, "rb") as file:
        key = file_key(path, info)
        if key in _HASHES:
            return _HASHES[key]
        digest = hashlib.sha256()
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def _check_download(item: Download, partial: Path) -> str:
    """The SHA-256 of a completed download, once its size, hash and (when :func:`_needs_loading`)
    contents are right.

    Raises:
        DownloadError: the file is not the download; nothing is saved.
    """
    too = _size_problem(item, partial.stat().st_size)
    if too:
        raise DownloadError(f"{item.name}: the downloaded file {too}; nothing was saved")
    actual = sha256_of(partial)
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
    if _needs_loading(item):
        assert item.architecture is not None
        why = check_file(partial, item.architecture)
        if why:
            raise DownloadError(f"{item.name}: the downloaded file is not the "
                                f"{item.architecture.label} checkpoint: {why}; nothing was saved")
    return actual


def _refusal(item: Download, state: str, why: str) -> CacheError:
    """The one-line CacheError for a file that is not ``"cached"``."""
    run = f"`python -m xai_tutorial fetch {item.name}`"
    if state == "not downloaded":
        return CacheError(f"{item.name}: not downloaded yet ({printable(item.path)}); run {run} "
                          "or notebook 00 while online")
    if state == "unverified":
        return CacheError(f"{item.name}: unverified, so not used: {why}; run {run} to download "
                          "a verified copy")
    return CacheError(f"{item.name}: corrupt: {why}; run {run} to download it again")


def verify(item: Download) -> Path:
    """Return the path of a cached file whose hash was verified (:meth:`Download.state`).

    Raises:
        CacheError: the file is missing, unverified (no known or recorded hash) or corrupt.
    """
    state, why = _inspect(item)
    if state != "cached":
        raise _refusal(item, state, why)
    return item.path


def load_checkpoint(item: Download) -> dict[str, Any]:
    """The state dict of a verified checkpoint, ready for ``load_state_dict``.

    With an :attr:`~Download.architecture`, it has exactly that network's keys and tensor shapes
    (nbdt's ``"net"`` entry unwrapped, ``module.`` removed), checked on the very dict returned;
    without one, it is the loaded dict as it is. Loading is ``weights_only`` (plus numpy scalars).

    Raises:
        CacheError: one line: not downloaded, unverified, corrupt, or not the network.
    """
    path = verify(item)
    try:
        return _read_state_dict(path, item.architecture)
    except CheckpointMismatch as exc:
        what = f"the {item.architecture.label} checkpoint" if item.architecture else "a checkpoint"
        raise _refusal(item, "corrupt", f"{printable(path)} is not {what}: {exc}") from None


def _where(url: str) -> str:
    """The host (and port) of ``url`` without credentials, for messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        return f"{host}:{parts.port}" if parts.port else host or redact(url)
    except ValueError:
        return redact(url)


def _make_folder(folder: Path, item: Download) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, deepest first."""
    try:
        return make_folders(folder)
    except OSError as exc:
        raise DownloadError(
            f"{item.name}: cannot create the folder {printable(exc.filename or folder)} "
            f"({os_reason(exc)}); nothing was downloaded"
        ) from None


def fetch(
    name: str | Download,
    *,
    progress: bool = True,
    timeout: float = DOWNLOAD_TIMEOUT,
    force: bool = False,
) -> Path:
    """Download one file into its cache folder, verified, and return its path.

    The bytes go to a temporary file beside the destination, and its ``.sha256.json`` record (size,
    hash, URL) to another; only a complete download whose SHA-256 matches is moved into place, the
    old record removed first and the new one moved last, so a crash in between leaves a file that
    counts as unverified, never one trusted without its record. A file already cached and verified
    is returned as it is; an unverified or corrupt one is downloaded again. SIGINT, SIGTERM and
    SIGHUP during the download remove the temporary files; leftovers of a killed process are
    removed by the next fetch, and folders created by a failed fetch are removed again.

    Args:
        name: a key of :data:`DOWNLOADS`, or a :class:`Download`.
        progress: show a progress bar (tqdm; a widget in Jupyter).
        timeout: seconds to wait for the server to connect or send more data.
        force: download again even when a verified copy is cached.

    Raises:
        DownloadError: the server could not be reached or answered with an error, the transfer
            was cut short or stalled, the hash did not match, or the cache folder cannot be
            written. The message names the download and nothing is left in the cache.
    """
    item = name if isinstance(name, Download) else get_download(name)
    try:
        if not force and item.state() == "cached":
            return item.path
    except CacheError as exc:  # the cache path itself is unusable
        raise DownloadError(f"{exc}; nothing was downloaded") from None
    try:
        _fetch_into_cache(item, progress=progress, timeout=timeout)
    except Interrupted as exc:  # the signal's own handler did not end the process
        raise DownloadError(
            f"{item.name}: interrupted by signal {exc.signum}; nothing was saved"
        ) from None
    return item.path


def _fetch_into_cache(item: Download, *, progress: bool, timeout: float) -> None:
    """:func:`fetch`'s work once the cache is known to hold no verified copy."""
    with unwind_on_signals():
        created = _make_folder(item.path.parent, item)
        try:
            for leftover in stale_partials(item.path) + stale_partials(item.record_path):
                leftover.unlink(missing_ok=True)
            for target in (item.path, item.record_path):
                if target.is_dir():
                    raise DownloadError(
                        f"{item.name}: {target} is a folder, where the download must go; "
                        "remove it and fetch again; nothing was downloaded"
                    )
            _download(item, progress=progress, timeout=timeout)
        except OSError as exc:
            remove_empty(created)
            raise DownloadError(
                f"{item.name}: cannot write in {exc.filename or item.path.parent} "
                f"({os_reason(exc)}); nothing was saved"
            ) from None
        except BaseException:  # including SIGINT, SIGTERM and SIGHUP
            remove_empty(created)
            raise


def _download(item: Download, *, progress: bool, timeout: float) -> None:
    import pooch
    import requests
    import urllib3

    partial = record_partial = None
    try:
        partial = temporary_beside(item.path)
        record_partial = temporary_beside(item.record_path)
        downloader = pooch.HTTPDownloader(progressbar=progress, timeout=timeout, stream=True)
        try:
            downloader(item.url, str(partial), None)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise DownloadError(
                f"{item.name}: {_where(item.url)} answered HTTP {status} for "
                f"{redact(item.url)}; nothing was saved"
            ) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            why = reason(exc, timeout)
            if "closed before" in why:
                why = f"the transfer was cut short ({why})"
            elif why in ("could not connect",) or "refused" in why or "resolved" in why:
                why = f"cannot reach {_where(item.url)} (offline?): {why}"
            elif "did not answer" in why:
                why = f"{_where(item.url)} did not answer within {timeout:g} s"
            raise DownloadError(
                f"{item.name}: {why}; nothing was saved ({redact(item.url)})"
            ) from None
        actual = _check_download(item, partial)
        size = partial.stat().st_size
        record = {"name": item.name, "url": redact(item.url), "size": size, "sha256": actual}
        record_partial.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        with signals_blocked():
            item.record_path.unlink(missing_ok=True)  # an old record never vouches for new bytes
            publish(partial, item.path)
            publish(record_partial, item.record_path)
    finally:
        for leftover in (partial, record_partial):
            if leftover is not None:
                leftover.unlink(missing_ok=True)
