"""``python -m xai_tutorial grade``: the command line of the grader (see :mod:`.grader`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..core.errors import InputError


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
        return value
    return parse


def add_parser(commands: Any) -> None:
    """Add ``grade`` to the CLI's sub-commands."""
    grade = commands.add_parser(
        "grade", help="grade a class's submitted notebooks (instructors)", description=(
            "Run each submission (a notebook, or a folder of one student's notebooks) in a box "
            "of its own, check its answers outside the box, and write grades.csv, grades.html "
            "and feedback/<student>.md into --out, all or nothing."))
    grade.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION",
                       help="one per student: a notebook (the student's name is the file's) or "
                            "a folder of that student's notebooks (the folder's name); give a "
                            "class folder's entries, e.g. submissions/*")
    grade.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="the folder to write (absent, empty, or an earlier grade folder)")
    grade.add_argument("--jobs", type=_positive(int), default=None, metavar="N",
                       help="notebooks run at once (default: the number of cores)")
    grade.add_argument("--timeout", type=_positive(float), default=600.0, metavar="SECONDS",
                       help="wall-clock limit per notebook (default 600)")
    grade.add_argument("--cell-timeout", type=_positive(float), default=300.0,
                       metavar="SECONDS", help="wall-clock limit per cell (default 300)")
    grade.add_argument("--memory", type=_positive(float), default=8.0, metavar="GIB",
                       help="address-space limit per kernel in GiB (default 8: the CUDA build "
                            "of torch alone reserves about 3)")
    grade.add_argument("--source", type=Path, default=None, metavar="DIR",
                       help="the teacher notebooks (default: the repository's notebooks/)")
    grade.add_argument("--no-box", action="store_true",
                       help="run without a box (only for notebooks you trust)")
    grade.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .grader import GradingError, grade
    from .report import ReportError
    from .run import Limits

    missing = [str(p) for p in args.submissions if not p.exists()]
    if missing:
        raise InputError(f"no such submission: {', '.join(missing)}")
    limits = Limits(notebook_seconds=args.timeout,
                    cell_seconds=min(args.cell_timeout, args.timeout),
                    memory_bytes=int(args.memory * 2**30))

    def progress(job: Any, execution: Any, marks: dict) -> None:
        done = sum(1 for m in marks.values() if m.status == "correct")
        stopped = f", stopped: {execution.stopped}" if execution.stopped else ""
        print(f"graded {job.name} ({job.path.name}, lesson {job.lesson.number}): {done} of "
              f"{len(marks)} "
              f"correct, {execution.seconds:.0f} s{stopped}", file=sys.stderr)

    try:
        reports = grade(args.submissions, args.out, jobs=args.jobs, limits=limits,
                        source=args.source, no_box=args.no_box, progress=progress)
    except (GradingError, ReportError) as exc:
        raise InputError(str(exc)) from exc
    print(f"{len(reports)} students graded: {args.out / 'grades.csv'}, "
          f"{args.out / 'grades.html'}, {args.out / 'feedback'}/")
    return 0
