"""Every number the README quotes from a notebook is the notebook's own.

The README marks each passage that quotes a lesson's results::

    <!-- numbers from 04_judging_explanations -->
    ... CAM 0.017 / 0.476 ...
    <!-- end of numbers -->

and every decimal number in it (``0.017``, ``37.9%``) must appear in that notebook's stored
outputs, so re-made notebooks with other results make this test fail until the README follows.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"<!-- numbers from (\S+) -->(.*?)<!-- end of numbers -->", re.DOTALL)
NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d+%?")


def outputs(stem: str) -> str:
    notebook = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


BLOCKS = BLOCK.findall(README)


def test_the_readme_marks_what_it_quotes() -> None:
    assert BLOCKS, "no <!-- numbers from ... --> block in the README"
    for stem, text in BLOCKS:
        assert (ROOT / "notebooks" / f"{stem}.ipynb").exists(), stem
        assert NUMBER.search(text), f"the block from {stem} quotes no number"


@pytest.mark.parametrize(("stem", "text"), BLOCKS, ids=[s for s, _ in BLOCKS])
def test_every_quoted_number_is_in_the_notebook(stem: str, text: str) -> None:
    printed = outputs(stem)
    missing = [n for n in NUMBER.findall(text)
               if not re.search(rf"(?<![\d.]){re.escape(n)}(?!\d)", printed)]
    assert not missing, f"README quotes {missing} from {stem}, which does not print them"
