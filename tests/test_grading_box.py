"""The box, cell by cell, in both of its kinds: as root (an unprivileged user of its own) and in
a user namespace (what an instructor who is not root gets). Each test runs a few cells in a real
kernel in a real box (``grading.run.execute``) and reads what they printed or raised.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from xai_tutorial.grading import grader
from xai_tutorial.grading.run import Limits, execute

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the box needs Linux")
ROOT = Path(__file__).resolve().parents[1]
MODES = ["root", "userns"] if os.geteuid() == 0 else ["userns"]


def _box_works(mode: str) -> bool:
    try:
        return grader.box_mode(False) in (mode, "root")
    except grader.GradingError:
        return False


def run_cells(mode: str, cells: list[str], *, hidden: list[Path] = (),
              limits: Limits | None = None) -> tuple[object, list[dict]]:
    """Run ``cells`` in a box; the execution and each cell's outputs."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    staging = Path(tempfile.mkdtemp(prefix="xai-grade-test-"))
    limits = limits or Limits(notebook_seconds=120, cell_seconds=60)
    try:
        with grader.box_folder(staging / "b0", mode, limits) as box:  # as the grader makes it
            (box / "notebooks").mkdir()
            spec = {**grader.box_spec(mode, staging, list(hidden)), "uid": 1_999_000_001}
            run = asyncio.run(execute(nb, box, spec, limits, staging / "b0.log"))
    finally:
        subprocess.run(["rm", "-rf", str(staging)], check=False)
    return run, [c.get("outputs", []) for c in nb.cells]


def text(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")


def error(outputs: list[dict]) -> str:
    return " ".join(f"{o['ename']}: {o['evalue']}" for o in outputs
                    if o.get("output_type") == "error")


@pytest.fixture(params=MODES)
def mode(request) -> str:
    if not _box_works(request.param):
        pytest.skip(f"this machine cannot build a {request.param} box")
    return request.param


@pytest.fixture
def outside_tmp() -> Path:
    """A folder outside /tmp (all of /tmp is a private, empty tmpfs in the box anyway)."""
    (ROOT / "build").mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="test-grading-box-", dir=ROOT / "build"))
    folder.chmod(0o755)  # readable by anyone, as a class folder usually is
    yield folder
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_files_network_and_mounts_are_closed(mode: str, outside_tmp: Path) -> None:
    tmp_path = outside_tmp
    secret = tmp_path / "class"
    secret.mkdir()
    (secret / "alice.ipynb").write_text("alice's answers")
    lonely = tmp_path / "bob.ipynb"
    lonely.write_text("bob's answers")
    package = ROOT / "xai_tutorial" / "exercises.py"
    before = package.read_bytes()
    run, outs = run_cells(mode, [
        "import os; print(os.getcwd())",
        f"print(sorted(os.listdir({str(secret)!r})))",
        f"print(repr(open({str(lonely)!r}).read()))",
        f"open({str(package)!r}, 'a').write('# changed')",
        "import urllib.request; urllib.request.urlopen('http://10.0.0.1', timeout=3)",
        "import ctypes; libc = ctypes.CDLL(None, use_errno=True)\n"
        f"print(libc.umount2({str(secret).encode()!r}, 2), ctypes.get_errno())",
        "open('/tmp/scratch', 'w').write('ok'); print(open('/tmp/scratch').read())",
        "import xai_tutorial; print('imported', xai_tutorial.__name__)",
    ], hidden=[secret, lonely])
    assert run.stopped is None, run.stopped
    assert text(outs[0]).strip().endswith("/notebooks")
    assert text(outs[1]).strip() == "[]"  # the class folder is an empty tmpfs in the box
    assert text(outs[2]).strip() == "''"  # a hidden file reads as /dev/null
    # Not its file (root's box user) or not writable at all (every mount read-only).
    assert any(why in error(outs[3]) for why in ("Read-only file system", "Permission denied"))
    assert package.read_bytes() == before
    assert "Network is unreachable" in error(outs[4])
    assert text(outs[5]).split() == ["-1", "1"]  # EPERM: the mounts cannot be taken off
    assert text(outs[6]).strip() == "ok"  # its own /tmp works
    assert text(outs[7]).strip() == "imported xai_tutorial"


def test_limits_are_named_and_the_box_dies_whole(mode: str) -> None:
    run, outs = run_cells(mode, [
        "x = bytearray(64 * 2**30)",
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        open('/tmp/alive', 'w'); time.sleep(600)\n"
        "    os._exit(0)\n"
        "time.sleep(1); print(os.path.exists('/tmp/alive'))",
        "open('big', 'wb').write(b'0' * (2 * 2**20))",
        "import ctypes; ctypes.string_at(0)",
        "print('never')",
    ], limits=Limits(notebook_seconds=120, cell_seconds=60, file_bytes=2**20))
    assert "MemoryError" in error(outs[0])
    assert text(outs[1]).strip() == "True"
    assert "File too large" in error(outs[2])
    assert run.stopped == "the kernel crashed (segmentation fault)"
    assert run.stopped_cell == 3
    assert outs[4] == []
    # The escaped, double-forked sleeper died with the box.
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "time.sleep(600)" not in ps and "/tmp/alive" not in ps


def test_a_loop_meets_the_cell_time_limit(mode: str) -> None:
    run, outs = run_cells(mode, ["print('start')", "while True:\n    pass", "print('never')"],
                          limits=Limits(notebook_seconds=60, cell_seconds=3))
    assert run.stopped == "cell time limit (3 s)"
    assert run.stopped_cell == 1
    assert text(outs[0]).strip() == "start" and outs[2] == []


def test_processes_are_limited(mode: str) -> None:
    if mode == "userns" and os.geteuid() == 0:
        pytest.skip("in a user namespace the kernel's real user is root, whose processes "
                    "Linux does not count against RLIMIT_NPROC")
    run, outs = run_cells(mode, [
        "import os\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
        "            import time; time.sleep(60); os._exit(0)\n        n += 1\n"
        "except OSError as e:\n    print(n, type(e).__name__)"],
        limits=Limits(notebook_seconds=60, cell_seconds=30, processes=64))
    count, name = text(outs[0]).split()
    assert name == "BlockingIOError" and int(count) < 64


# ----------------------------------------------------------------------------------------------
# What a hostile kernel may send on its channels (found by a hostile review): the grader reads it
# all as data and keeps going; nothing of it reaches another submission.

ONE_MODE = MODES[0]


def test_messages_of_a_shape_nbclient_cannot_read_are_dropped_not_fatal() -> None:
    if not _box_works(ONE_MODE):
        pytest.skip("no box here")
    run, outs = run_cells(ONE_MODE, [
        "k = get_ipython().kernel\n"
        "k.session.send(k.iopub_socket, 'display_data', content=b'[]', parent=k.get_parent())",
        "from IPython.display import display\n"
        "display({'text/plain': 'hi'}, raw=True, transient='not a dict')",
        "print('still here')",
    ])
    assert run.stopped is None, run.stopped
    assert run.malformed >= 2
    assert text(outs[2]).strip() == "still here"


def test_display_updates_count_against_the_output_budget() -> None:
    if not _box_works(ONE_MODE):
        pytest.skip("no box here")
    run, outs = run_cells(ONE_MODE, [
        "from IPython.display import display\n"
        "for i in range(4):\n"
        "    h = display({'text/plain': 'a'}, raw=True, display_id=f'd{i}')\n"
        "    h.update({'text/plain': 'x' * 2**20}, raw=True)",
        "print('after')",
    ], limits=Limits(notebook_seconds=60, cell_seconds=30, output_bytes=2**20 + 4096))
    assert run.dropped_output
    kept = sum(len(str(o.get("data", ""))) for o in outs[0])
    assert kept <= 2**20 + 4096
    assert text(outs[1]).strip() == "after"


def test_the_notebook_time_limit_is_named_as_such() -> None:
    if not _box_works(ONE_MODE):
        pytest.skip("no box here")
    run, _ = run_cells(ONE_MODE, ["import time\nfor _ in range(20):\n    time.sleep(1)"],
                       limits=Limits(notebook_seconds=4, cell_seconds=60))
    assert run.stopped == "notebook time limit (4 s)"


def test_answers_count_only_from_the_graders_own_cells() -> None:
    from xai_tutorial.grading.answers import MIME

    if not _box_works(ONE_MODE):
        pytest.skip("no box here")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from IPython.display import display\n"
        f"display({{{MIME!r}: {{'key': 'x', 'values': {{}}}}}}, raw=True)")])
    staging = Path(tempfile.mkdtemp(prefix="xai-grade-test-"))
    try:
        (staging / "b0" / "notebooks").mkdir(parents=True)
        spec = {**grader.box_spec(ONE_MODE, staging, []), "uid": 1_999_000_002}
        limits = Limits(notebook_seconds=60, cell_seconds=30)
        forged = asyncio.run(execute(nb, staging / "b0", spec, limits, staging / "b0.log",
                                     frozenset()))
    finally:
        subprocess.run(["rm", "-rf", str(staging)], check=False)
    assert forged.answers == {}  # cell 0 is not an export cell


def test_a_fifo_or_a_notebook_of_too_many_cells_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.ipynb"
    os.mkfifo(fifo)
    nb, why = grader.read_notebook(fifo)  # returns at once (it used to wait for a writer)
    assert nb is None and "not a regular file" in why
    big = tmp_path / "big.ipynb"
    nbformat.write(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("") for _ in range(grader.MAX_CELLS + 1)]), big)
    nb, why = grader.read_notebook(big)
    assert nb is None and f"over {grader.MAX_CELLS}" in why


def test_a_hidden_test_sees_the_lessons_objects_whatever_the_answers_are_named() -> None:
    from xai_tutorial.grading.lessons import run_hidden

    code = "assert classifier == 'pristine', classifier\nassert len([1, 2]) == 2"
    forged = {"classifier": "forged", "__builtins__": {}}
    assert run_hidden(code, forged, {"classifier": "pristine"}, sys.modules[__name__]) is None


def test_the_boxs_folder_cannot_fill_the_disk() -> None:
    if ONE_MODE != "root" or not _box_works(ONE_MODE):
        pytest.skip("the box's folder has a size of its own only as root")
    run, outs = run_cells(ONE_MODE, [
        "block = b'0' * 2**20\nfor i in range(8):\n"
        "    with open(f'f{i}', 'wb') as f:\n        for _ in range(200):\n"
        "            f.write(block)",
        "import os; os.remove('f0'); print('room again')",
    ], limits=Limits(notebook_seconds=60, cell_seconds=30, disk_bytes=512 * 2**20,
                     file_bytes=2**30))
    assert "No space left on device" in error(outs[0])
    assert text(outs[1]).strip() == "room again"
    assert run.stopped is None
