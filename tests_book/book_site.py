"""Where the book's tests find what they check (a module of its own: ``tests/`` has a conftest too,
so ``from conftest import`` would be ambiguous when both folders are collected)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = Path(os.environ.get("BOOK_DIR", ROOT / "build" / "book"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
AXE = ROOT / "book" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-output" / "book"
# Every page of the site (the pages at its top; _static holds none a reader opens).
PAGES = sorted(p.name for p in BOOK.glob("*.html"))
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
