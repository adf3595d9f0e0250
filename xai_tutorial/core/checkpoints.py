"""Is this file the network it claims to be? Checkpoints checked by loading them (keys, shapes).

A checkpoint with no full SHA-256 known in advance (torchvision publishes only an 8-hex-digit
prefix; nbdt none at all) counts as the network only after :func:`read_state_dict` has loaded it
safely (``weights_only=True``, memory-mapped, so cheap) and found exactly the keys, tensor shapes
and kinds of dtype of the :class:`Architecture`'s own state dict. :func:`check_file` remembers the
outcome per file (device, inode, size, mtime and ctime), so listings stay fast.

Nothing heavy happens at import: torch, torchvision and pytorchcv are imported when first needed.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._files import os_reason, printable

if TYPE_CHECKING:
    import torch
    from torch import nn

#: One expected entry: its shape and whether it holds floating-point numbers.
Expected = tuple[tuple[int, ...], bool]

#: A ``.sha256.json`` record is a few hundred bytes; anything longer is not one of ours.
RECORD_MAX_BYTES = 4096

#: Key names shown in a message before "and N more".
SHOWN_KEYS = 3


class CheckpointMismatch(ValueError):
    """The file is not a loadable checkpoint of the expected network; the message says why."""


@dataclass(frozen=True)
class Architecture:
    """The network a checkpoint must hold.

    Attributes:
        label: its name in messages (``"ResNet-18"``).
        build: returns the network untrained; it is built on torch's ``meta`` device, so this
            costs neither memory nor initialisation time.
        key: the checkpoint keeps the state dict under this key when it has one (nbdt's
            ``"net"``, as nbdt's own loader reads it); otherwise the checkpoint is the state dict.
            A ``module.`` prefix on every key (a ``DataParallel`` network's) is removed.
    """

    label: str
    build: Callable[[], nn.Module]
    key: str | None = None

    def expected(self) -> dict[str, Expected]:
        """Every state-dict key of the network with its shape and floating-point-ness."""
        if self not in _EXPECTED:
            import torch

            with torch.device("meta"):
                state = self.build().state_dict()
            _EXPECTED[self] = {name: (tuple(value.shape), value.is_floating_point())
                               for name, value in state.items()}
        return _EXPECTED[self]


_EXPECTED: dict[Architecture, dict[str, Expected]] = {}
_CHECKED: dict[tuple[object, ...], str | None] = {}


def _safe_globals() -> list[Any]:
    """What ``weights_only`` loading may build besides tensors: numpy scalars and dtypes, the only
    extra types training checkpoints such as nbdt's hold (e.g. a numpy ``acc``)."""
    import numpy as np

    core = getattr(np, "_core", None) or np.core  # numpy 2 moved numpy.core to numpy._core
    scalar = core.multiarray.scalar
    return [np.dtype, scalar, (scalar, "numpy.core.multiarray.scalar"),  # numpy 1.x pickles
            *(type(np.dtype(kind)) for kind in (np.float64, np.float32, np.int64, np.int32))]


def open_regular(path: Path) -> tuple[int, os.stat_result]:
    """An open descriptor of ``path`` and its ``fstat``: never blocks on a FIFO (``O_NONBLOCK``)
    and refuses anything but a regular file before a byte is read.

    Raises:
        OSError: cannot be opened, or not a regular file (``EINVAL``).
    """
    handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(22, "not a regular file")
        os.set_blocking(handle, True)
    except BaseException:
        os.close(handle)
        raise
    return handle, info


def read_small(path: Path, max_bytes: int) -> bytes | None:
    """The bytes of ``path`` when it is a regular file of at most ``max_bytes``, else ``None``.

    FIFOs, devices, sockets and folders are never opened for reading (``stat`` first, then
    ``fstat`` of a non-blocking descriptor), and a file that grows past the cap is not read whole.
    """
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        handle, info = open_regular(path)
    except (OSError, ValueError):
        return None
    try:
        if info.st_size > max_bytes:
            return None
        with os.fdopen(handle, "rb", closefd=False) as file:
            data = file.read(max_bytes + 1)
        return data if len(data) <= max_bytes else None
    except OSError:
        return None
    finally:
        os.close(handle)


def file_key(path: Path, info: os.stat_result) -> tuple[object, ...]:
    """What identifies one version of a file: path, device, inode, size, mtime and ctime."""
    return (os.fspath(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns,
            info.st_ctime_ns)


def _load(handle: int, path: Path) -> object:
    """``torch.load`` of the open file, ``weights_only``, memory-mapped when it is a zip
    checkpoint (what ``torch.save`` writes since torch 1.6; older ones are read whole)."""
    import torch

    zipped = os.pread(handle, 4, 0) == b"PK\x03\x04"
    # Reopen the very file we checked (not whatever the path names by now) where Linux allows.
    source = f"/proc/self/fd/{handle}" if os.path.exists(f"/proc/self/fd/{handle}") else path
    with torch.serialization.safe_globals(_safe_globals()):
        return torch.load(source, map_location="cpu", weights_only=True, mmap=zipped)


def _names(keys: list[str]) -> str:
    shown = ", ".join(printable(key, 60) for key in keys[:SHOWN_KEYS])
    return shown + (f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else "")


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "a scalar"


def _state_dict(data: object, arch: Architecture) -> dict[str, Any]:
    """The state dict inside ``data`` (see :attr:`Architecture.key`), ``module.`` removed."""
    if arch.key is not None and isinstance(data, dict) and arch.key in data:
        data = data[arch.key]
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        raise CheckpointMismatch(f"holds a {type(data).__name__}, not a {arch.label} state dict")
    if data and all(key.startswith("module.") for key in data):
        data = {key[len("module."):]: value for key, value in data.items()}
    return data


def match(data: object, arch: Architecture) -> dict[str, torch.Tensor]:
    """The state dict in ``data`` when its keys, shapes and dtype kinds are ``arch``'s.

    Raises:
        CheckpointMismatch: one line naming the first differences.
    """
    import torch

    state, expected = _state_dict(data, arch), arch.expected()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        parts = ([f"missing {_names(missing)}"] if missing else []) + (
            [f"unexpected {_names(unexpected)}"] if unexpected else [])
        raise CheckpointMismatch(f"keys do not match {arch.label}: {'; '.join(parts)}")
    wrong = []
    for key, (shape, floating) in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor):
            wrong.append(f"{printable(key, 60)} is a {type(value).__name__}, not a tensor")
        elif tuple(value.shape) != shape:
            wrong.append(f"{printable(key, 60)} is {_shape(tuple(value.shape))}, not "
                         f"{_shape(shape)}")
        elif value.is_floating_point() != floating:
            wrong.append(f"{printable(key, 60)} holds {str(value.dtype).split('.')[-1]}, not "
                         f"{'floating-point' if floating else 'integer'} numbers")
    if wrong:
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise CheckpointMismatch(f"tensors do not match {arch.label}: {wrong[0]}{more}")
    return state


def read_state_dict(path: Path, arch: Architecture | None) -> dict[str, Any]:
    """Load ``path`` safely and return its state dict, checked against ``arch`` when given
    (without one: the loaded dict as it is).

    Raises:
        CheckpointMismatch: not a regular file, not loadable, not a dict, or not ``arch``'s.
    """
    try:
        handle, _ = open_regular(path)
    except OSError as exc:
        raise CheckpointMismatch(f"cannot be read ({os_reason(exc)})") from None
    try:
        data = _load(handle, path)
    except Exception as exc:  # pickle and zip errors come in many types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointMismatch(f"not a loadable checkpoint ({printable(first, 120)})") from None
    finally:
        os.close(handle)
    if arch is None:
        if not isinstance(data, dict):
            raise CheckpointMismatch(f"holds a {type(data).__name__}, not a dict of tensors")
        return data
    return match(data, arch)


def check_file(path: Path, arch: Architecture) -> str | None:
    """Why ``path`` is not a checkpoint of ``arch`` (one line), or ``None`` when it is; loaded
    once per process while the file is unchanged."""
    try:
        key = (*file_key(path, os.stat(path)), arch)
    except OSError as exc:
        return f"cannot be read ({os_reason(exc)})"
    if key not in _CHECKED:
        try:
            read_state_dict(path, arch)
            _CHECKED[key] = None
        except CheckpointMismatch as exc:
            _CHECKED[key] = str(exc)
    return _CHECKED[key]


def read_record(path: Path) -> tuple[str, int | None] | None:
    """The SHA-256 and size recorded by a verified download, or ``None`` when there is no usable
    record: missing, not a small regular file (a FIFO, a device, a folder; never waited on), not
    JSON (or nested too deep), or a null/empty/malformed hash."""
    data = read_small(path, RECORD_MAX_BYTES)
    if data is None:
        return None
    try:
        record = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    digest, size = record.get("sha256"), record.get("size")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        return None
    return digest, size if isinstance(size, int) and not isinstance(size, bool) else None


def _resnet18_network() -> Any:
    from torchvision.models import resnet18

    return resnet18(weights=None)


def _wrn28_10_network() -> Any:
    from pytorchcv.models.wrn_cifar import wrn28_10_cifar10

    return wrn28_10_cifar10()


RESNET18 = Architecture("ResNet-18", _resnet18_network)
#: nbdt's checkpoints: ``{"net": <a DataParallel state dict>, "acc": ..., "epoch": ...}``.
WRN28_10_CIFAR10 = Architecture("WideResNet-28-10", _wrn28_10_network, key="net")
