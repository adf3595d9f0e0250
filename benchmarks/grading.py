"""What does grading add to running the notebooks? A class of lesson-01 submissions, both ways.

    .venv/bin/python benchmarks/grading.py [--students 30] [--jobs 2] [--lesson 01]

The class: ``--students`` copies of a lesson's notebook, a third with the solutions (the teacher
notebook), a third with the stubs (the student copy), a third with the solutions and one
answer spoiled, so right, wrong and empty notebooks all run to the end.

1. **Alone**: the notebooks themselves, executed by nbclient from fresh kernels, ``--jobs`` at
   a time, in a copy of the lesson folder, outputs discarded (what an instructor's "run every
   notebook" costs, with no box and no checking).
2. **Graded**: ``python -m xai_tutorial grade ... --jobs N`` on the same files: reading them,
   the grader's start-up (the pristine model and photos), a box per notebook, the export cells,
   the checks outside the box and the report.

Both with ``OMP_NUM_THREADS=1`` per kernel and empty download caches. Prints seconds per
submission and in total, and the ratio graded / alone. The goal (issue 19): at most 1.10.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.10


def make_class(folder: Path, students: int, lesson: str) -> list[Path]:
    """``students`` notebooks of ``lesson`` in ``folder``: right, empty and wrong in turn."""
    teacher = next((ROOT / "notebooks").glob(f"{lesson}_*.ipynb"))
    student = ROOT / "student" / teacher.name
    spoiled = nbformat.read(teacher, as_version=4)
    for cell in spoiled.cells:  # a wrong answer: the second-ranked class first
        if "### BEGIN SOLUTION" in cell.source and "second_top3" in cell.source:
            cell.source += "\nsecond_top3 = second_top3[::-1]"
    paths = []
    for i in range(students):
        path = folder / f"student{i:02d}.ipynb"
        if i % 3 == 0:
            shutil.copy(teacher, path)
        elif i % 3 == 1:
            shutil.copy(student, path)
        else:
            nbformat.write(spoiled, path)
        paths.append(path)
    return paths


async def _alone(paths: list[Path], jobs: int, cwd: Path) -> float:
    semaphore = asyncio.Semaphore(jobs)

    async def one(path: Path) -> None:
        async with semaphore:
            nb = nbformat.read(path, as_version=4)
            client = NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=600,
                                    resources={"metadata": {"path": str(cwd)}})
            await client.async_execute()

    start = time.perf_counter()
    await asyncio.gather(*(one(p) for p in paths))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--lesson", default="01")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xai-bench-grade-") as tmp:
        work = Path(tmp)
        os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                          TORCH_HOME=str(work / "cache" / "torch"),
                          XAI_TUTORIAL_CACHE=str(work / "cache" / "xai"))
        (work / "class").mkdir()
        paths = make_class(work / "class", args.students, args.lesson)
        shutil.copytree(ROOT / "assets", work / "lesson" / "assets")
        (work / "lesson" / "notebooks").mkdir()
        alone = asyncio.run(_alone(paths, args.jobs, work / "lesson" / "notebooks"))
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "xai_tutorial", "grade", *map(str, paths),
                               "--out", str(work / "grades"), "--jobs", str(args.jobs)],
                              capture_output=True, text=True)
        graded = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
    n = args.students
    ratio = graded / alone
    print(f"lesson {args.lesson}, {n} submissions, --jobs {args.jobs}, one thread per kernel")
    print(f"alone (nbclient, no box, no checks): {alone:6.1f} s, {alone / n:5.2f} s per submission")
    print(f"graded (python -m xai_tutorial grade): {graded:6.1f} s, {graded / n:5.2f} s per "
          "submission")
    print(f"graded / alone = {ratio:.3f} (goal <= {GOAL:.2f}: "
          f"{'met' if ratio <= GOAL else 'NOT met'})")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
