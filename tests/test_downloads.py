"""The explicit fetch step, against real checkpoints served from a loopback HTTP server."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest
import torch
from torchvision.models import resnet18

from xai_tutorial import CacheError, DownloadError, fetch, load_classifier
from xai_tutorial import downloads as dl
from xai_tutorial.classification import default_model_name, model_status
from xai_tutorial.cli import main


def checkpoint_bytes(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


@pytest.fixture
def tiny_checkpoint() -> tuple[bytes, str]:
    data = checkpoint_bytes({"weight": torch.arange(6.0).reshape(2, 3), "bias": torch.ones(2)})
    return data, hashlib.sha256(data).hexdigest()


def item_for(url: str, folder: Path, **hashes: str) -> dl.Download:
    return dl.Download("tiny", url, lambda: folder, "a test checkpoint", **hashes)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_file_is_saved_verified_and_recorded(http_server, tiny_checkpoint, tmp_path):
    data, digest = tiny_checkpoint
    url = http_server.add("/tiny.pth", body=data)
    item = item_for(url, tmp_path / "c", sha256=digest)
    path = fetch(item, progress=False)
    assert path.read_bytes() == data
    record = json.loads(item.record_path.read_text())
    assert record == {"name": "tiny", "url": url, "size": len(data), "sha256": digest}
    state = torch.load(path, weights_only=True)
    assert torch.equal(state["weight"], torch.arange(6.0).reshape(2, 3))
    assert leftovers(tmp_path / "c") == ["tiny.pth", "tiny.pth.sha256.json"]
    # A second fetch verifies the cached copy instead of downloading again.
    fetch(item, progress=False)
    assert http_server.routes["/tiny.pth"].hits == 1


def test_unknown_hash_is_recorded_on_first_download_and_checked_after(
    http_server, tiny_checkpoint, tmp_path
):
    data, digest = tiny_checkpoint
    item = item_for(http_server.add("/tofu.pth", body=data), tmp_path)
    fetch(item, progress=False)
    assert json.loads(item.record_path.read_text())["sha256"] == digest
    assert dl.verify(item) == item.path
    item.path.write_bytes(data[:-1] + b"!")  # the cached file changes afterwards
    with pytest.raises(CacheError, match="does not match"):
        dl.verify(item)


def test_progress_bar_is_shown(http_server, tiny_checkpoint, tmp_path, capfd):
    data, digest = tiny_checkpoint
    fetch(item_for(http_server.add("/p.pth", body=data), tmp_path, sha256=digest), progress=True)
    assert "100%" in capfd.readouterr().err


def test_wrong_hash_saves_nothing(http_server, tiny_checkpoint, tmp_path):
    data, _ = tiny_checkpoint
    item = item_for(http_server.add("/tiny.pth", body=data), tmp_path, sha256="0" * 64)
    with pytest.raises(DownloadError, match="nothing was saved"):
        fetch(item, progress=False)
    assert leftovers(tmp_path) == []


def test_wrong_hash_prefix_saves_nothing(http_server, tiny_checkpoint, tmp_path):
    data, _ = tiny_checkpoint
    item = item_for(http_server.add("/tiny.pth", body=data), tmp_path, sha256_prefix="deadbeef")
    with pytest.raises(DownloadError, match="deadbeef"):
        fetch(item, progress=False)
    assert leftovers(tmp_path) == []


def test_corrupt_transfer_cut_short_saves_nothing(http_server, tiny_checkpoint, tmp_path):
    data, _ = tiny_checkpoint
    url = http_server.add("/cut.pth", body=data, truncate_to=len(data) // 3)
    with pytest.raises(DownloadError, match="cut short"):
        fetch(item_for(url, tmp_path), progress=False)
    assert leftovers(tmp_path) == []


def test_http_error_saves_nothing(http_server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(item_for(http_server.base + "/gone.pth", tmp_path), progress=False)
    assert leftovers(tmp_path) == []


def test_server_gone_saves_nothing(tmp_path):
    with pytest.raises(DownloadError, match="cannot reach 127.0.0.1:9"):
        fetch(item_for("http://127.0.0.1:9/x.pth", tmp_path), progress=False)
    assert leftovers(tmp_path) == []


def test_unknown_name():
    with pytest.raises(DownloadError, match="choose one of resnet18"):
        fetch("vgg")


@pytest.fixture
def served_resnet18(http_server, monkeypatch):
    """A ResNet-18 checkpoint we make ourselves, served under torch hub's hash-prefix name."""
    torch.manual_seed(0)
    data = checkpoint_bytes(resnet18(weights=None).state_dict())
    prefix = hashlib.sha256(data).hexdigest()[:8]
    url = http_server.add(f"/models/resnet18-{prefix}.pth", body=data)
    real = dl.DOWNLOADS["resnet18"]

    def local() -> dl.Download:
        item = real()
        return dl.Download(item.name, url, item.folder, item.description, sha256_prefix=prefix)

    monkeypatch.setitem(dl.DOWNLOADS, "resnet18", local)
    return data


def test_resnet18_fetch_then_load_offline(served_resnet18, capsys):
    assert model_status()["resnet18"] == "not downloaded"
    with pytest.raises(CacheError, match="fetch resnet18"):
        load_classifier("resnet18")
    assert default_model_name()[0] == "efficientnet_lite0"

    assert main(["fetch", "resnet18", "--quiet"]) == 0
    path = dl.get_download("resnet18").path
    assert path.parent == dl.torch_hub_checkpoints() and path.read_bytes() == served_resnet18
    assert model_status()["resnet18"] == "cached"

    capsys.readouterr()
    classifier = load_classifier()
    assert classifier.name == "resnet18" and not classifier.model.training
    assert "Using resnet18" in capsys.readouterr().err
    assert len(classifier.predict("chelsea", k=3)) == 3

    path.write_bytes(served_resnet18[:1000])  # damaged after download
    with pytest.raises(CacheError, match="does not match"):
        load_classifier("resnet18")


def test_fetch_cli_offline_is_one_line(served_resnet18, http_server, capsys):
    http_server.routes.clear()  # the server now answers 404 to everything
    assert main(["fetch", "--all", "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("error: ") for line in err) and len(err) == 2


# ----------------------------------------------------------------------------------------------
# The four states, hashing once, the readiness report, and all-or-nothing writes


def test_four_states(http_server, tiny_checkpoint, tmp_path):
    data, digest = tiny_checkpoint
    known = item_for(http_server.add("/k.pth", body=data), tmp_path / "k", sha256=digest)
    assert known.state() == "not downloaded"
    known.path.parent.mkdir()
    known.path.write_bytes(data)  # right bytes, known hash: verified without a record
    assert known.state() == "cached" and dl.verify(known) == known.path
    known.path.write_bytes(data + b"!")
    assert known.state() == "corrupt"
    with pytest.raises(CacheError, match="corrupt"):
        dl.verify(known)
    unknown = item_for(http_server.add("/u.pth", body=data), tmp_path / "u")
    unknown.path.parent.mkdir()
    unknown.path.write_bytes(data)  # right bytes, but nothing vouches for them
    assert unknown.state() == "unverified"
    fetch(unknown, progress=False)
    assert unknown.state() == "cached"
    unknown.record_path.write_text(json.dumps({"sha256": digest, "size": len(data) + 1}))
    assert unknown.state() == "corrupt"  # the recorded size no longer matches


def test_an_unchanged_file_is_hashed_once(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc" * 1000)
    calls = []
    real = dl.hashlib.sha256
    monkeypatch.setattr(dl.hashlib, "sha256", lambda: calls.append(1) or real())
    first = dl.sha256_of(path)
    assert dl.sha256_of(path) == first and len(calls) == 1
    path.write_bytes(b"abd" * 1000)  # same size, new content (and mtime/ctime)
    assert dl.sha256_of(path) != first and len(calls) == 2


def test_readiness_report_shows_each_state(capsys):
    from xai_tutorial import setup_check

    item = dl.get_download("nbdt_cifar10")
    item.path.parent.mkdir(parents=True)
    item.path.write_bytes(b"placed by hand")
    rows = {row.what: row for row in setup_check.model_checks()}
    assert rows["nbdt_cifar10"].state == "unverified" and "not used" in rows["nbdt_cifar10"].detail
    assert rows["resnet18"].state == "not downloaded"
    outcome = setup_check.fetch_step(download=False)
    assert outcome["nbdt_cifar10"].startswith("unverified; skipped")
    assert outcome["resnet18"] == "skipped (set DOWNLOAD = True to fetch)"


def test_readiness_report_survives_an_unusable_cache(monkeypatch, tmp_path):
    from xai_tutorial import setup_check

    monkeypatch.setenv("XAI_TUTORIAL_CACHE", str(tmp_path / ("n" * 300)))
    rows = {row.what: row for row in setup_check.model_checks()}
    assert rows["nbdt_cifar10"].state == "error" and "too long" in rows["nbdt_cifar10"].detail


def test_atomic_paths_move_all_or_nothing(tmp_path):
    from xai_tutorial._files import atomic_paths

    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    with pytest.raises(RuntimeError):
        with atomic_paths(first, second) as (a, b):
            a.write_text("one")
            raise RuntimeError("the second file failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_paths(first, second) as (a, b):
        a.write_text("one")
        b.write_text("two")
    assert first.read_text() == "one" and second.read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_a_live_writers_part_file_is_kept(tmp_path):
    from xai_tutorial._files import stale_partials

    target = tmp_path / "w.pth"
    live = tmp_path / f".w.pth.{os.getppid()}.abc.part"  # our parent process: alive
    dead = tmp_path / ".w.pth.999999999.abc.part"
    other = tmp_path / f".w.pth.sha256.json.{os.getppid()}.abc.part"  # the record's, not ours
    for path in (live, dead, other):
        path.write_bytes(b"")
    assert stale_partials(target) == [dead]


def test_network_reasons_are_short_whole_and_redacted():
    from xai_tutorial._network import redact, shorten

    assert redact("see http://alice:s3cr3t@host/x and https://bob@h2/") == (
        "see http://***@host/x and https://***@h2/"
    )
    assert redact("http://[::1") == "http://[::1"
    text = "word " * 60
    cut = shorten(text, 40)
    assert len(cut) <= 40 and cut.endswith("word...")
    assert shorten("short enough", 40) == "short enough"
