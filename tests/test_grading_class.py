"""Issue 19, acceptance 1: a class of 30 lesson-01 submissions graded in one run, ``--jobs 2``.

The class (``tests/fixtures/submissions.py``) is built from the student copy: right answers,
right answers written another way (``transforms.v2``, ``topk``, ``Image.transpose``), the empty
copy, wrong answers of each kind the checkers name, half-done ones, an ordinary ``NameError``, a
deleted check cell, two students called alice, a student's folder with an extra notebook, and
the 14 hostile submissions of ``test_grading_hostile.py`` mixed in. It is graded once, with the
command line, and the table is checked cell by cell: every status, and every reason that is
not "correct" says why. The folder the grader writes holds exactly grades.csv, grades.html and
feedback/.
"""

from __future__ import annotations

import csv
import html
import re
from pathlib import Path

import pytest
from fixtures.submissions import JOBS, KEYS, LESSON_02_KEYS, ClassRuns, class_runs

pytestmark = pytest.mark.slow

STATUSES = ("correct", "not yet", "not attempted", "error")


@pytest.fixture(scope="module")
def runs() -> ClassRuns:
    return class_runs()


def feedback_files(out: Path) -> dict[str, str]:
    """Student name (from its heading) -> the text of their feedback file."""
    found = {}
    for path in sorted((out / "feedback").iterdir()):
        text = path.read_text(encoding="utf-8")
        name = text.splitlines()[0].removeprefix("# Feedback: ")
        assert name not in found, f"two feedback files for {name}"
        found[name] = text
    return found


def test_the_class_is_thirty_mixed_submissions_graded_in_one_run(runs):
    assert len(runs.students) == 30 and JOBS == 2
    assert sum(s.hostile for s in runs.students) == 14
    # rows in the order of the students' names, whatever their case
    names = [s.name for s in runs.students]
    assert list(runs.together.rows) == sorted(names, key=lambda n: (n.casefold(), n))
    statuses = {row[key] for row in runs.together.rows.values() for key in KEYS}
    assert statuses == set(STATUSES)
    output = runs.together.output
    assert "30 students graded" in output
    # every notebook that could run, ran: all but the corrupt one and lesson 00's
    ran = re.findall(r"^graded .* \((\S+), lesson (\d\d)\): ", output, re.M)
    assert len(ran) == 29 and ran.count(("alice.ipynb", "01")) == 2, output


def test_every_cell_of_the_table_is_the_expected_one(runs):
    wrong = []
    for student in runs.students:
        row = runs.together.rows[student.name]
        for key, (status, reason) in student.marks.items():
            got, why = row[key], row[f"{key} reason"]
            if got != status or (reason not in why if reason else why != ""):
                wrong.append(f"{student.name} / {key}: expected {status!r} ({reason!r}), "
                             f"got {got!r} ({why!r})")
        assert set(row[key] for key in KEYS) <= set(STATUSES)
    assert not wrong, "\n".join(wrong)


def test_the_totals_count_the_correct_cells_and_notes_say_what_happened(runs):
    for student in runs.students:
        row = runs.together.rows[student.name]
        # a lesson the student did not hand in is left out of their total
        keys = [k for k in (*KEYS, *LESSON_02_KEYS)
                if not row[f"{k} reason"].startswith("no notebook of lesson")]
        assert row["correct"] == str(sum(row[k] == "correct" for k in keys)), student.name
        assert row["total"] == str(len(keys)), student.name
        if student.notes is not None:
            notes = re.sub(r"(; )?\d+ error\(s\) stopped cells \(see the feedback\)", "",
                           row["notes"])
            assert all(note in notes for note in student.notes), (student.name, row["notes"])
            assert bool(notes) == bool(student.notes), (student.name, row["notes"])
    assert runs.together.rows["dora"]["total"] == "6"  # lesson 00's notebook might have been 02
    assert runs.together.rows["lesson02"]["total"] == "3"
    assert "2 error(s) stopped cells" in runs.together.rows["faker"]["notes"]


def test_a_notebook_of_lesson_02_adds_its_columns_not_attempted_by_the_others(runs):
    for student in runs.students:
        row = runs.together.rows[student.name]
        for key in LESSON_02_KEYS:
            if student.name == "lesson02":
                assert row[key] == "not attempted"
                assert row[f"{key} reason"].startswith("not attempted yet (define ")
            elif student.name in ("dora", "corrupt"):  # a notebook of theirs was not graded
                assert row[key] == "error"
                assert "could not be read or graded" in row[f"{key} reason"]
            else:
                assert row[key] == "not attempted", (student.name, key)
                assert row[f"{key} reason"] == "no notebook of lesson 02 handed in"


def test_the_output_folder_holds_exactly_the_report(runs):
    out = runs.places.out
    assert sorted(p.name for p in out.iterdir()) == ["feedback", "grades.csv", "grades.html"]
    files = list((out / "feedback").iterdir())
    assert len(files) == 30 and all(p.is_file() and p.suffix == ".md" for p in files)
    assert set(feedback_files(out)) == {s.name for s in runs.students}
    with (out / "grades.csv").open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header[:1 + len(KEYS)] == ["student", *KEYS]
    assert [f"{k} reason" for k in KEYS] == [h for h in header if h.endswith(" reason")][:3]


def test_each_feedback_says_what_the_table_says(runs):
    texts = feedback_files(runs.places.out)
    titles = {"inception_preprocessing": "Inception-v3's preprocessing",
              "top3_by_hand": "Top 3 by hand", "flip_probability": "A mirrored photo"}
    signs = {"correct": "✓", "not yet": "✗", "not attempted": "○", "error": "⚠"}
    for student in runs.students:
        row, text = runs.together.rows[student.name], texts[student.name]
        marks = [line for line in text.splitlines() if line.startswith("- ")]
        for key in KEYS:
            if row[f"{key} reason"] == "no notebook of lesson 01 handed in":
                continue
            line = next(m for m in marks if titles[key] in m)
            assert line.startswith(f"- {signs[row[key]]} "), (student.name, line)
            assert row[f"{key} reason"] in line
    lea = texts["lea"]
    assert "NameError: name 'secnd_image' is not defined" in lea
    assert lea.count("Traceback (most recent call last)") == 1
    assert "\\n" not in lea  # an error's lines are lines, not one line of escaped newlines


def test_the_html_table_lists_every_student_and_status(runs):
    page = (runs.places.out / "grades.html").read_text(encoding="utf-8")
    for student in runs.students:
        assert html.escape(student.name, quote=False) in page or (
            html.escape(student.name) in page), student.name
    assert all(status in page for status in STATUSES)
    assert "<script src" not in page and not re.search(r"""(href|src)=["']https?:""", page)


def test_two_students_called_alice_are_graded_apart(runs):
    alices = [s for s in runs.students if s.name.startswith("alice (")]
    assert len(alices) == 2 and alices[0].path.name == alices[1].path.name == "alice.ipynb"
    first, second = (runs.together.rows[s.name] for s in alices)
    assert [first[k] for k in KEYS] == ["correct"] * 3
    assert [second[k] for k in KEYS] == ["not yet", "correct", "correct"]
    # told apart by folder and file, and no row shows the instructor's own paths
    assert [s.name for s in alices] == ["alice (a/alice.ipynb)", "alice (b/alice.ipynb)"]
    assert not any(str(s.path.parent) in s.name for s in alices)
