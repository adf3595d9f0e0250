"""The grade folder: ``grades.csv``, ``grades.html`` and ``feedback/<student>.md``, all-or-nothing.

:func:`write_report` turns the grader's results (one :class:`StudentReport` per student, one
:class:`Column` per exercise) into the three outputs an instructor reads. Everything is written in
a temporary folder beside ``out`` and moved into place at the end, so an interrupted run leaves
either the previous grades or the new ones, never half of each; and ``out`` is only replaced when
it is absent, empty, or an earlier grade folder (so a wrong ``--out`` cannot delete someone's work).

Everything in a report may come from a student (names, reasons quoting their values, error
messages), so every output treats it as hostile: the CSV guards against spreadsheet formulas, the
HTML escapes it (and its Content-Security-Policy lets only its own inline style and script run),
and feedback file names are sanitized and made unique.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: The four statuses a mark can have, best first (the HTML table sorts in this order).
STATUSES = ("correct", "not yet", "error", "not attempted")
#: What a status looks like: a symbol beside the word, and (background, text) colours. Blue,
#: orange, dark purple and grey stay apart for the common colour-vision deficiencies, and each
#: text colour has a contrast of at least 7:1 on its background (tests check both).
STATUS_STYLE = {
    "correct": ("✓", "#d4e8f7", "#08365a"),
    "not yet": ("✗", "#fbe0b4", "#4d2c00"),
    "error": ("⚠", "#4a235a", "#ffffff"),
    "not attempted": ("○", "#ececec", "#2b2b2b"),
}
ENTRIES = frozenset({"grades.csv", "grades.html", "feedback"})
MAX_NAME = 100
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNSAFE_IN_NAME = re.compile(r'[/\\:*?"<>|]')


class ReportError(ValueError):
    """The report cannot be written: the output folder holds other things, or the results
    do not fit the columns. Nothing was changed on disk."""


@dataclass(frozen=True)
class Mark:
    """One student's result on one exercise."""

    status: str  #: one of :data:`STATUSES`
    reason: str  #: one line, "" when correct
    line: str  #: what the student would have seen, e.g. "✓ Top 3 by hand: correct!"

    @property
    def handed_in(self) -> bool:
        """False for the marks of a lesson the student did not hand in ("not attempted" with no
        line): they are left out of the totals, the per-exercise counts and the feedback."""
        return bool(self.line.strip()) or self.status != "not attempted"


@dataclass(frozen=True)
class Column:
    """One exercise: its lesson ("01"), its key (``ex.<key>.check()``) and its title."""

    lesson: str
    key: str
    title: str


@dataclass
class StudentReport:
    """Everything graded for one student."""

    name: str
    marks: dict[str, Mark]  #: exercise key -> mark, one per column
    notes: list[str] = field(default_factory=list)  #: one-line problems (unknown lesson, ...)
    errors: list[str] = field(default_factory=list)  #: shortened tracebacks that stopped cells
    sources: list[str] = field(default_factory=list)  #: the submitted files, relative paths


def write_report(out: Path, columns: Sequence[Column], students: Sequence[StudentReport], *,
                 summary: Sequence[str]) -> None:
    """Write ``grades.csv``, ``grades.html`` and ``feedback/`` into ``out``, all or nothing.

    ``summary`` are the run's lines shown above the HTML table (limits enforced, what could not
    be enforced). ``out`` must be absent, an empty folder, or a previous grade folder (only the
    three entries, ``feedback/`` holding only ``.md`` files); anything else raises
    :class:`ReportError` and nothing is touched. The new folder is built beside ``out`` and
    renamed into place; a previous one is renamed aside first and deleted last, and put back if
    the new one cannot be moved in.
    """
    out = Path(out)
    _validate(columns, students)
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        new.chmod(0o755)
        _write_all(new, columns, students, summary)
        _move_into_place(new, out)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise


def _write_all(folder: Path, columns: Sequence[Column], students: Sequence[StudentReport],
               summary: Sequence[str]) -> None:
    (folder / "grades.csv").write_text(grades_csv(columns, students), encoding="utf-8",
                                       newline="")
    (folder / "grades.html").write_text(grades_html(columns, students, summary),
                                        encoding="utf-8")
    (folder / "feedback").mkdir()
    for student, name in zip(students, feedback_names([s.name for s in students]), strict=True):
        (folder / "feedback" / f"{name}.md").write_text(feedback_md(columns, student),
                                                        encoding="utf-8")


def _move_into_place(new: Path, out: Path) -> None:
    if not out.exists() and not out.is_symlink():
        try:
            os.rename(new, out)
        except OSError as error:
            raise ReportError(f"could not move the grades into {out}: {error}") from error
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    try:
        os.rename(out, aside / "grades")
    except OSError as error:
        aside.rmdir()
        raise ReportError(f"could not move the previous grades in {out} aside: {error}") from error
    try:
        os.rename(new, out)
    except OSError as error:
        os.rename(aside / "grades", out)
        aside.rmdir()
        raise ReportError(f"could not move the grades into {out}: {error}") from error
    shutil.rmtree(aside, ignore_errors=True)


def check_out(out: Path) -> None:
    """Refuse an ``out`` that is not absent, empty, or a previous grade folder."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ReportError(f"{out} exists and is not a folder: not replacing it with grades")
    if not out.exists():
        return
    entries = {entry.name: entry for entry in out.iterdir()}
    others = sorted(set(entries) - ENTRIES)
    feedback = entries.get("feedback")
    bad = [name for name in ("grades.csv", "grades.html") if name in entries and (
        entries[name].is_symlink() or not entries[name].is_file())]
    if feedback is not None:
        if feedback.is_symlink() or not feedback.is_dir():
            bad.append("feedback")
        else:
            bad += [f"feedback/{f.name}" for f in feedback.iterdir()
                    if f.suffix != ".md" or f.is_symlink() or not f.is_file()]
    if others or bad:
        listed = ", ".join((others + bad)[:5])
        raise ReportError(f"{out} is not empty and not a grade folder (it holds {listed}); "
                          "choose another --out or empty it")


def _validate(columns: Sequence[Column], students: Sequence[StudentReport]) -> None:
    keys = [column.key for column in columns]
    if len(set(keys)) != len(keys):
        raise ReportError(f"exercise keys repeat: {keys}")
    for student in students:
        if set(student.marks) != set(keys):
            missing, extra = set(keys) - set(student.marks), set(student.marks) - set(keys)
            raise ReportError(f"{student.name!r}: marks do not match the columns "
                              f"(missing {sorted(missing)}, extra {sorted(extra)})")
        for key, mark in student.marks.items():
            if mark.status not in STATUSES:
                raise ReportError(f"{student.name!r}, {key}: unknown status {mark.status!r}")


# ---------------------------------------------------------------------------------------- CSV


def spreadsheet_safe(cell: str) -> str:
    """``cell`` with a leading ``'`` when a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _correct(student: StudentReport) -> int:
    return sum(mark.status == "correct" for mark in student.marks.values())


def _total(student: StudentReport) -> int:
    """The exercises of the lessons the student handed in."""
    return sum(mark.handed_in for mark in student.marks.values())


def _notes(student: StudentReport) -> list[str]:
    notes = list(student.notes)
    if student.errors:
        notes.append(f"{len(student.errors)} error(s) stopped cells (see the feedback)")
    return notes


def grades_csv(columns: Sequence[Column], students: Sequence[StudentReport]) -> str:
    """The CSV text: ``student``, one status column per exercise key, ``correct``, ``total``,
    ``notes``, then one ``<key> reason`` column per exercise."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    keys = [column.key for column in columns]
    writer.writerow([spreadsheet_safe(cell) for cell in (
        "student", *keys, "correct", "total", "notes", *(f"{key} reason" for key in keys))])
    for student in students:
        row = [student.name, *(student.marks[key].status for key in keys),
               str(_correct(student)), str(_total(student)), "; ".join(_notes(student)),
               *(student.marks[key].reason for key in keys)]
        writer.writerow([spreadsheet_safe(cell) for cell in row])
    return buffer.getvalue()


# ----------------------------------------------------------------------------------- feedback


def _one_line(text: str) -> str:
    """``text`` on one line, without control characters."""
    return "".join(" " if unicodedata.category(c)[0] == "C" else c
                   for c in text.replace("\r\n", " ")).strip()


def _printable(text: str) -> str:
    """``text`` without control characters, keeping its line breaks and tabs."""
    return "".join(c for c in text.replace("\r\n", "\n")
                   if c in "\n\t" or unicodedata.category(c)[0] != "C")


def feedback_names(names: Sequence[str]) -> list[str]:
    """A file name (without ``.md``) per student name, in order: no path separators or
    characters Windows refuses, no control characters, no leading dot, at most
    :data:`MAX_NAME` characters, and unique ignoring case (``-2``, ``-3``, ... appended)."""
    taken: set[str] = set()
    result = []
    for name in names:
        base = _UNSAFE_IN_NAME.sub("_", _one_line(unicodedata.normalize("NFC", name)))
        base = base.lstrip(". ").rstrip(". ")[:MAX_NAME].rstrip(". ") or "student"
        candidate, number = base, 1
        while candidate.casefold() in taken:
            number += 1
            suffix = f"-{number}"
            candidate = base[:MAX_NAME - len(suffix)] + suffix
        taken.add(candidate.casefold())
        result.append(candidate)
    return result


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _status_and_reason(mark: Mark) -> str:
    """"✗ not yet: <reason>" (the status not repeated when the reason starts with it)."""
    reason = _one_line(mark.reason)
    if reason.startswith(f"{mark.status}:"):
        reason = reason[len(mark.status) + 1:].strip()
    head = f"{STATUS_STYLE[mark.status][0]} {mark.status}"
    return f"{head}: {reason}" if reason else head


def _mark_line(column: Column, mark: Mark) -> str:
    line = _one_line(mark.line)
    reason = _one_line(mark.reason)
    if not line:
        return f"{column.title}: {_status_and_reason(mark)}"
    return f"{line} ({reason})" if reason and reason not in line else line


def feedback_md(columns: Sequence[Column], student: StudentReport) -> str:
    """One student's feedback: per lesson the lines they would have seen, then the notes and the
    errors that stopped their cells. A lesson is left out when all its exercises are "not
    attempted" with no line (the student did not hand that lesson in)."""
    parts = [f"# Feedback: {_one_line(student.name)}", ""]
    correct = _correct(student)
    parts += [f"{correct} of {_total(student)} exercises correct.", ""]
    if student.sources:
        parts += ["Graded: " + ", ".join(_one_line(s) for s in student.sources), ""]
    lessons: dict[str, list[Column]] = {}
    for column in columns:
        lessons.setdefault(column.lesson, []).append(column)
    for lesson, its in lessons.items():
        marks = [student.marks[c.key] for c in its]
        if not any(m.handed_in for m in marks):
            continue
        parts += [f"## Lesson {_one_line(lesson)}", ""]
        parts += [f"- {_mark_line(c, m)}" for c, m in zip(its, marks, strict=True)] + [""]
    if student.notes:
        parts += ["## Notes", ""] + [f"- {_one_line(note)}" for note in student.notes] + [""]
    if student.errors:
        parts += ["## Errors that stopped a cell", ""]
        for error in student.errors:
            text = _printable(error).strip("\n")
            fence = _fence(text)
            parts += [fence, text, fence, ""]
    return "\n".join(parts)


# --------------------------------------------------------------------------------------- HTML

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem;color:#1a1a1a;background:#fff}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
.summary{font-size:1.05rem}.run{color:#333;margin:.25rem 0 1rem}
table{border-collapse:collapse;margin:.5rem 0}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid #9a9a9a;padding:.3rem .5rem;text-align:left;vertical-align:top}
thead th{background:#f3f3f3;position:sticky;top:0}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;
 color:#1a1a1a;text-align:left}
th button:focus-visible{outline:3px solid #0b5cad;outline-offset:2px}
th button .key{display:block;font-weight:400;font-size:.8rem;color:#444}
th[aria-sort=ascending] button::after{content:" ▲"}
th[aria-sort=descending] button::after{content:" ▼"}
tbody th{font-weight:600}td.num{text-align:right}
.s{white-space:nowrap;font-weight:600}
.s-not-attempted{font-style:italic}
tfoot td,tfoot th{background:#f3f3f3;font-weight:600}
a{color:#0b4f8f}details{margin:.3rem 0;border:1px solid #c8c8c8;padding:.3rem .6rem}
summary{cursor:pointer;font-weight:600}pre{white-space:pre-wrap;background:#f6f6f6;padding:.4rem}
.legend span{display:inline-block;padding:.1rem .4rem;margin-right:.4rem}
""" + "".join(f".s-{status.replace(' ', '-')}{{background:{bg};color:{fg}}}\n"
                for status, (_, bg, fg) in STATUS_STYLE.items())

_JS = """
document.querySelectorAll("#grades thead button").forEach(function (button) {
  button.addEventListener("click", function () {
    var th = button.closest("th"), table = th.closest("table");
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var up = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("thead th").forEach(function (h) {
      h.setAttribute("aria-sort", "none");
    });
    th.setAttribute("aria-sort", up ? "ascending" : "descending");
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    function key(row) { var c = row.children[col];
      return c.hasAttribute("data-sort") ? Number(c.getAttribute("data-sort")) : c.textContent; }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b), d = typeof x === "number" ? x - y :
        x.localeCompare(y, undefined, {numeric: true, sensitivity: "base"});
      return (up ? d : -d) || (Number(a.dataset.index) - Number(b.dataset.index));
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
function unfold(id) {
  var target = document.getElementById(id);
  if (target && target.tagName === "DETAILS") { target.open = true; }
}
document.querySelectorAll("#grades tbody a").forEach(function (link) {
  link.addEventListener("click", function () { unfold(link.hash.slice(1)); });
});
if (location.hash) { unfold(location.hash.slice(1)); }
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _e(text: str) -> str:
    return html.escape(_one_line(text), quote=True)


def _status_cell(mark: Mark) -> str:
    symbol = STATUS_STYLE[mark.status][0]
    klass = "s s-" + mark.status.replace(" ", "-")
    title = f' title="{_e(mark.reason)}"' if mark.reason.strip() else ""
    rank = STATUSES.index(mark.status)
    return f'<td class="{klass}" data-sort="{rank}"{title}>{symbol} {mark.status}</td>'


def _header(columns: Sequence[Column]) -> list[str]:
    def th(label: str, key: str = "") -> str:
        sub = f'<span class="key">{_e(key)}</span>' if key else ""
        return (f'<th scope="col" aria-sort="none"><button type="button">{_e(label)}{sub}'
                "</button></th>")

    cells = [th("Student")] + [th(c.title, f"{c.lesson} · {c.key}") for c in columns]
    cells += [th("Correct"), th("Notes")]
    return ["<thead><tr>", *cells, "</tr></thead>"]


def _rows(columns: Sequence[Column], students: Sequence[StudentReport]) -> list[str]:
    lines = ["<tbody>"]
    for index, student in enumerate(students):
        notes = _notes(student)
        lines += [f'<tr data-index="{index}">',
                  f'<th scope="row"><a href="#student-{index}">{_e(student.name)}</a></th>',
                  *(_status_cell(student.marks[c.key]) for c in columns),
                  f'<td class="num" data-sort="{_correct(student)}">{_correct(student)} of '
                  f"{_total(student)}</td>",
                  f"<td>{_e('; '.join(notes))}</td>", "</tr>"]
    lines += ["</tbody>", '<tfoot><tr><th scope="row">Correct</th>',
              *(f'<td class="num">{_column_count(c, students)}</td>' for c in columns),
              "<td></td><td></td></tr></tfoot>"]
    return lines


def _details(columns: Sequence[Column], students: Sequence[StudentReport]) -> list[str]:
    lines = ["<h2>Reasons, notes and errors per student</h2>"]
    for index, student in enumerate(students):
        lines += [f'<details id="student-{index}"><summary>{_e(student.name)}: '
                  f"{_correct(student)} of {_total(student)} correct</summary><ul>"]
        for column in columns:
            mark = student.marks[column.key]
            lines.append(f"<li>{_e(column.title)} ({_e(column.lesson)} · {_e(column.key)}) — "
                         f"{_e(_status_and_reason(mark))}</li>")
        lines += [f"<li>Note: {_e(note)}</li>" for note in student.notes]
        if student.sources:
            sources = ", ".join(_e(s) for s in student.sources)
            lines.append(f"<li>Graded: {sources}</li>")
        lines.append("</ul>")
        lines += [f"<pre>{html.escape(_printable(error))}</pre>" for error in student.errors]
        lines.append("</details>")
    return lines


def _column_count(column: Column, students: Sequence[StudentReport]) -> str:
    """"n of m": correct among the students who handed the exercise's lesson in."""
    marks = [s.marks[column.key] for s in students if s.marks[column.key].handed_in]
    return f"{sum(m.status == 'correct' for m in marks)} of {len(marks)}"


def _summary_line(columns: Sequence[Column], students: Sequence[StudentReport]) -> str:
    n = len(students)
    parts = [f"{c.title} {_column_count(c, students)}" for c in columns]
    text = f"{n} student{'s' if n != 1 else ''}, {len(columns)} exercises"
    return _e(text + (". Correct per exercise: " + ", ".join(parts) if parts else ""))


def grades_html(columns: Sequence[Column], students: Sequence[StudentReport],
                summary: Sequence[str]) -> str:
    """The HTML page: one file, no external request (its Content-Security-Policy allows only
    its own inline style and script), a table sortable by any header, the reasons per student."""
    csp = (f"default-src 'none'; style-src {_sha256(_CSS)}; script-src {_sha256(_JS)}; "
           "base-uri 'none'; form-action 'none'")
    legend = " ".join(f'<span class="s s-{s.replace(" ", "-")}">{STATUS_STYLE[s][0]} {s}</span>'
                      for s in STATUSES)
    lines = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>Grades</title>", f"<style>{_CSS}</style>", "</head>", "<body>", "<main>",
             "<h1>Grades</h1>", f'<p class="summary">{_summary_line(columns, students)}</p>']
    if summary:
        lines += ['<ul class="run">', *(f"<li>{_e(line)}</li>" for line in summary), "</ul>"]
    lines += [f'<p class="legend">{legend}</p>', '<table id="grades">',
              "<caption>One row per student; click a column heading to sort by it, "
              "a name for that student's reasons</caption>",
              *_header(columns), *_rows(columns, students), "</table>",
              *_details(columns, students), "</main>", f"<script>{_JS}</script>",
              "</body>", "</html>", ""]
    return "\n".join(lines)
