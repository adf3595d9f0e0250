"""Does each lesson fit Binder? Peak memory above imports and CPU seconds of Run All, per lesson.

    .venv/bin/python benchmarks/lessons.py [--threads N] [LESSON ...]     (make benchmark-lessons)

LESSON is a notebook (``notebooks/02_class_activation_maps.ipynb``), its name or its number
(``02``); by default every lesson ``notebooks/[0-9]*.ipynb``, one after the other. Each runs as
JupyterLab's "Run All" from a fresh kernel: nbclient starts a python3 kernel in a subprocess, in
the notebook's folder, with empty download caches (``TORCH_HOME`` and ``XAI_TUTORIAL_CACHE`` in a
temporary folder, as ``make test`` and ``make notebooks`` use them) and ``NLTK_DATA`` set to
``.venv/data/nltk_data`` unless already set. Two cells are injected: a first one that runs
``import torch, torchvision, xai_tutorial`` and records the kernel's resident memory (VmRSS) and
CPU time right after; a last one that records the kernel's peak resident memory (VmHWM, the same
as ``getrusage(RUSAGE_SELF).ru_maxrss``), its resident memory at the end (what it keeps holding
while idle) and its CPU time (``getrusage``, the kernel and any children it waited for, user +
system). A child process's memory is not counted (``import torch`` forks one whose ``ru_maxrss``
only repeats the kernel's own pages at the fork).

Goals (issue 18, Binder gives a user 2 GB and 1 CPU): at most 500 MB peak above the resident
memory right after the imports, and at most 60 CPU-seconds for Run All. The CPU seconds judged
are **everything the kernel spends from its start** (the kernel's own start-up, the imports and
every cell); the part after the imports is printed too. ``--threads N`` (default 1, as on Binder's
one CPU) sets ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` in the kernel's environment and
``torch.set_num_threads(N)`` in the first cell. MB are 2**20 bytes.

Prints one line per lesson and a last line saying whether all are within the goals; exits 1 if
any is not (or a lesson fails to run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
GOAL_MB = 500.0
GOAL_CPU_SECONDS = 60.0
MARK = "XAI_LESSON_BENCHMARK "

#: Shared by both injected cells: the kernel's memory (KB) and CPU seconds, printed as one line.
PROBE = '''
def _xai_benchmark_probe(stage):
    import json, resource, sys
    status = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    status[key] = int(value.split()[0])  # kB
    except OSError:  # not Linux: ru_maxrss (kB on Linux, bytes on macOS); no current RSS
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        status["VmHWM"] = peak // 1024 if sys.platform == "darwin" else peak
        status["VmRSS"] = status["VmHWM"]
    cpu = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        cpu += usage.ru_utime + usage.ru_stime
    status.update(stage=stage, cpu=cpu)
    print("{mark}" + json.dumps(status))
'''.replace("{mark}", MARK)

FIRST = PROBE + '''
import torch, torchvision, xai_tutorial  # noqa: E401
torch.set_num_threads({threads})
_xai_benchmark_probe("after_imports")
'''

LAST = '_xai_benchmark_probe("end")\n'


@dataclass
class Result:
    """One lesson's measurements (memory in MB, CPU in seconds), or why it did not finish."""

    name: str
    imports_mb: float = 0.0
    peak_mb: float = 0.0
    end_mb: float = 0.0
    cpu_total: float = 0.0
    cpu_after_imports: float = 0.0
    wall: float = 0.0
    error: str | None = None

    @property
    def above_imports_mb(self) -> float:
        return self.peak_mb - self.imports_mb

    @property
    def within(self) -> bool:
        return (self.error is None and self.above_imports_mb <= GOAL_MB
                and self.cpu_total <= GOAL_CPU_SECONDS)


def probes(notebook: nbformat.NotebookNode) -> dict[str, dict]:
    """The injected cells' printed measurements, by stage."""
    found = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith(MARK):
                    record = json.loads(line[len(MARK):])
                    found[record["stage"]] = record
    return found


def run(path: Path, threads: int, timeout: int) -> Result:
    """Run All of ``path`` in a fresh kernel, with the two probe cells injected."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(FIRST.replace("{threads}", str(threads))))
    notebook.cells.append(nbformat.v4.new_code_cell(LAST))
    result = Result(path.stem)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:
        result.error = str(exc).strip().splitlines()[-1][:200]
    result.wall = time.perf_counter() - start
    found = probes(notebook)
    if {"after_imports", "end"} - set(found):
        result.error = result.error or "the probe cells printed nothing"
        return result
    first, last = found["after_imports"], found["end"]
    result.imports_mb = first["VmRSS"] / 1024
    result.peak_mb = last["VmHWM"] / 1024
    result.end_mb = last["VmRSS"] / 1024
    result.cpu_total = last["cpu"]
    result.cpu_after_imports = last["cpu"] - first["cpu"]
    return result


def lessons(given: list[str]) -> list[Path]:
    """Notebook paths for the command line's names, numbers or paths (all lessons if none)."""
    every = sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    if not given:
        return every
    paths = []
    for name in given:
        path = Path(name)
        if path.suffix == ".ipynb" and path.is_file():
            paths.append(path.resolve())
            continue
        matches = [p for p in every if p.stem == name or p.stem.split("_")[0] == name
                   or p.name == name]
        if len(matches) != 1:
            raise SystemExit(f"error: no single lesson named {name!r} in {NOTEBOOKS}")
        paths.append(matches[0])
    return paths


def line(result: Result) -> str:
    if result.error:
        return f"{result.name:34} did not finish: {result.error}"
    above = result.above_imports_mb
    return (f"{result.name:34} {above:6.0f} MB / {GOAL_MB:.0f} = {above / GOAL_MB:4.2f}"
            f"   {result.cpu_total:6.1f} s / {GOAL_CPU_SECONDS:.0f} = "
            f"{result.cpu_total / GOAL_CPU_SECONDS:4.2f}   {result.cpu_after_imports:6.1f} s"
            f"   {result.imports_mb:5.0f} / {result.peak_mb:5.0f} / {result.end_mb:5.0f} MB"
            f"   {result.wall:5.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", metavar="LESSON",
                        help="notebook path, name or number (default: every lesson)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads in the kernel (default 1: Binder gives one CPU)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (default 900)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    paths = lessons(args.lessons)
    with tempfile.TemporaryDirectory(prefix="lesson-benchmark-") as caches:
        os.environ.update(TORCH_HOME=f"{caches}/torch", XAI_TUTORIAL_CACHE=f"{caches}/xai",
                          OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        os.environ.setdefault("NLTK_DATA", str(ROOT / ".venv" / "data" / "nltk_data"))
        print(f"Run All from a fresh kernel, {args.threads} thread(s), empty download caches. "
              f"Memory: peak resident above the resident after `import torch, torchvision, "
              f"xai_tutorial`; CPU: the kernel's user+system seconds from its start (start-up "
              f"and imports included), and after the imports only.")
        print(f"{'lesson':34} {'peak above imports':>22}   {'CPU, Run All (all)':>20}"
              f"   {'after':>8}   {'RSS: imports/peak/end':>24}   {'wall':>7}")
        results = []
        for path in paths:
            results.append(run(path, args.threads, args.timeout))
            print(line(results[-1]), flush=True)
    over = [r.name for r in results if not r.within]
    if over:
        print(f"NOT all within the goals ({GOAL_MB:.0f} MB above imports, "
              f"{GOAL_CPU_SECONDS:.0f} CPU-s): {', '.join(over)}")
        return 1
    print(f"all {len(results)} lessons within the goals ({GOAL_MB:.0f} MB above imports, "
          f"{GOAL_CPU_SECONDS:.0f} CPU-s for Run All)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
