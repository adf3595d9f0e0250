"""What a learner sees: the notebooks in a real JupyterLab, driven in Debian's headless Chromium.

Run with ``make test-browser``. JupyterLab is started from ``.venv`` on 127.0.0.1 (a free port, a
random token, no browser of its own) on a copy of ``notebooks/`` and of the student copies
``make student`` built (``build/student/``; ``make test-browser`` builds them first); Playwright
drives ``/usr/bin/chromium``. Everything started here is stopped at the end, also on failure.
Screenshots go to ``test-output/browser/``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-output" / "browser"
BAD_WIDGET_TEXT = ("Error displaying widget", "Failed to load model class")
RUN_TIMEOUT_MS = 240_000
STUDENT = ROOT / "build" / "student"  # make student's output, with build/assets beside it
STUDENT_LESSON = "01_pretrained_classifier.ipynb"  # the shortest lesson with exercises


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One JupyterLab on ``work/``: ``notebooks/`` (the lessons without their outputs) and
    ``student/`` (a copy of build/student, if built) side by side, ``assets/`` next to them.
    Yields the URL pattern of a notebook (``{notebook}`` = its path under ``work/``)."""
    work = tmp_path_factory.mktemp("lab")
    # The notebooks without their saved outputs: everything checked below comes from this run.
    (work / "notebooks").mkdir()
    for source in sorted((ROOT / "notebooks").glob("*.ipynb")):
        book = nbformat.read(source, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        book.metadata.pop("widgets", None)
        nbformat.write(book, work / "notebooks" / source.name)
    if STUDENT.is_dir():  # a copy: the run must not write into build/
        shutil.copytree(STUDENT, work / "student")
    shutil.copytree(ROOT / "assets", work / "assets")  # the notebooks read ../assets
    port, token = free_port(), secrets.token_hex(16)
    # Fresh settings and workspaces: no layout restored from an earlier run, no news pop-up, and
    # every cell kept in the page (JupyterLab 4 otherwise renders only the cells in view).
    settings = work / "settings"
    for name, values in {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false", "checkForUpdates": False},
    }.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(work / "config"),
           "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(work / "workspaces")}
    command = [
        str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={work}",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(work / "lab.log", "w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((work / "lab.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield f"{base}/lab/tree/{{notebook}}?reset&token={token}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its kernels
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="session")
def lab(server: str) -> str:
    """The URL pattern of a lesson notebook (``{notebook}``: its file name)."""
    return server.replace("{notebook}", "notebooks/{notebook}")


@pytest.fixture(scope="session")
def student_lab(server: str) -> str:
    """The URL pattern of a student copy (``{notebook}``: its file name)."""
    if not (STUDENT / STUDENT_LESSON).is_file():
        pytest.fail(f"no student copy {STUDENT / STUDENT_LESSON}: run `make student` first "
                    "(`make test-browser` does)")
    return server.replace("{notebook}", "student/{notebook}")


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{request.node.name}-final.png"))
    context.close()


def shot(page, name: str, element=None) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    (element or page).screenshot(path=str(SHOTS / f"{name}.png"))


def notebook(page):
    """The notebook panel on screen (others may be open behind it)."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")


def open_and_run_all(page, lab: str, name: str) -> None:
    """Open a notebook, then Kernel > Restart Kernel and Run All Cells, and wait for the end."""
    page.goto(lab.format(notebook=name))
    panel = notebook(page)
    panel.locator(".jp-Cell").first.wait_for(timeout=90_000)
    # the kernel has started and is idle (status bar: "Python 3 (ipykernel) | Idle")
    page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for(timeout=90_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").click()
    page.locator(".lm-Menu-itemLabel", has_text="Restart Kernel and Run All Cells").click()
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
    # Every code cell gets a number when done (they start empty); none shows [*].
    page.wait_for_function(
        """() => {
            const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
            const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        timeout=RUN_TIMEOUT_MS,
    )


def expected_top_label(photo: Path, crop: bool = False) -> str:
    """What the package itself predicts for ``photo`` (the widget must show the same): with the
    lesson's crop, or on the whole photo as the CAM explorer sees it."""
    from xai_tutorial import load_classifier, load_image

    classifier = load_classifier("efficientnet_lite0")
    x = classifier.preprocess(load_image(photo), crop=crop)
    return classifier.predict(x, k=1)[0].label


def assert_no_errors(page) -> None:
    errors = notebook(page).locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    texts = [errors.nth(i).inner_text() for i in range(errors.count())]
    assert not [t for t in texts if "Error" in t or "Traceback" in t], texts
    body = notebook(page).inner_text()
    for bad in BAD_WIDGET_TEXT:
        assert bad not in body, bad


NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_restart_and_run_all_has_no_errors(page, lab, name):
    open_and_run_all(page, lab, name)
    assert_no_errors(page)
    shot(page, f"run-all-{name.removesuffix('.ipynb')}")


def test_cam_explorer_renders_and_reacts(page, lab):
    open_and_run_all(page, lab, "02_class_activation_maps.ipynb")
    assert_no_errors(page)
    explorer = notebook(page).locator(".widget-vbox", has=page.locator(".widget-image")).last
    explorer.scroll_into_view_if_needed()
    image = explorer.locator(".widget-image")
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=image.element_handle())
    # the last one: with the upload row on top, its headline says "Class Activation Map of" too
    caption = explorer.locator(".widget-html", has_text="Class Activation Map of").last
    shot(page, "cam-explorer-initial", explorer)
    first_src, first_caption = image.get_attribute("src"), caption.inner_text()

    handle = explorer.locator(".widget-slider .noUi-handle").first
    handle.focus()
    for _ in range(6):
        handle.press("ArrowRight")  # alpha 0.5 -> 0.8
    page.wait_for_function("([el, old]) => el.src !== old", arg=[image.element_handle(),
                                                                     first_src])
    after_alpha = image.get_attribute("src")
    assert "0.80" in explorer.locator(".widget-readout").first.inner_text()
    assert caption.inner_text() == first_caption  # alpha does not change the class
    shot(page, "cam-explorer-alpha-0.8", explorer)

    page.wait_for_timeout(1500)  # let the last alpha update land
    after_alpha = image.get_attribute("src")
    dropdown = explorer.locator(".widget-dropdown select").first
    second = dropdown.locator("option").nth(1).inner_text()
    dropdown.select_option(index=1)
    # ipywidgets shows option labels with no-break spaces: "tiger\xa0cat\xa0(1.9%)"
    label = re.split(r" \(", second.replace("\xa0", " "))[0]
    page.wait_for_function("([el, want]) => el.innerText.includes(want)",
                           arg=[caption.element_handle(), label])
    page.wait_for_function("([el, old]) => el.src !== old", arg=[image.element_handle(),
                                                                     after_alpha])
    assert caption.inner_text() != first_caption
    shot(page, "cam-explorer-second-class", explorer)

    # The learner's own photo: upload it through the file chooser, as a learner does.
    before = image.get_attribute("src")
    with page.expect_file_chooser() as chooser:
        explorer.locator(".widget-upload").click()
    chooser.value.set_files(str(ROOT / "assets" / "cat_over_coffee.png"))
    want = expected_top_label(ROOT / "assets" / "cat_over_coffee.png")
    page.wait_for_function("([el, want]) => el.innerText.includes(want)",
                           arg=[caption.element_handle(), want], timeout=60_000)
    page.wait_for_function("([el, old]) => el.src !== old", arg=[image.element_handle(), before])
    shot(page, "cam-explorer-own-photo", explorer)

    # The method picker: the same class by Grad-CAM, another registered saliency method.
    before = image.get_attribute("src")
    method = explorer.locator(".widget-dropdown select", has=page.locator(
        "option", has_text="grad_cam"))
    assert "occlusion" in method.inner_text() and "edge" in method.inner_text()
    method.select_option(label="grad_cam")
    explorer.locator(".widget-html", has_text="grad_cam map of").last.wait_for(timeout=60_000)
    page.wait_for_function("([el, old]) => el.src !== old", arg=[image.element_handle(), before])
    shot(page, "cam-explorer-grad-cam", explorer)
    assert_no_errors(page)


def test_classifier_chart_and_upload(page, lab):
    open_and_run_all(page, lab, "01_pretrained_classifier.ipynb")
    assert_no_errors(page)
    cell = notebook(page).locator(".jp-CodeCell", has_text="plot_predictions(predictions")
    cell.scroll_into_view_if_needed()
    chart = cell.locator(".jp-OutputArea-output img")
    page.wait_for_function("el => el.complete && el.naturalWidth > 300",
                           arg=chart.element_handle())
    shot(page, "classifier-top5-chart", cell)

    widget = notebook(page).locator(".widget-vbox", has=page.locator(".widget-upload")).last
    widget.scroll_into_view_if_needed()
    with page.expect_file_chooser() as chooser:  # what a learner does: click, pick a file
        widget.locator(".widget-upload").click()
    upload = ROOT / "assets" / "cat_and_coffee.png"
    chooser.value.set_files(str(upload))
    headline = widget.locator(".widget-html")
    page.wait_for_function("el => el.innerText.startsWith('Prediction:')",
                           arg=headline.element_handle(), timeout=60_000)
    assert headline.inner_text() == f"Prediction: {expected_top_label(upload, crop=True)}"
    widget.locator(".widget-output img").first.wait_for()
    shot(page, "classifier-upload", widget)


def test_nbdt_explanation_and_tree(page, lab):
    open_and_run_all(page, lab, "03_neural_backed_decision_trees.ipynb")
    assert_no_errors(page)
    cell = notebook(page).locator(".jp-CodeCell", has_text="boot = fashion_nbdt.explain(")
    cell.scroll_into_view_if_needed()
    text = cell.locator(".jp-OutputArea-output").first.inner_text()
    assert text.startswith("Prediction: Ankle boot // Decisions: ") and "footwear (" in text
    tree = cell.locator(".jp-OutputArea-output img")
    assert tree.evaluate("el => el.naturalWidth") > 400
    shot(page, "nbdt-explanation-and-tree", cell)


def test_student_copy_run_all_reaches_the_last_cell(page, student_lab):
    """A learner's student copy: Run > Run All Cells goes past the exercises' stubs (tagged
    ``raises-exception``) to the last cell; the stubs' NotImplementedError are the only errors."""
    page.goto(student_lab.format(notebook=STUDENT_LESSON))
    panel = notebook(page)
    panel.locator(".jp-Cell").first.wait_for(timeout=90_000)
    page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for(timeout=90_000)
    cells = panel.locator(".jp-CodeCell")
    count = cells.count()
    stubs = [i for i in range(count) if "raise NotImplementedError" in
             cells.nth(i).locator(".jp-InputArea-editor").inner_text()]
    assert stubs, f"{STUDENT_LESSON}: the student copy has no exercise stub"
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    # Run All queues every cell ([*]); wait until none is queued or running any more.
    page.wait_for_function(
        """() => {
            const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
            const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            return prompts.some(p => /\\[\\d+\\]/.test(p.textContent))
                && !prompts.some(p => p.textContent.includes('*'));
        }""",
        timeout=RUN_TIMEOUT_MS,
    )
    prompts = [cells.nth(i).locator(".jp-InputPrompt").inner_text() for i in range(count)]
    last = cells.nth(count - 1)
    last.scroll_into_view_if_needed()
    shot(page, f"student-run-all-{STUDENT_LESSON.removesuffix('.ipynb')}-last-cell", last)
    not_run = [i for i, prompt in enumerate(prompts) if not re.search(r"\[\d+\]", prompt)]
    assert not not_run, f"Run All left code cells {not_run} of {count} unexecuted: {prompts}"
    assert last.locator(".jp-OutputArea-output").count() > 0, "the last cell shows no output"
    errors = {}
    for i in range(count):
        outputs = cells.nth(i).locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        text = " ".join(outputs.nth(k).inner_text() for k in range(outputs.count()))
        if "Error" in text or "Traceback" in text:
            errors[i] = text
    assert sorted(errors) == stubs, f"errors in cells {sorted(errors)}, stubs in {stubs}"
    assert all("NotImplementedError" in text for text in errors.values()), errors
    assert "not attempted" in panel.inner_text()  # the check cells after the stubs ran
    for bad in BAD_WIDGET_TEXT:
        assert bad not in panel.inner_text(), bad


def run_up_to(page, lab: str, name: str, marker: str):
    """Open a notebook and run its cells up to and including the first code cell whose source
    holds ``marker`` (Run > Run All Above Selected Cell, then that cell); return that cell."""
    page.goto(lab.format(notebook=name))
    panel = notebook(page)
    panel.locator(".jp-Cell").first.wait_for(timeout=90_000)
    page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for(timeout=90_000)
    cells = panel.locator(".jp-CodeCell")
    sources = [cells.nth(i).locator(".jp-InputArea-editor").inner_text()
               for i in range(cells.count())]
    index = next(i for i, source in enumerate(sources) if marker in source)
    cell = cells.nth(index)
    for label in ("Run All Above Selected Cell", "Run Selected Cell and Do not Advance"):
        cell.locator(".jp-InputPrompt").click()  # selects the cell (command mode)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{label}$")).click()
        page.wait_for_function(
            """(last) => {
                const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
                const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
                return prompts.slice(0, last + 1).every(p => /\\[\\d+\\]/.test(p.textContent));
            }""",
            arg=index if label.startswith("Run Selected") else index - 1,
            timeout=RUN_TIMEOUT_MS,
        )
    return cell


def test_cam_explorer_method_picker_draws_slow_methods(page, lab):
    """Lesson 02 up to its explorer; then integrated_gradients and rise from the method picker:
    each draws a new picture, says it is computing while it does, names its interactive
    settings, and shows no error."""
    from xai_tutorial.cam_widgets import INTERACTIVE_OPTIONS

    cell = run_up_to(page, lab, "02_class_activation_maps.ipynb", "cam_explorer(classifier, scene")
    assert_no_errors(page)
    explorer = cell.locator(".widget-vbox", has=page.locator(".widget-image")).last
    explorer.scroll_into_view_if_needed()
    image = explorer.locator(".widget-image")
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=image.element_handle())
    picker = explorer.locator(".widget-dropdown select", has=page.locator("option",
                                                                          has_text="rise"))
    # Remember every text the explorer shows while the kernel computes a map.
    explorer.evaluate("""root => {
        window.explorerTexts = [];
        new MutationObserver(() => window.explorerTexts.push(root.innerText))
            .observe(root, {subtree: true, childList: true, characterData: true});
    }""")
    for name in ("integrated_gradients", "rise"):
        before_src, before_pixels = image.get_attribute("src"), image.screenshot()
        page.evaluate("() => { window.explorerTexts = []; }")
        started = time.monotonic()
        picker.select_option(label=name)
        settings = ", ".join(f"{k}={v!r}" for k, v in INTERACTIVE_OPTIONS[name].items())
        title = f"{name} map ({settings}) of"
        explorer.locator(".widget-html", has_text=title).last.wait_for(timeout=60_000)
        page.wait_for_function("([el, old]) => el.src !== old && el.complete",
                               arg=[image.element_handle(), before_src])
        seconds = time.monotonic() - started
        page.wait_for_timeout(300)  # the new picture on screen
        assert image.screenshot() != before_pixels, f"{name}: the picture did not change"
        texts = page.evaluate("() => window.explorerTexts")
        assert any(f"Computing the {name} map ({settings})" in t for t in texts), texts[-3:]
        note = explorer.locator(":scope > .widget-html").last  # below the picture
        assert note.inner_text().strip() == "", note.inner_text()  # no busy note, no error
        assert_no_errors(page)
        shot(page, f"cam-explorer-{name}", explorer)
        print(f"{name}: {seconds:.1f} s from the pick to the new picture")
