"""Grade a class: submissions in, a student x exercise table out (``python -m xai_tutorial grade``).

The order of work, so that nothing a submission does can change a grade but its own:

1. Read every submission as data (size-capped JSON), tell its lesson from its cells.
2. Before any submission runs: read the teacher notebooks (their parameters and hidden tests),
   and build each lesson's pristine context (model, photos, ...) in this process.
3. Run each submission in its own box (:mod:`.box`, :mod:`.run`), ``jobs`` at a time; the
   grader's export cells send the answers out as data (:mod:`.answers`).
4. Check the answers here, with the lesson's own checkers and the pristine context, then the
   hidden tests; write the report all-or-nothing (:mod:`.report`).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from ..core.images import load_image
from . import answers as answers_mod
from . import lessons as lessons_mod
from .box import remove_cgroups
from .marks import error_lines, marks_for, missing_lesson_marks
from .report import Column, Mark, StudentReport, check_out, write_report
from .run import BOX_SCRIPT, Execution, Limits, execute

#: A notebook bigger than this is not read (a lesson's notebook is a few hundred kB).
MAX_NOTEBOOK_BYTES = 20 * 2**20
#: Nor one of more cells than this.
MAX_CELLS = 2000
ASSETS = Path(__file__).resolve().parents[2] / "assets"


class GradingError(RuntimeError):
    """The grader cannot run (the instructor's problem: no box, no teacher notebooks, ...)."""


@dataclass
class Submission:
    """One student's files: ``name`` is the file's or the folder's name."""

    name: str
    files: list[Path]
    notes: list[str] = field(default_factory=list)


def find_submissions(paths: Sequence[Path]) -> tuple[list[Submission], list[str]]:
    """One submission per path: a notebook, or a folder of notebooks (searched below it,
    checkpoints and symbolic links skipped); what is neither (a ``README.txt`` among the
    notebooks, a hidden file) is skipped and said. Two students of the same name are told apart
    by their paths. Returns the submissions and the skipped paths' lines.

    Raises:
        GradingError: a single folder that holds a whole class (several notebooks of one lesson,
            or folders of notebooks): the instructor meant its entries (``submissions/*``).
    """
    found, skipped = [], []
    for path in paths:
        if path.name.startswith("."):
            skipped.append(f"skipped {path}: a hidden file")
        elif path.is_dir():
            found.append(_folder(path))
        elif path.suffix.lower() == ".ipynb":
            found.append(Submission(path.stem, [path]))
        else:
            skipped.append(f"skipped {path}: not a notebook (.ipynb) or a folder of notebooks")
    if len(found) == 1 and len(paths) == 1 and paths[0].is_dir() and len(found[0].files) > 1:
        raise GradingError(f"{paths[0]} holds {len(found[0].files)} notebooks: if it is the "
                           f"class's folder, give its entries ({paths[0]}/*): each is one "
                           "student")
    counts: dict[str, int] = {}
    for sub in found:
        counts[sub.name] = counts.get(sub.name, 0) + 1
    for sub in found:
        if counts[sub.name] > 1:
            sub.notes.append(f"another submission has the name {sub.name!r}: told apart by path")
            where = sub.files[0] if sub.files else Path(sub.name)
            sub.name = f"{sub.name} ({Path(where.parent.name) / where.name})"
    return sorted(found, key=lambda sub: (sub.name.casefold(), sub.name)), skipped


def _folder(path: Path) -> Submission:
    """A student's folder: its notebooks, below it (checkpoints and links skipped)."""
    files, notes = [], []
    for file in sorted(path.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in file.parts:
            continue
        if file.is_symlink() or not file.is_file():
            notes.append(f"skipped {file.name}: not a regular file")
            continue
        files.append(file)
    if not files:
        notes.append(f"no notebook in the folder {path.name}")
    return Submission(path.name, files, notes)


def read_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str | None]:
    """The notebook at ``path``, or None and why it cannot be read (one line)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return None, f"{path.name}: not a regular file"
            data = f.read(MAX_NOTEBOOK_BYTES + 1)
    except OSError as exc:
        return None, f"{path.name}: cannot be read ({exc.strerror})"
    if len(data) > MAX_NOTEBOOK_BYTES:
        return None, f"{path.name}: over {MAX_NOTEBOOK_BYTES // 2**20} MB, not read"
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
        if len(nb.cells) > MAX_CELLS:
            return None, (f"{path.name}: {len(nb.cells)} cells, over {MAX_CELLS} (a lesson has "
                          "about a hundred), not run")
    except (ValueError, UnicodeDecodeError, nbformat.ValidationError, KeyError,
            TypeError, AttributeError, RecursionError) as exc:
        reason = " ".join(str(exc).split())[:160]
        return None, f"{path.name}: not a valid notebook ({type(exc).__name__}: {reason})"
    return nb, None


@dataclass
class Job:
    """One notebook of one student, read and of a known lesson."""

    student: int
    path: Path
    lesson: lessons_mod.Lesson
    notebook: nbformat.NotebookNode
    name: str = ""  # the student's


@dataclass
class Pristine:
    """What the grader reads before any submission runs, per lesson."""

    lesson: lessons_mod.Lesson
    params_source: str
    hidden: dict[str, str]
    context: dict[str, Any]
    probes: dict[str, Any]


def load_pristine(lessons: Sequence[lessons_mod.Lesson], source: Path) -> dict[str, Pristine]:
    """Teacher notebooks, parameters, hidden tests and contexts of ``lessons``."""
    found = {}
    for lesson in lessons:
        try:
            teacher = lessons_mod.teacher(lesson, source)
        except (OSError, ValueError) as exc:
            raise GradingError(f"the teacher notebook of lesson {lesson.number} "
                               f"({source / lesson.notebook}) cannot be read: {exc}") from exc
        params_source, params = lessons_mod.parameters(teacher)
        context = lessons_mod.context(lesson, params, source)
        probes = {name: load_image(name) for exercise in lesson.exercises.values()
                  for name in exercise.probes}
        found[lesson.number] = Pristine(lesson, params_source,
                                        lessons_mod.hidden_tests(teacher, lesson), context, probes)
    return found


def plan(submissions: Sequence[Submission]) -> tuple[list[Job], list[set[str]], list[bool]]:
    """The notebooks to run; per student the lessons handed in, and whether a file of theirs
    could not be read (their lessons not handed in are then "error", not "not attempted")."""
    jobs: list[Job] = []
    handed: list[set[str]] = [set() for _ in submissions]
    broken = [False for _ in submissions]
    for index, sub in enumerate(submissions):
        for path in sub.files:
            nb, problem = read_notebook(path)
            if nb is None:
                sub.notes.append(problem or f"{path.name}: cannot be read")
                broken[index] = True
                continue
            lesson = lessons_mod.lesson_of(nb)
            if lesson is None:
                sub.notes.append(f"{path.name}: not a notebook of a known lesson (no "
                                 "`ex.<name>.check()` cell of lessons 01-05)")
                broken[index] = True
                continue
            handed[index].add(lesson.number)
            jobs.append(Job(index, path, lesson, nb, sub.name))
    return _one_per_lesson(jobs, submissions), handed, broken


def _one_per_lesson(jobs: list[Job], submissions: Sequence[Submission]) -> list[Job]:
    """A student's one notebook per lesson: of two, the one named like the lesson's notebook,
    else the one saved last (a ``-Copy1`` left beside the real one); the other is noted."""
    chosen: dict[tuple[int, str], Job] = {}
    for job in jobs:
        key = (job.student, job.lesson.number)
        other = chosen.get(key)
        if other is None or _preferred(job, other):
            chosen[key] = job
    for job in jobs:
        winner = chosen[(job.student, job.lesson.number)]
        if job is not winner:
            submissions[job.student].notes.append(
                f"{job.path.name}: a second notebook of lesson {job.lesson.number}, not graded "
                f"({winner.path.name} is: named like the lesson, or saved last)")
    return [job for job in jobs if chosen[(job.student, job.lesson.number)] is job]


def _preferred(job: Job, other: Job) -> bool:
    named = job.path.name == job.lesson.notebook
    if named != (other.path.name == other.lesson.notebook):
        return named
    return job.path.stat().st_mtime > other.path.stat().st_mtime


# ----------------------------------------------------------------------------------------------
# The box: which kind this machine allows, and each box's folder and description


def _ancestors(path: Path) -> set[Path]:
    return {path, *path.parents}


def box_spec(mode: str, staging: Path, hidden: Sequence[Path]) -> dict[str, Any]:
    """``box.py``'s description shared by every box of a run (its folder, user, limits and
    environment are added per box): what to hide, what to keep visible under it."""
    hide_dirs = {p.resolve() for p in hidden if p.is_dir()}
    hide_files = {p.resolve() for p in hidden if p.is_file()}
    home = Path.home().resolve()
    if home != Path("/"):
        hide_dirs.add(home)
    needed = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
              Path(sys.executable).resolve().parent, ASSETS.parent,
              *(Path(p) for p in sys.path if p and p != os.getcwd() and Path(p).is_dir()),
              *(Path(os.environ["NLTK_DATA"]) for _ in [1] if "NLTK_DATA" in os.environ),
              *(Path(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)}
    needed = {p.resolve() for p in needed}
    # A folder the kernel needs (the Python installation, the package) is never hidden whole;
    # one under a hidden folder is bound back in, read-only.
    hide_dirs = {d for d in hide_dirs if not any(d in _ancestors(n) for n in needed)} | (
        {home} if home != Path("/") else set())
    tmpfs = ["/tmp", "/var/tmp", "/dev/shm"]
    if not str(staging).startswith("/tmp/"):
        tmpfs.append(str(staging))
    covered = hide_dirs | {Path(t) for t in tmpfs}
    expose = sorted(str(n) for n in needed if any(h in n.parents for h in covered))
    return {"mode": mode, "network": True, "tmpfs": tmpfs,
            "hide_dirs": sorted(str(d) for d in hide_dirs),
            "hide_files": sorted(str(f) for f in hide_files), "expose": expose}


def box_mode(no_box: bool) -> str:
    """``root`` (as root), ``userns`` (a user namespace of the user's own), ``none`` (only with
    ``--no-box``); raises GradingError when no box can be built and ``--no-box`` was not given."""
    if no_box:
        return "none"
    if sys.platform != "linux":
        raise GradingError("the box needs Linux (namespaces); on this system, grade only "
                           "notebooks you trust, with --no-box")
    mode = "root" if os.geteuid() == 0 else "userns"
    with tempfile.TemporaryDirectory(prefix="xai-probe-") as folder:
        box = Path(folder)
        spec = {"mode": mode, "uid": 1_999_999_999, "box": str(box), "cwd": str(box),
                "network": True, "tmpfs": [], "limits": {}, "env": {}}
        (box / "spec.json").write_text(json.dumps(spec))
        done = subprocess.run([sys.executable, "-I", str(BOX_SCRIPT), str(box / "spec.json"),
                               "--", "/bin/true"], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise GradingError(f"cannot build a box on this machine ({mode}: "
                           f"{' '.join(done.stderr.split())[:200]}); grade only notebooks you "
                           "trust, with --no-box")
    return mode


def cgroups_work() -> bool:
    """Can each box get control groups of its own (root, a cpu and a pids controller)?"""
    if os.geteuid() != 0 or sys.platform != "linux":
        return False
    name = f"xai-grade-probe-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="xai-probe-") as folder:
        spec_path = Path(folder) / "spec.json"
        spec_path.write_text(json.dumps({"mode": "none", "box": folder, "cwd": folder,
                                         "limits": {}, "env": {},
                                         "cgroup": {"name": name, "cpus": 1, "pids": 64}}))
        done = subprocess.run([sys.executable, "-I", str(BOX_SCRIPT), str(spec_path), "--",
                               "/bin/true"], capture_output=True, text=True, timeout=60)
    remove_cgroups(name)
    return done.returncode == 0 and "no control group" not in done.stderr


def _uid(index: int) -> int:
    """A user id of one box: unused by the system, different for every box of every run."""
    return 1_500_000_000 + (os.getpid() % 10_000) * 10_000 + index % 10_000


async def _run_job(job: Job, index: int, pristine: Pristine, staging: Path,
                   spec: dict[str, Any], limits: Limits) -> tuple[Execution, list]:
    with box_folder(staging / f"b{index}", spec["mode"], limits) as box:
        return await _run_in(box, job, index, pristine, staging, spec, limits)


@contextmanager
def box_folder(box: Path, mode: str, limits: Limits) -> Iterator[Path]:
    """The box's folder, removed afterwards; as root a filesystem of its own of
    ``limits.disk_bytes`` (in memory), so that no submission can fill the grader's disk."""
    from .box import MS_NODEV, MS_NOSUID, BoxError, mount, umount

    box.mkdir()
    mounted = False
    try:
        if mode == "root":
            mount("tmpfs", str(box), "tmpfs", MS_NOSUID | MS_NODEV,
                  f"size={limits.disk_bytes},nr_inodes=100000,mode=0700")
            mounted = True
        yield box
    finally:
        if mounted:
            try:
                umount(str(box))
            except BoxError:
                pass
        shutil.rmtree(box, ignore_errors=True)


async def _run_in(box: Path, job: Job, index: int, pristine: Pristine, staging: Path,
                  spec: dict[str, Any], limits: Limits) -> tuple[Execution, list]:
    (box / "notebooks").mkdir()
    shutil.copytree(ASSETS, box / "assets")
    for sub in (".config", ".cache", ".ipython", ".runtime"):
        (box / sub).mkdir()
    # (in a thread: a huge notebook must not hold up the kernels already running)
    prepared, sections = await asyncio.to_thread(
        lessons_mod.prepare, job.notebook, job.lesson, pristine.params_source,
        answers_mod.export_cell)
    await asyncio.to_thread(nbformat.write, prepared, box / "notebooks" / job.lesson.notebook)
    exports = frozenset(section.export_cell for section in sections)
    group = {"name": f"xai-grade-{os.getpid()}-{index}", "cpus": 1, "pids": limits.processes}
    if spec.get("cgroups"):
        spec = {**spec, "cgroup": group}
    try:
        run = await execute(prepared, box, {**spec, "uid": _uid(index)}, limits,
                            staging / f"b{index}.log", exports)
    finally:
        if spec.get("cgroups"):
            remove_cgroups(group["name"])
    return run, sections


async def run_all(jobs: Sequence[Job], pristine: dict[str, Pristine], spec: dict[str, Any],
                  limits: Limits, workers: int, staging: Path,
                  progress: Any = None) -> list[tuple[Execution, dict[str, Mark]]]:
    """Every job in its box, ``workers`` at a time; each run checked as soon as it ends (in a
    thread, so the other kernels keep being served)."""
    semaphore = asyncio.Semaphore(workers)
    checker = ThreadPoolExecutor(max_workers=1)
    loop = asyncio.get_running_loop()

    async def one(index: int, job: Job) -> tuple[Execution, dict[str, Mark]]:
        async with semaphore:
            run, sections = await _run_job(job, index, pristine[job.lesson.number], staging,
                                           spec, limits)
        marks = await loop.run_in_executor(checker, marks_for, run, sections,
                                           pristine[job.lesson.number], limits.answer_bytes)
        for cell in run.notebook.cells:  # the outputs are not graded: not kept for the report
            if cell.get("cell_type") == "code":
                cell["outputs"] = [o for o in cell.get("outputs", [])
                                   if o.get("output_type") == "error"]
        run.answers = {}
        if progress is not None:
            progress(job, run, marks)
        return run, marks

    try:
        return list(await asyncio.gather(*(one(i, job) for i, job in enumerate(jobs))))
    finally:
        checker.shutdown()


def columns_of(lessons: Sequence[lessons_mod.Lesson]) -> list[Column]:
    return [Column(lesson.number, key, exercise.name) for lesson in lessons
            for key, exercise in lesson.exercises.items()]


def _check_places(paths: Sequence[Path], out: Path, source: Path) -> None:
    """Before anything runs: ``out`` can be written (absent, empty or earlier grades) and is
    not one of the inputs."""
    check_out(out)
    target = out.resolve()
    for path in [*paths, source]:
        if target == path.resolve() or path.resolve() in target.parents:
            raise GradingError(f"--out {out} is inside the input {path}: choose a folder "
                               "outside the submissions and the teacher notebooks")


def _shown(file: Path, paths: Sequence[Path]) -> str:
    """``file`` as the student knows it: its name, or its path inside their folder."""
    for path in paths:
        if path.is_dir() and path in file.parents:
            return str(Path(path.name) / file.relative_to(path))
    return file.name


def summary_lines(mode: str, spec: dict[str, Any], limits: Limits, jobs: int,
                  seconds: float, notebooks: int) -> list[str]:
    """What the box enforced in this run, and what it could not (shown above the table)."""
    lines = [f"{notebooks} notebooks graded in {seconds:.0f} s, {jobs} at a time; limits per "
             f"notebook: {limits.notebook_seconds:g} s wall-clock ({limits.cell_seconds:g} s per "
             f"cell), {limits.memory_bytes / 2**30:g} GiB address space, {limits.processes} "
             f"processes and threads, {limits.file_bytes // 2**20} MB per file written, "
             f"{limits.output_bytes // 2**20} MB of output kept."]
    if mode == "none":
        lines.append("NOT in a box (--no-box): the submissions ran as the grader's user, with "
                     "its files and network; use this only for notebooks you trust.")
        return lines
    who = ("an unprivileged user of its own" if mode == "root" else
           "your user, in a user namespace (the process limit counts all of your processes)")
    if spec.get("cgroups"):
        who += ", with at most one CPU of time and as many tasks as its process limit"
    else:
        who += " (no control groups here: a box that spins or forks can slow the others)"
    lines.append(f"Each notebook ran in a box: its own kernel and copy of the lesson, as {who}; "
                 "no network (loopback only); every file read-only but its own folder and a "
                 f"private /tmp; {len(spec['hide_dirs']) + len(spec['hide_files'])} folders "
                 "and files of the grader hidden (the submissions, the output folder, the "
                 "teacher notebooks, the grader's home).")
    lines.append("Answers were checked outside the box, as data, with the teacher "
                 "notebooks' parameters and hidden tests.")
    return lines


def grade(paths: Sequence[Path], out: Path, *, jobs: int | None = None,
          limits: Limits | None = None, source: Path | None = None, no_box: bool = False,
          progress: Any = None) -> list[StudentReport]:
    """Grade ``paths`` (one student each) into ``out`` (see the module's docstring)."""
    start = time.perf_counter()
    limits = limits or Limits()
    source = (source or lessons_mod.NOTEBOOKS).resolve()
    _check_places(paths, out, source)
    submissions, skipped = find_submissions(paths)
    for line in skipped:
        print(line, file=sys.stderr)
    work, handed, broken = plan(submissions)
    lessons = [lessons_mod.LESSONS[n] for n in sorted({job.lesson.number for job in work})]
    mode = box_mode(no_box)
    pristine = load_pristine(lessons, source)
    workers = max(1, jobs or os.cpu_count() or 1)
    staging = Path(tempfile.mkdtemp(prefix="xai-grade-"))
    try:
        staging.chmod(0o711)
        spec = {**box_spec(mode, staging, [*paths, out, source]),
                "cgroups": mode == "root" and cgroups_work()}
        runs = asyncio.run(run_all(work, pristine, spec, limits, workers, staging, progress))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    reports = [StudentReport(sub.name, {}, list(sub.notes), [],
                             [_shown(f, paths) for f in sub.files]) for sub in submissions]
    for job, (run, marks) in zip(work, runs, strict=True):
        report = reports[job.student]
        report.marks.update(marks)
        report.errors.extend(error_lines(run, job.lesson.number))
        if run.malformed:
            report.notes.append(f"lesson {job.lesson.number}: its kernel sent {run.malformed} "
                                "message(s) of a shape the grader cannot read (dropped)")
        if run.dropped_output:
            report.notes.append(f"lesson {job.lesson.number}: the notebook printed over "
                                f"{limits.output_bytes // 2**20} MB; the rest was not kept "
                                "(outputs are not graded)")
    for index, report in enumerate(reports):
        for lesson in lessons:
            if lesson.number not in handed[index]:
                report.marks.update(missing_lesson_marks(lesson, broken[index]))
    summary = summary_lines(mode, spec, limits, workers, time.perf_counter() - start, len(work))
    write_report(out, columns_of(lessons), reports, summary=summary)
    return reports
