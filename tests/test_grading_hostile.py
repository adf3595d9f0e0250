"""Issue 19, acceptance 5: the hostile corpus, graded in the class's run (``test_grading_class``).

Each hostile submission (``tests/fixtures/submissions.py``) is one lesson-01 notebook that does
one bad thing: an infinite loop, a memory bomb, a fork bomb, ``os._exit``, a segmentation fault,
a file past the size limit, 40 MB of output and 4000 small outputs (then a file past the size
limit, which must still be seen), reading the other students' notebooks and the teacher's, fake
"✓ correct" prints, a redefined ``ex`` with patched checkers and a patched
``Exercise.evaluate``, deleting and rewriting the other submissions, the output folder, the
teacher notebooks and the package, a network request (and one to the grader's own loopback), a
corrupt notebook and a notebook of another lesson; two students share a name. They run mixed
with ordinary students, two at a time, with the default memory, process and file-size limits
and a 25 s cell limit, in a private ``TMPDIR`` (mode 0700, as pam_tmpdir makes it).

Each is graded as its behaviour deserves (a limit broken in an exercise's cells is that
exercise's "error", the limit named; hostile but right answers are right), every ordinary
student is graded exactly as when the ordinary students are graded alone, the package, its
assets and every input are byte-identical afterwards, nothing the vandal tried to create exists,
no process of the run is left and nothing of it is left in the temporary folder.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from fixtures.submissions import (
    CELL_SECONDS,
    KEYS,
    LESSON_02_KEYS,
    ClassRuns,
    class_runs,
    created_paths,
)

pytestmark = pytest.mark.slow

#: Hostile submission -> what its marks must say (the reasons checked in full by
#: test_grading_class); here the name of the limit or the behaviour, per exercise.
HOSTILE = {
    "loop": ("correct", "correct", f"cell time limit ({CELL_SECONDS} s)"),
    "hog": ("correct", "memory limit (MemoryError", "correct"),
    "forker": ("correct", "correct", "process limit (BlockingIOError"),
    "quitter": ("correct", "the kernel exited (status 0)", "the kernel exited (status 0)"),
    "crasher": ("correct", "correct", "the kernel crashed (segmentation fault)"),
    "filler": ("correct", "file-size limit (OSError", "correct"),
    "netter": ("correct", "no network in the box (URLError", "correct"),
    "shouter": ("correct", "correct", "file-size limit (OSError"),
    "thief": ("correct", "correct", "correct"),
    "vandal": ("correct", "correct", "correct"),
    "faker": ("not attempted", "NameError", "NameError"),
    "patcher": ("not yet", "not yet", "not yet"),
    "corrupt": ("could not be read or graded",) * 3,
    "lesson02": ("no notebook of lesson 01 handed in",) * 3,
}


@pytest.fixture(scope="module")
def runs() -> ClassRuns:
    return class_runs()


def _row(runs: ClassRuns, name: str) -> dict[str, str]:
    return runs.together.rows[name]


@pytest.mark.parametrize("name", list(HOSTILE))
def test_each_hostile_submission_is_graded_as_it_deserves(runs, name):
    row = _row(runs, name)
    for key, expected in zip(KEYS, HOSTILE[name], strict=True):
        shown = f"{row[key]}: {row[f'{key} reason']}"
        assert expected in shown, (name, key, shown)
    assert set(HOSTILE) == {s.name for s in runs.students if s.hostile}
    student = next(s for s in runs.students if s.name == name)
    assert {k: row[k] for k in KEYS} == {k: status for k, (status, _) in student.marks.items()}


def test_the_hostile_cells_that_raise_nothing_ran_to_their_end(runs):
    # the thief's and the vandal's answers are wrong unless their cells finished; an error in
    # the patcher's cell would be noted
    for name in ("thief", "vandal", "patcher"):
        assert "error(s) stopped cells" not in _row(runs, name)["notes"], name


def test_a_limit_broken_in_an_exercise_is_its_error_named_by_the_limit(runs):
    limits = {"loop": "cell time limit", "hog": "memory limit", "forker": "process limit",
              "filler": "file-size limit", "netter": "no network in the box",
              "shouter": "file-size limit"}  # the last after 40 MB and 4000 outputs
    for name, limit in limits.items():
        row = _row(runs, name)
        broken = [k for k in KEYS if row[k] == "error"]
        assert len(broken) == 1 and row[f"{broken[0]} reason"].startswith(limit), (name, row)
        assert all(row[k] == "correct" for k in KEYS if k not in broken), (name, row)


def test_a_kernel_that_dies_fails_only_the_exercises_it_had_not_reached(runs):
    quitter, crasher = _row(runs, "quitter"), _row(runs, "crasher")
    assert [quitter[k] for k in KEYS] == ["correct", "error", "error"]
    assert [crasher[k] for k in KEYS] == ["correct", "correct", "error"]
    texts = _feedback(runs)
    assert "stopped: the kernel exited (status 0)" in texts["quitter"]
    assert "stopped: the kernel crashed (segmentation fault)" in texts["crasher"]


def test_every_other_student_is_graded_as_when_graded_alone(runs):
    ordinary = [s.name for s in runs.students if not s.hostile]
    assert len(ordinary) == 16 and set(runs.alone.rows) == set(ordinary)
    columns = [c for k in KEYS for c in (k, f"{k} reason")] + ["notes"]
    for name in ordinary:
        together = {c: runs.together.rows[name][c] for c in columns}
        alone = {c: runs.alone.rows[name][c] for c in columns}
        assert together == alone, name
    assert not any(k in next(iter(runs.alone.rows.values())) for k in LESSON_02_KEYS)


def test_the_package_its_assets_and_every_input_are_byte_identical(runs):
    assert runs.before, "nothing was hashed"
    assert any("/xai_tutorial/grading/" in p for p in runs.before)
    assert any(p.endswith("/teacher/01_pretrained_classifier.ipynb") for p in runs.before)
    changed = sorted(p for p in runs.before.keys() | runs.after.keys()
                     if runs.before.get(p) != runs.after.get(p))
    # (run alone: someone editing the package meanwhile shows here too, as a root-owned file)
    assert changed == [], [f"{p} (owner uid {_owner(Path(p))})" for p in changed]


def test_the_vandal_created_nothing_and_broke_nothing_outside_its_folder(runs):
    assert runs.created == []
    assert len(created_paths(runs.places)) == 6
    vandal = _row(runs, "vandal")
    assert "BROKE" not in vandal["flip_probability reason"]
    out = runs.places.out
    assert sorted(p.name for p in out.iterdir()) == ["feedback", "grades.csv", "grades.html"]
    assert len(runs.together.rows) == 30


def test_no_submission_reads_another_students_notebook(runs):
    assert _row(runs, "thief")["flip_probability"] == "correct"  # it read nothing at all
    secret = runs.places.secret
    assert secret in (runs.places.klass / "ann.ipynb").read_text()  # the secret to steal
    out = runs.places.out
    for path in [out / "grades.csv", out / "grades.html", *(out / "feedback").iterdir()]:
        assert secret not in path.read_text(encoding="utf-8"), path.name


def test_fake_prints_and_patched_checkers_change_nothing(runs):
    texts = _feedback(runs)
    faker = [line for line in texts["faker"].splitlines() if line.startswith("- ")]
    assert faker and not any("✓" in line for line in faker)
    patcher, rows = _row(runs, "patcher"), runs.together.rows
    # the same wrong answers as fay's first, eve's second and gus's third: the same reasons
    same = {"inception_preprocessing": "fay", "top3_by_hand": "eve", "flip_probability": "gus"}
    for key, other in same.items():
        assert patcher[key] == "not yet"
        assert patcher[f"{key} reason"] == rows[other][f"{key} reason"]


def test_huge_output_is_cut_and_noted_and_hides_no_later_error(runs):
    assert "printed over 32 MB; the rest was not kept" in _row(runs, "shouter")["notes"]
    assert "OSError: [Errno 27] File too large" in _feedback(runs)["shouter"]
    out = runs.places.out
    assert sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) < 2**20


def test_no_connection_reached_the_graders_loopback(runs):
    assert runs.connections == []
    assert _row(runs, "netter")["top3_by_hand reason"].startswith("no network in the box")


def test_corrupt_notebook_and_another_lesson_are_reported(runs):
    corrupt, other = _row(runs, "corrupt"), _row(runs, "lesson02")
    assert "corrupt.ipynb: not a valid notebook" in corrupt["notes"]
    assert [other[k] for k in LESSON_02_KEYS] == ["not attempted"] * 3
    assert "not a notebook of a known lesson" not in other["notes"]


def test_no_process_of_the_run_is_left(runs):
    assert runs.together.strays == [] and runs.alone.strays == []


def test_nothing_of_the_run_is_left_in_the_temporary_folder(runs):
    # torchvision's import makes the per-user compile cache folder ``torchinductor_<user>`` in
    # any program's temporary folder; it is torch's, reused, and not the grader's
    cache = str(runs.places.tmp / f"torchinductor_{getpass.getuser()}")
    for run in (runs.together, runs.alone):
        assert [p for p in run.left if p != cache] == []
    assert Path(runs.places.tmp).stat().st_mode & 0o777 == 0o700


def _owner(path: Path) -> int | None:
    return path.lstat().st_uid if path.exists() or path.is_symlink() else None


def _feedback(runs: ClassRuns) -> dict[str, str]:
    found = {}
    for path in (runs.places.out / "feedback").iterdir():
        text = path.read_text(encoding="utf-8")
        found[text.splitlines()[0].removeprefix("# Feedback: ")] = text
    return found
