"""Hostile cache contents (issue 17, #6): records and checkpoints that used to hang or crash.

A ``.sha256.json`` record is read only when it is a small regular file; a checkpoint outside its
size range is refused before a byte is hashed; and a checkpoint without a full known hash counts
as cached only once loading it found its network's keys and tensor shapes. Every case runs under
a deadline (a hang fails the test instead of stalling the run) and every refusal is one line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from xai_tutorial import CacheError, DownloadError, fetch
from xai_tutorial.core import checkpoints
from xai_tutorial.core import downloads as dl
from xai_tutorial.core.checkpoints import Architecture

#: Seconds any one hostile case may take: a hang detector, not a speed goal.
DEADLINE = 10.0


class Hung(Exception):
    pass


@contextmanager
def deadline(seconds: float = DEADLINE) -> Iterator[None]:
    """Fail with :class:`Hung` instead of waiting forever (a FIFO open, an endless read)."""

    def alarm(signum: int, frame: object) -> None:
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def one_line(message: str, *words: str) -> None:
    assert "\n" not in message and "Traceback" not in message, message
    for word in words:
        assert word.lower() in message.lower(), (word, message)


class TinyNet(nn.Module):
    """A float weight, a float bias and an integer buffer (BatchNorm's ``num_batches_tracked``)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.bn = nn.BatchNorm1d(2)


TINY = Architecture("TinyNet", TinyNet)
TINY_NBDT = Architecture("TinyNet", TinyNet, key="net")  # nbdt's {"net": ..., "acc": ...}


def item_at(folder: Path, arch: Architecture | None = TINY, **fields: object) -> dl.Download:
    folder.mkdir(parents=True, exist_ok=True)
    return dl.Download("tiny", "http://127.0.0.1:9/tiny.pth", lambda: folder, "a test checkpoint",
                       architecture=arch, **fields)  # type: ignore[arg-type]


def save(path: Path, data: object, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(data, buffer, **kwargs)  # type: ignore[arg-type]
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def record(item: dl.Download, size: int | None = None) -> None:
    """A record that vouches for whatever the cached file holds now (a matching hash)."""
    digest = hashlib.sha256(item.path.read_bytes()).hexdigest()
    size = item.path.stat().st_size if size is None else size
    item.record_path.write_text(json.dumps({"sha256": digest, "size": size}))


def refused_as(item: dl.Download, state: str, *words: str) -> str:
    """``item`` is in ``state``; verify and load_checkpoint say so in one line."""
    with deadline():
        assert item.state() == state
        with pytest.raises(CacheError) as caught:
            dl.verify(item)
        one_line(str(caught.value), state, *words)
        with pytest.raises(CacheError) as loading:
            dl.load_checkpoint(item)
        one_line(str(loading.value), state, *words)
    return str(caught.value)


def no_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(path: Path) -> str:
        raise AssertionError(f"{path} was hashed")

    monkeypatch.setattr(dl, "sha256_of", fail)


# ----------------------------------------------------------------------------------------------
# Records: only a small regular file is read; anything else is "no usable record"


def hostile_record(path: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev_zero":
        path.symlink_to("/dev/zero")
    elif kind == "deep":
        path.write_text("[" * 200_000 + "]" * 200_000)
    elif kind == "deep_within_cap":  # small enough to be read: the parser must cope
        path.write_text('{"sha256": ' + "[" * 2000 + "]" * 2000 + "}")
    elif kind == "huge":
        path.write_text('{"sha256": "' + "0" * 64 + '", "pad": "' + "x" * 10_000_000 + '"}')
    elif kind == "sparse":
        with open(path, "wb") as handle:
            handle.truncate(100 * 2**30)
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00{" * 100)


RECORDS = ["fifo", "dev_zero", "deep", "deep_within_cap", "huge", "sparse", "binary"]


@pytest.mark.parametrize("kind", RECORDS)
def test_hostile_record_is_no_record(tmp_path, kind):
    item = item_at(tmp_path)
    save(item.path, TinyNet().state_dict())
    hostile_record(item.record_path, kind)
    started = time.monotonic()
    refused_as(item, "unverified", "no record")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("kind", RECORDS)
def test_hostile_record_beside_the_real_downloads(kind, monkeypatch, capsys):
    """Every default command looks at both records: none may hang, crash or trust them."""
    from xai_tutorial.classification import default_model_name
    from xai_tutorial.cli import main
    from xai_tutorial.decision_trees import default_nbdt_name

    for name in ("nbdt_cifar10", "resnet18"):
        item = dl.get_download(name)
        item.path.parent.mkdir(parents=True, exist_ok=True)
        item.path.write_bytes(b"a hand-placed file")
        hostile_record(item.record_path, kind)
    with deadline():
        assert dl.get_download("nbdt_cifar10").state() == "unverified"
        assert dl.get_download("resnet18").state() == "corrupt"  # refused by its size
        assert default_model_name()[0] == "efficientnet_lite0"
        assert default_nbdt_name()[0] == "fashion"
        assert main(["fetch", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "unverified" in listing and "corrupt" in listing, listing


def test_resnet18_record_is_never_read(monkeypatch):
    """Its hash is known (a prefix of it), so a record beside it is not consulted at all."""
    monkeypatch.setattr(dl, "read_record", lambda path: pytest.fail(f"{path} was read"))
    item = dl.get_download("resnet18")
    item.path.parent.mkdir(parents=True)
    item.path.write_bytes(b"x")
    os.mkfifo(item.record_path)
    with deadline():
        assert item.state() == "corrupt"


def test_hashing_a_fifo_never_waits(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with deadline(), pytest.raises(OSError, match="not a regular file"):
        dl.sha256_of(fifo)


# ----------------------------------------------------------------------------------------------
# Checkpoints refused by size before hashing


def sparse(path: Path, size: int = 100 * 2**30) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)


def test_100_gb_sparse_resnet18_is_refused_by_size_unhashed(monkeypatch):
    item = dl.get_download("resnet18")
    sparse(item.path)
    no_hashing(monkeypatch)
    started = time.monotonic()
    message = refused_as(item, "corrupt", "107,374,182,400 bytes", "not a ResNet-18 checkpoint")
    assert time.monotonic() - started < 1, "not refused at once"
    assert str(item.path) in message


def test_100_gb_sparse_nbdt_checkpoint_with_a_matching_record_is_refused(monkeypatch):
    item = dl.get_download("nbdt_cifar10")
    sparse(item.path)
    item.record_path.write_text(json.dumps({"sha256": "0" * 64, "size": 100 * 2**30}))
    no_hashing(monkeypatch)
    started = time.monotonic()
    refused_as(item, "corrupt", "bytes, not a WideResNet-28-10 checkpoint")
    assert time.monotonic() - started < 1


def test_the_real_downloads_size_ranges():
    resnet, wrn = dl.get_download("resnet18"), dl.get_download("nbdt_cifar10")
    # torchvision's _file_size (44.661 MiB) gives the size to a kilobyte or so; the released
    # resnet18-f37072fd.pth is 46,830,571 bytes.
    assert resnet.min_bytes <= 46_830_571 <= resnet.max_bytes
    assert resnet.max_bytes - resnet.min_bytes < 4096
    params = sum(int(np.prod(shape)) * 4 for shape, _ in wrn.architecture.expected().values())
    assert wrn.min_bytes < params < wrn.max_bytes <= 3 * params


def test_a_download_outside_the_size_range_is_not_saved(http_server, tmp_path):
    url = http_server.add("/tiny.pth", body=b"z" * 5000)
    item = dataclasses.replace(item_at(tmp_path / "c"), url=url, max_bytes=4000)
    with deadline(), pytest.raises(DownloadError) as caught:
        fetch(item, progress=False)
    one_line(str(caught.value), "5,000 bytes", "nothing was saved")
    assert list((tmp_path / "c").iterdir()) == []


# ----------------------------------------------------------------------------------------------
# Checkpoints without a full known hash: loaded and compared (keys, shapes) before they count


def test_wrong_keys_with_a_matching_record_is_corrupt(tmp_path):
    item = item_at(tmp_path)
    save(item.path, {"conv.weight": torch.zeros(2, 3), "fc.weight": torch.zeros(2, 3)})
    record(item)
    message = refused_as(item, "corrupt", "keys do not match TinyNet", "missing fc.bias",
                         "unexpected conv.weight")
    assert "fetch tiny" in message


def test_right_keys_wrong_shapes_is_corrupt(tmp_path):
    item = item_at(tmp_path)
    state = TinyNet().state_dict()
    state["fc.weight"] = torch.zeros(2, 4)
    save(item.path, state)
    record(item)
    refused_as(item, "corrupt", "tensors do not match TinyNet", "fc.weight is 2x4, not 2x3")


@pytest.mark.parametrize("value, words", [
    (torch.zeros(2, dtype=torch.int64), "bn.weight holds int64, not floating-point"),
    (np.float64(1.0), "bn.weight is a float64, not a tensor"),
])
def test_right_keys_wrong_kind_of_value_is_corrupt(tmp_path, value, words):
    item = item_at(tmp_path)
    state = dict(TinyNet().state_dict(), **{"bn.weight": value})
    save(item.path, state)
    record(item)
    refused_as(item, "corrupt", words)


@pytest.mark.parametrize("content", ["garbage", "list", "exploit", "empty"])
def test_not_a_state_dict_is_corrupt(tmp_path, content):
    item = item_at(tmp_path)

    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned > pwned.txt",))

    if content == "garbage":
        item.path.write_bytes(b"PK\x03\x04 not really a zip")
    elif content == "list":
        save(item.path, [torch.zeros(1)])
    elif content == "exploit":
        save(item.path, {"fc.weight": Exploit()})
    else:
        item.path.write_bytes(b"")
    record(item)
    refused_as(item, "corrupt", "TinyNet")
    assert not Path("pwned.txt").exists()


def test_hostile_key_names_stay_on_one_line(tmp_path):
    item = item_at(tmp_path)
    save(item.path, {"evil\nkey\x1b[2J" + "k" * 5000: torch.zeros(1)})
    record(item)
    message = refused_as(item, "corrupt", "unexpected evil\\nkey\\x1b")
    assert len(message) < 1200


def test_the_real_nbdt_checkpoint_format_is_checked_against_wrn28_10():
    item = dataclasses.replace(dl.get_download("nbdt_cifar10"), min_bytes=0)
    item.path.parent.mkdir(parents=True)
    save(item.path, {"net": {"module.conv.weight": torch.zeros(1)}, "acc": np.float64(97.5)})
    record(item)
    refused_as(item, "corrupt", "keys do not match WideResNet-28-10",
               "missing features.init_block")
    save(item.path, {"state_dict": {}})  # no "net": read as the state dict itself, as nbdt does
    record(item)
    refused_as(item, "corrupt", "missing features.init_block", "unexpected state_dict")
    save(item.path, [1, 2])
    record(item)
    refused_as(item, "corrupt", "holds a list, not a WideResNet-28-10 state dict")


def test_resnet18_with_a_matching_prefix_but_wrong_keys_is_corrupt(monkeypatch):
    from xai_tutorial.classification import default_model_name, load_classifier

    real = dl.get_download("resnet18")
    real.path.parent.mkdir(parents=True)
    data = save(real.path, {"fc.weight": torch.zeros(1)})
    prefix = hashlib.sha256(data).hexdigest()[:8]  # an attacker can match 8 hex digits
    item = dataclasses.replace(real, sha256_prefix=prefix, min_bytes=0)
    monkeypatch.setitem(dl.DOWNLOADS, "resnet18", lambda: item)
    refused_as(item, "corrupt", "keys do not match ResNet-18", "missing conv1.weight")
    assert default_model_name()[0] == "efficientnet_lite0"
    with pytest.raises(CacheError) as caught:
        load_classifier("resnet18")
    one_line(str(caught.value), "corrupt", "ResNet-18")


def test_a_genuine_resnet18_is_cached_and_loads(monkeypatch):
    from torchvision.models import resnet18

    from xai_tutorial.classification import load_classifier

    real = dl.get_download("resnet18")
    torch.manual_seed(0)
    network = resnet18(weights=None)
    real.path.parent.mkdir(parents=True)
    data = save(real.path, network.state_dict())
    # (our own file differs in size from the release by a few kilobytes)
    item = dataclasses.replace(real, sha256_prefix=hashlib.sha256(data).hexdigest()[:8],
                               min_bytes=0, max_bytes=None)
    monkeypatch.setitem(dl.DOWNLOADS, "resnet18", lambda: item)
    assert item.state() == "cached"
    classifier = load_classifier("resnet18", quiet=True)
    assert torch.equal(classifier.model.fc.weight, network.fc.weight)


@pytest.mark.parametrize("zipped", [True, False])
def test_a_genuine_nbdt_style_checkpoint_is_cached_and_loads(tmp_path, monkeypatch, zipped):
    item = item_at(tmp_path, TINY_NBDT)
    net = TinyNet()
    save(item.path, {"net": {f"module.{k}": v for k, v in net.state_dict().items()},
                     "acc": np.float64(97.57), "epoch": 200},
         _use_new_zipfile_serialization=zipped)
    record(item)
    loads, real_load = [], torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(k) or real_load(*a, **k))
    with deadline():
        assert item.state() == "cached" and dl.verify(item) == item.path
        assert item.state() == "cached" and len(loads) == 1  # checked once while unchanged
        assert loads[0]["mmap"] is zipped and loads[0]["weights_only"] is True
        state = dl.load_checkpoint(item)
    assert set(state) == set(net.state_dict())
    TinyNet().load_state_dict(state)  # strict: the keys and shapes were checked
    item.path.write_bytes(item.path.read_bytes() + b"!")  # changed: hashed and checked again
    assert item.state() == "corrupt"


def test_without_an_architecture_a_verified_file_is_trusted_as_before(tmp_path):
    item = item_at(tmp_path, None)
    item.path.write_bytes(b"not a checkpoint at all")
    record(item)
    assert item.state() == "cached"
    with pytest.raises(CacheError) as caught:
        dl.load_checkpoint(item)
    one_line(str(caught.value), "corrupt", "not a loadable checkpoint")


# ----------------------------------------------------------------------------------------------
# The same check when a download completes, before its record is written


def test_a_download_that_is_not_the_network_is_not_saved(http_server, tmp_path):
    buffer = io.BytesIO()
    torch.save({"fc.weight": torch.zeros(2, 3)}, buffer)
    url = http_server.add("/tiny.pth", body=buffer.getvalue())
    item = dataclasses.replace(item_at(tmp_path / "c"), url=url)
    with deadline(), pytest.raises(DownloadError) as caught:
        fetch(item, progress=False)
    one_line(str(caught.value), "not the TinyNet checkpoint", "missing", "nothing was saved")
    assert list((tmp_path / "c").iterdir()) == []


def test_a_download_of_the_network_is_saved_and_cached(http_server, tmp_path):
    buffer = io.BytesIO()
    torch.save(TinyNet().state_dict(), buffer)
    url = http_server.add("/tiny.pth", body=buffer.getvalue())
    item = dataclasses.replace(item_at(tmp_path / "c"), url=url)
    with deadline():
        assert fetch(item, progress=False) == item.path
        assert item.state() == "cached"
    assert json.loads(item.record_path.read_text())["size"] == len(buffer.getvalue())


def test_checkpoint_checks_are_remembered_per_file_version(tmp_path, monkeypatch):
    path = tmp_path / "t.pth"
    save(path, TinyNet().state_dict())
    calls = []
    real = checkpoints.read_state_dict
    monkeypatch.setattr(checkpoints, "read_state_dict", lambda *a: calls.append(1) or real(*a))
    assert checkpoints.check_file(path, TINY) is None
    assert checkpoints.check_file(path, TINY) is None and len(calls) == 1
    save(path, {"x": torch.zeros(1)})
    assert "keys do not match" in (checkpoints.check_file(path, TINY) or "")
    assert len(calls) == 2
