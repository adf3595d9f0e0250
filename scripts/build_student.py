"""Build the student copies of the lesson notebooks (``make student``).

Each teacher notebook goes through nbgrader's own preprocessors, run by nbconvert (nbgrader is a
development dependency only; nothing of it is needed to *use* a student copy):

- ``ClearSolutions``: the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` become
  ``# YOUR CODE HERE`` / ``raise NotImplementedError()``;
- ``ClearHiddenTests``: the lines between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS`` go;
- ``ClearOutput``: every output and execution count goes;

all with ``enforce_metadata=False``, so the markers alone say what to clear (no nbgrader cell
metadata needed). Every code cell that becomes a stub (raises ``NotImplementedError`` until the
learner writes the answer) also gets the ``raises-exception`` tag, its other tags kept: JupyterLab's
"Run All" and nbclient go on past a cell with that tag, so the rest of the lesson still runs for
the learner who starts with Run All (``ClearSolutions`` is subclassed here for that; nbgrader's
own class does the clearing). Without the tagging, the same as, per notebook::

    jupyter nbconvert --to notebook \\
      --Exporter.preprocessors='["nbgrader.preprocessors.ClearSolutions",
        "nbgrader.preprocessors.ClearHiddenTests", "nbgrader.preprocessors.ClearOutput"]' \\
      --ClearSolutions.enforce_metadata=False --ClearHiddenTests.enforce_metadata=False NB.ipynb

Then notebook-level widget state and timings are stripped (scripts/strip_notebook.py), and the
repository's ``assets/`` is copied next to the output directory, because the lessons read
``../assets/...``: ``--output build/student`` gives ``build/student/NN_*.ipynb`` and
``build/assets/``.

Usage: ``python scripts/build_student.py --output DIR NOTEBOOK.ipynb ...``
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from nbgrader.preprocessors import ClearSolutions
from traitlets.config import Config

from xai_tutorial._files import atomic_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from strip_notebook import strip  # noqa: E402 (a sibling script, not a package)

ROOT = Path(__file__).resolve().parents[1]
RAISES = "raises-exception"  # the cell tag JupyterLab's Run All and nbclient continue past


class ClearSolutionsTagged(ClearSolutions):
    """nbgrader's ``ClearSolutions``; a code cell it turns into a stub gets the ``raises-exception``
    tag (other tags kept, none twice)."""

    def preprocess_cell(self, cell, resources, cell_index):  # noqa: ANN001, ANN201 (nbconvert's)
        before = cell.source
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type == "code" and cell.source != before:  # a solution became the stub
            tags = list(cell.metadata.get("tags", []))
            if RAISES not in tags:
                cell.metadata["tags"] = [*tags, RAISES]
        return cell, resources


PREPROCESSORS = [
    ClearSolutionsTagged,
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearOutput",
]


def exporter() -> NotebookExporter:
    """nbconvert's notebook exporter, running nbgrader's preprocessors on markers alone (the
    stubs tagged ``raises-exception``)."""
    config = Config()
    config.Exporter.preprocessors = PREPROCESSORS
    config.ClearSolutions.enforce_metadata = False
    config.ClearHiddenTests.enforce_metadata = False
    return NotebookExporter(config=config)


def build(notebooks: list[Path], output: Path, assets: Path | None = ROOT / "assets") -> list[Path]:
    """Write the student copy of each notebook into ``output``; copy ``assets`` beside it.

    Returns the paths written. Each copy is written to a temporary name, then renamed, so an
    error leaves no half-written notebook behind. Raises ``ValueError`` naming the notebook when
    its markers are broken (nbgrader's RuntimeError, e.g. a BEGIN without its END).
    """
    output.mkdir(parents=True, exist_ok=True)
    export = exporter()
    written = []
    for source in notebooks:
        try:
            body, _ = export.from_filename(str(source))
        except RuntimeError as exc:  # nbgrader's only complaint: solution/hidden-test markers
            raise ValueError(f"{source}: {exc}") from exc
        notebook = strip(nbformat.reads(body, as_version=4))
        target = output / source.name
        with atomic_path(target) as partial:
            nbformat.write(notebook, partial)
        written.append(target)
    destination = output.parent / "assets"
    if assets is not None and assets.is_dir() and destination.resolve() != assets.resolve():
        # (``--output student`` at the repository's root: the copies already sit beside assets/)
        shutil.rmtree(destination, ignore_errors=True)
        shutil.copytree(assets, destination)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK.ipynb")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "student",
                        help="directory for the student copies (default build/student)")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        print(f"error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 1
    start = time.perf_counter()
    try:
        written = build(args.notebooks, args.output)
    except (OSError, ValueError, nbformat.ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    seconds = time.perf_counter() - start
    print(f"{len(written)} student notebooks in {args.output} ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
