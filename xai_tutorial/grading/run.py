"""Run one prepared submission in its box: nbclient drives a kernel started by ``box.py``.

The grader's side of the conversation stays outside the box: this module (in the grader's
process) sends the cells, enforces the per-cell and per-notebook wall-clock limits, caps the
outputs it keeps, and notices a kernel that died. The kernel talks to it over Unix sockets in
the box's own folder (``transport="ipc"``), since the box has no network.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellControlSignal, CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from .answers import MIME

BOX_SCRIPT = Path(__file__).with_name("box.py")
#: What ``box.py`` exits with when it could not build the box (not the submission's fault).
SETUP_FAILED = 97


@dataclass(frozen=True)
class Limits:
    """What a submission may use. Wall-clock seconds per notebook and per cell; bytes of
    address space (an ``RLIMIT_AS``: the CUDA build of torch reserves ~3 GB of it at import,
    so it must sit well above the memory a lesson uses), processes and threads, bytes per
    file written, bytes of cell output kept (the rest is dropped, with a note), bytes of
    answers taken out of the kernel; bytes the box's folder may hold in all (as root it is a
    filesystem of that size of its own, in memory)."""

    notebook_seconds: float = 600.0
    cell_seconds: float = 300.0
    memory_bytes: int = 8 * 2**30
    processes: int = 256
    file_bytes: int = 256 * 2**20
    disk_bytes: int = 2**30
    output_bytes: int = 32 * 2**20
    answer_bytes: int = 128 * 2**20

    def rlimits(self) -> dict[str, int]:
        """The ``setrlimit`` values ``box.py`` applies (CPU seconds = the notebook's limit)."""
        return {"address_space": self.memory_bytes, "processes": self.processes,
                "file_size": self.file_bytes, "cpu": int(self.notebook_seconds) + 1,
                "open_files": 1024}


@dataclass(frozen=True)
class CellError:
    """An error a cell raised: its index, the exception's name and message, its traceback's
    first and last lines (terminal colours removed)."""

    cell: int
    name: str
    message: str
    lines: tuple[str, ...]


@dataclass
class Execution:
    """What running a notebook in its box gave."""

    notebook: NotebookNode
    stopped: str | None = None  # why it stopped before the end ("cell time limit (...)", ...)
    stopped_cell: int | None = None
    errors: list[CellError] = field(default_factory=list)
    answers: dict[int, str] = field(default_factory=dict)  # export cell -> its answers (JSON)
    dropped_output: bool = False
    malformed: int = 0  # messages from the kernel of a shape nbclient cannot read (dropped)
    box_log: str = ""
    seconds: float = 0.0


class _BoxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command is wrapped in ``box.py SPEC --``."""

    box_prefix: list[str] = []

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return [*self.box_prefix, *super().format_kernel_cmd(extra_arguments)]


class _BoxClient(NotebookClient):
    """nbclient's client, keeping at most ``limit`` bytes of outputs and at most one answers
    output per export cell (``answer_limit`` bytes), and remembering the cell it is on."""

    def __init__(self, nb: NotebookNode, *, limit: int, answer_limit: int,
                 export_cells: frozenset[int] = frozenset(), **kw: Any) -> None:
        super().__init__(nb, **kw)
        self.xai_limit, self.xai_answer_limit = limit, answer_limit
        self.xai_kept, self.xai_dropped, self.xai_cell = 0, False, -1
        self.xai_answers: dict[int, str] = {}
        self.xai_errors: dict[int, int] = {}
        self.xai_export_cells, self.xai_answer_bytes, self.xai_malformed = export_cells, 0, 0

    def process_message(self, msg: dict, cell: NotebookNode,
                        cell_index: int) -> NotebookNode | None:
        """nbclient's, but a message of a shape it cannot read (a kernel may send anything on
        its channels) is dropped and counted instead of stopping the grader."""
        if not _well_formed(msg):
            self.xai_malformed += 1
            return None
        try:
            return super().process_message(msg, cell, cell_index)
        except CellControlSignal:
            raise  # nbclient's own "the cell is done"
        except (AttributeError, TypeError, KeyError, ValueError, IndexError):
            self.xai_malformed += 1
            return None

    def _update_display_id(self, display_id: str, msg: dict) -> None:
        """An update of an earlier output (``display_id``) counts against the output budget
        too (nbclient writes it into the stored cells directly)."""
        size = len(json.dumps(msg.get("content"), default=str))
        if self.xai_kept + size > self.xai_limit:
            self.xai_dropped = True
            return
        self.xai_kept += size
        super()._update_display_id(display_id, msg)

    async def async_execute_cell(self, cell: NotebookNode, cell_index: int, *args: Any,
                                 **kw: Any) -> NotebookNode:
        self.xai_cell = cell_index
        return await super().async_execute_cell(cell, cell_index, *args, **kw)

    def output(self, outs: list, msg: dict, display_id: str | None,
               cell_index: int) -> NotebookNode | None:
        content = msg.get("content", {})
        data = content.get("data") if isinstance(content, dict) else None
        if isinstance(data, dict) and MIME in data:
            # answers count only from the grader's own cells, within one budget per notebook
            text = json.dumps(data[MIME])
            if cell_index in self.xai_export_cells and (
                    self.xai_answer_bytes + len(text) <= self.xai_answer_limit):
                self.xai_answer_bytes += len(text)
                self.xai_answers[cell_index] = text
            return None
        if msg.get("msg_type") == "error" and isinstance(content, dict):
            # why a cell stopped is kept whatever the budget (a flood of output before it must
            # not hide a limit), cut to what the feedback shows, at most 3 per cell
            self.xai_errors[cell_index] = self.xai_errors.get(cell_index, 0) + 1
            if self.xai_errors[cell_index] > 3:
                self.xai_dropped = True
                return None
            msg = {**msg, "content": _short_error(content)}
            return super().output(outs, msg, display_id, cell_index)
        size = len(json.dumps(content, default=str))
        if self.xai_kept + size > self.xai_limit:
            self.xai_dropped = True
            return None
        self.xai_kept += size
        return super().output(outs, msg, display_id, cell_index)


def _well_formed(msg: object) -> bool:
    """Has ``msg`` the shape nbclient reads (dicts where it expects dicts)?"""
    if not isinstance(msg, dict):
        return False
    header, parent, content = msg.get("header"), msg.get("parent_header"), msg.get("content")
    if not (isinstance(header, dict) and isinstance(parent, dict) and isinstance(content, dict)):
        return False
    return all(isinstance(content.get(key, {}), dict) for key in ("data", "metadata", "transient"))


def _short_error(content: dict) -> dict:
    """An error output's content cut to what the feedback can show: the exception's name and
    message, the first and last entries of its traceback."""
    tb = content.get("traceback")
    tb = (tb if len(tb) <= 10 else [*tb[:5], *tb[-5:]]) if isinstance(tb, list) else []
    return {"ename": str(content.get("ename", ""))[:200],
            "evalue": str(content.get("evalue", ""))[:2000],
            "traceback": [str(entry)[:3000] for entry in tb]}


def _errors(nb: NotebookNode) -> list[CellError]:
    from ..core._files import escaped

    found = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            # IPython sends a frame as one entry of many lines: split first, then escape what
            # is left of each line (a separator line of dashes says nothing)
            tb = [escaped(line)[:300] for entry in out.get("traceback", [])
                  for line in _plain(str(entry)).splitlines() if line.strip(" -")]
            lines = tuple(tb if len(tb) <= 5 else [*tb[:2], "...", *tb[-3:]])
            found.append(CellError(index, escaped(str(out.get("ename", "")))[:100],
                                   escaped(str(out.get("evalue", "")))[:300], lines))
    return found


def _plain(text: str) -> str:
    """``text`` without terminal colour codes (IPython's tracebacks have them)."""
    import re

    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(text))


def kernel_env(box: Path) -> dict[str, str]:
    """The kernel's whole environment: nothing of the grader's but the Python it runs."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(box), "USER": "student", "LOGNAME": "student", "LANG": "C.UTF-8",
        "TMPDIR": "/tmp", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "MPLCONFIGDIR": str(box / ".config" / "matplotlib"),
        "TORCH_HOME": str(box / ".cache" / "torch"),
        "XAI_TUTORIAL_CACHE": str(box / ".cache" / "xai"),
        "IPYTHONDIR": str(box / ".ipython"), "JUPYTER_RUNTIME_DIR": str(box / ".runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
        # Lesson 03's WordNet; an instructor's own model module ("my_course.models:...").
        **{k: os.environ[k] for k in ("NLTK_DATA", "PYTHONPATH") if k in os.environ},
    }


async def execute(nb: NotebookNode, box: Path, spec: dict[str, Any], limits: Limits,
                  log: Path, export_cells: frozenset[int] = frozenset()) -> Execution:
    """Run ``nb`` (already prepared: see :mod:`.lessons`) in a kernel in ``box``.

    ``spec`` is ``box.py``'s (mode, uid, folders to hide, ...); this adds the limits, the
    environment and the working folder (``box/notebooks``) and writes it next to ``log`` (the
    launcher's own stderr), outside the box.
    """
    spec = {**spec, "box": str(box), "cwd": str(box / "notebooks"), "env": kernel_env(box),
            "limits": limits.rlimits()}
    spec_path = log.with_suffix(".json")
    spec_path.write_text(json.dumps(spec))
    km = _BoxKernelManager(kernel_name="python3", transport="ipc", ip=str(box / "k"),
                           connection_file=str(box / "kernel.json"))
    km.box_prefix = [sys.executable, "-I", str(BOX_SCRIPT), str(spec_path), "--"]
    client = _BoxClient(nb, km=km, timeout=limits.cell_seconds, allow_errors=True,
                        startup_timeout=120, record_timing=False, limit=limits.output_bytes,
                        answer_limit=limits.answer_bytes, export_cells=export_cells,
                        kernel_name="python3")
    result = Execution(nb)
    start = time.perf_counter()
    with log.open("wb") as stderr:
        try:
            await asyncio.wait_for(client.async_execute(stdout=stderr, stderr=stderr),
                                   limits.notebook_seconds)
        except CellTimeoutError:
            result.stopped = f"cell time limit ({limits.cell_seconds:g} s)"
        except (asyncio.TimeoutError, TimeoutError):
            result.stopped = f"notebook time limit ({limits.notebook_seconds:g} s)"
        except DeadKernelError:
            # nbclient reports its own cancellation (our notebook time limit) as a dead kernel
            late = time.perf_counter() - start >= limits.notebook_seconds
            result.stopped = (f"notebook time limit ({limits.notebook_seconds:g} s)" if late
                              else "the kernel died")
        except RuntimeError as exc:  # the kernel did not start (the box could not be built)
            result.stopped = f"the kernel did not start ({_first(str(exc))})"
        except Exception as exc:  # noqa: BLE001 (what the kernel sent broke nbclient)
            result.stopped = ("the kernel sent a message the grader could not read "
                              f"({type(exc).__name__})")
        finally:
            code = await _kill(km)
    result.seconds = time.perf_counter() - start
    result.stopped_cell = client.xai_cell if result.stopped else None
    if result.stopped == "the kernel died":
        result.stopped = _death(code, limits)
    result.box_log = log.read_text(errors="replace")[-2000:]
    result.errors = _errors(nb)
    result.answers = client.xai_answers
    result.dropped_output = client.xai_dropped
    result.malformed = client.xai_malformed
    return result


def _first(text: str) -> str:
    return " ".join(text.split())[:200]


async def _kill(km: AsyncKernelManager) -> int | None:
    """End the kernel and, with its launcher, the whole box (every process in it); returns the
    launcher's exit status if it had ended by itself (the kernel's, see ``box.py``)."""
    process = getattr(km.provisioner, "process", None) if km.provisioner else None
    code = process.poll() if process is not None else None
    try:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        await asyncio.wait_for(km.shutdown_kernel(now=True), 10)
    except Exception:  # noqa: BLE001 (a kernel already gone; nothing more to end)
        pass
    if process is not None:
        try:
            process.wait(timeout=10)
        except Exception:  # noqa: BLE001
            pass
    return code


def _death(code: int | None, limits: Limits) -> str:
    """Which limit (or what) ended the kernel, from the launcher's exit status."""
    names = {128 + 24: f"CPU-time limit ({limits.notebook_seconds:g} s)",
             128 + 25: "file-size limit", 128 + 9: "killed (out of memory, or a limit)",
             128 + 11: "the kernel crashed (segmentation fault)",
             128 + 6: "the kernel crashed (aborted)", 128 + 7: "the kernel crashed (bus error)",
             SETUP_FAILED: "the box could not be built (the grader's problem)"}
    if code is None:
        return "the kernel died"
    return names.get(code, f"the kernel exited (status {code})")
