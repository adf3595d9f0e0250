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
  ``CoalesceStreamsPreprocessor``, as JupyterLab shows them and as nbval compares them);
- the outputs of a cell tagged ``this-machine`` (timings: they differ on every machine and every
  run, so the saved notebook shows none; a learner sees their own when they run the cell).

It also keeps the notebooks light: a picture saved as PNG whose JPEG (quality 85, on white) is
at most half its size -- a photo, or a figure made mostly of photos and heatmaps -- is saved as
that JPEG instead; line art and text stay PNG. An output that already carries the same picture
as both PNG and JPEG (how IPython shows a Pillow image) keeps only the JPEG by the same rule.
nbval never compares pictures, and the re-encoding is deterministic, so re-running changes nothing.

Everything else is kept as it is: sources, other outputs, execution counts, and the cell metadata
the tests and ``make student`` read (``tags`` such as ``NBVAL_IGNORE_OUTPUT``, ``nbgrader``).

Usage: ``python scripts/strip_notebook.py NOTEBOOK.ipynb ...`` rewrites each file in place, and
only when something changed (written to a temporary file first, then renamed over the original).
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
from pathlib import Path

import nbformat
from nbconvert.preprocessors import CoalesceStreamsPreprocessor
from PIL import Image

from xai_tutorial._files import atomic_path

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
TIMING_KEYS = ("execution", "ExecuteTime")
THIS_MACHINE = "this-machine"  # a cell's tag: its outputs are not saved
PNG, JPEG = "image/png", "image/jpeg"
JPEG_QUALITY = 85
JPEG_AT_MOST = 0.5  # of the PNG's size, or the PNG stays


def to_jpeg(png: bytes) -> bytes:
    """``png`` re-encoded as JPEG (transparent parts on white), the same bytes every time."""
    with Image.open(io.BytesIO(png)) as image:
        rgba = image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    out = io.BytesIO()
    flat.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def shrink_picture(output: nbformat.NotebookNode) -> None:
    """Keep a much smaller JPEG instead of a PNG in ``output`` (see the module docstring)."""
    data = output.get("data")
    if not data or PNG not in data:
        return
    png = base64.b64decode(data[PNG])
    jpeg = base64.b64decode(data[JPEG]) if JPEG in data else to_jpeg(png)
    if len(jpeg) > JPEG_AT_MOST * len(png):
        return
    del data[PNG]
    data[JPEG] = base64.b64encode(jpeg).decode("ascii")
    metadata = output.get("metadata", {})
    if PNG in metadata:
        metadata.setdefault(JPEG, metadata.pop(PNG))


def strip(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip widget views, widget state, timings; merge streams; shrink pictures. In place."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        for key in TIMING_KEYS:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        if THIS_MACHINE in cell.metadata.get("tags", []):
            cell.outputs, cell.execution_count = [], None
            continue
        kept = []
        for output in cell.outputs:
            data = output.get("data")
            if data is not None and WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
                if not data:  # no fallback to show: the output says nothing without its widget
                    continue
            shrink_picture(output)
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
    with atomic_path(path) as partial:  # the usual permissions, never half-written
        partial.write_text(text, encoding="utf-8")
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
