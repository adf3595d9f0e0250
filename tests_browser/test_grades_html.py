"""grades.html in Debian's headless Chromium: the table shows every student, a click (or Enter)
on a column heading sorts it, styles and script run under the page's own policy, and the page
asks for nothing beyond its own file.

Run with ``make test-browser`` (or ``.venv/bin/pytest tests_browser/test_grades_html.py``).
Chromium is the session's (``conftest.py``); the page is opened from ``file://``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xai_tutorial.grading.report import Column, Mark, StudentReport, write_report

COLUMNS = [Column("01", "top3_by_hand", "Top 3 by hand"),
           Column("01", "inception_preprocessing", "Inception preprocessing")]
#: name -> (top3_by_hand, inception_preprocessing)
CLASS = {"carol": ("not yet", "correct"), "Alice": ("correct", "correct"),
         "bob": ("error", "not attempted"), "<b>dave</b>": ("not attempted", "not yet")}


@pytest.fixture(scope="module")
def grades(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("grades") / "out"
    students = [StudentReport(name, {c.key: Mark(s, "" if s == "correct" else f"why {name}", "")
                                     for c, s in zip(COLUMNS, statuses, strict=True)})
                for name, statuses in CLASS.items()]
    write_report(out, COLUMNS, students, summary=["network: not enforced"])
    return out / "grades.html"


@pytest.fixture
def page(browser, grades):
    """The page opened, with every request and console message it made recorded."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.requests, page.messages = [], []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("console", lambda message: page.messages.append(message.text))
    page.goto(grades.as_uri())
    yield page
    context.close()


def names(page) -> list[str]:
    return page.locator("#grades tbody th").all_inner_texts()


def column(page, index: int) -> list[str]:
    return [t.split(" ", 1)[1] for t in
            page.locator(f"#grades tbody tr td:nth-of-type({index})").all_inner_texts()]


def test_the_table_shows_every_student_and_status(page):
    assert names(page) == list(CLASS)
    assert column(page, 1) == [s[0] for s in CLASS.values()]
    assert page.locator("h1").inner_text() == "Grades"
    assert "4 students" in page.locator("p.summary").inner_text()
    assert page.locator("body").inner_text().count("<b>dave</b>") >= 2  # escaped, shown as text


def test_clicking_a_heading_sorts_by_it_and_clicking_again_reverses(page):
    student = page.locator("#grades thead th").nth(0)
    student.get_by_role("button").click()
    assert names(page) == ["<b>dave</b>", "Alice", "bob", "carol"]
    assert student.get_attribute("aria-sort") == "ascending"
    student.get_by_role("button").click()
    assert names(page) == ["carol", "bob", "Alice", "<b>dave</b>"]
    assert student.get_attribute("aria-sort") == "descending"
    exercise = page.locator("#grades thead th").nth(1)
    exercise.get_by_role("button").click()
    assert column(page, 1) == ["correct", "not yet", "error", "not attempted"]
    assert exercise.get_attribute("aria-sort") == "ascending"
    assert student.get_attribute("aria-sort") == "none"
    assert page.locator("#grades tfoot th").inner_text() == "Correct"  # totals stay last


def test_the_keyboard_sorts_too(page):
    page.locator("#grades thead th").nth(3).get_by_role("button").focus()  # "Correct"
    page.keyboard.press("Enter")
    assert names(page) == ["bob", "<b>dave</b>", "carol", "Alice"]  # 0, 0, 1, 2 correct


def test_styles_apply_and_nothing_leaves_the_page(page, grades):
    cell = page.locator("#grades td.s-correct").first
    assert cell.evaluate("c => getComputedStyle(c).backgroundColor") == "rgb(212, 232, 247)"
    page.locator("#grades thead button").first.click()
    page.get_by_role("link", name="bob").click()
    assert page.locator("#student-2").evaluate("d => d.open")  # bob's reasons, unfolded
    assert "why bob" in page.locator("#student-2").inner_text()
    assert page.requests == [grades.as_uri()]
    assert not [m for m in page.messages if "Content Security Policy" in m]


def test_a_real_grading_run_opens_with_its_table(browser, tmp_path):
    """The grader itself (two lesson-01 notebooks, each in its box): the teacher's, renamed
    ana, and the empty student copy, ben. Screenshot: test-output/browser/grades.png."""
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    (tmp_path / "class").mkdir()
    shutil.copy(root / "notebooks" / "01_pretrained_classifier.ipynb",
                tmp_path / "class" / "ana.ipynb")
    shutil.copy(root / "student" / "01_pretrained_classifier.ipynb",
                tmp_path / "class" / "ben.ipynb")
    done = subprocess.run(
        [sys.executable, "-m", "xai_tutorial", "grade", str(tmp_path / "class" / "ana.ipynb"),
         str(tmp_path / "class" / "ben.ipynb"), "--out", str(tmp_path / "grades"),
         "--jobs", "2"], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    context = browser.new_context(viewport={"width": 1200, "height": 700})
    page = context.new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto((tmp_path / "grades" / "grades.html").as_uri())
    assert names(page) == ["ana", "ben"]
    rows = page.locator("#grades tbody tr").all_inner_texts()
    assert rows[0].count("✓ correct") == 3 and rows[1].count("○ not attempted") == 3
    assert "Each notebook ran in a box" in page.locator("ul.run").inner_text()
    shots = root / "test-output" / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "grades.png"), full_page=True)
    assert requests == [(tmp_path / "grades" / "grades.html").as_uri()]
    context.close()
