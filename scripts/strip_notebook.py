"""Remove what churns from executed notebooks, so re-running them leaves ``git status`` clean.

``make notebooks`` executes every lesson with ``store_widget_state=False`` and
``record_timing=False``; this script then removes what is still different from run to run:

- a widget's output (``application/vnd.jupyter.widget-view+json``) names a random ``model_id``
  and, without the saved widget state, would show "Error displaying widget" when the notebook is
  opened. Only its ``text/plain`` fallback is kept (nbval compares that, and ignores widget views);
- notebook-level ``metadata.widgets`` (saved widget state);
- cell-level timing metadata (``execution``, and JupyterLab's ``ExecuteTime``);
- how a cell's printed text was cut into stream outputs, which depends on when the kernel
  flushed: consecutive outputs of one stream are merged (nbconvert's
  ``CoalesceStreamsPreprocessor``, as JupyterLab shows them and as nbval compares them).

Everything else is kept as it is: sources, other outputs, execution counts, and the cell metadata
the tests and ``make student`` read (``tags`` such as ``NBVAL_IGNORE_OUTPUT``, ``nbgrader``).

Usage: ``python scripts/strip_notebook.py NOTEBOOK.ipynb ...`` rewrites each file in place, and
only when something changed (written to a temporary file first, then renamed over the original).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
TIMING_KEYS = ("execution", "ExecuteTime")


def strip(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip widget views, widget state and timings from ``notebook`` (in place); return it."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        for key in TIMING_KEYS:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            data = output.get("data")
            if data is not None and WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
                if not data:  # no fallback to show: the output says nothing without its widget
                    continue
            kept.append(output)
        cell.outputs = kept
    CoalesceStreamsPreprocessor().preprocess(notebook, {})
    return notebook


def strip_file(path: Path) -> bool:
    """Strip ``path`` in place; return whether it changed. Never leaves a half-written file."""
    original = path.read_text(encoding="utf-8")
    notebook = nbformat.reads(original, as_version=nbformat.NO_CONVERT)
    text = nbformat.writes(strip(notebook))
    if not text.endswith("\n"):
        text += "\n"
    if text == original:
        return False
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK.ipynb")
    args = parser.parse_args(argv)
    status = 0
    for path in args.notebooks:
        try:
            changed = strip_file(path)
        except (OSError, nbformat.reader.NotJSONError, nbformat.ValidationError) as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{path}: {'stripped' if changed else 'unchanged'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
