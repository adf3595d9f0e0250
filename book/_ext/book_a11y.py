"""A Sphinx extension of the book: the theme's controls as axe-core wants them (``make test-book``
runs axe on every page: no serious or critical WCAG 2.1 A/AA violation).

It puts ``_ext/templates`` first in ``templates_path``, so the book's own copies of two of
pydata-sphinx-theme's components replace the theme's (each says what it changes and why):

- ``search-button-field.html``: the search button is named by its visible text;
- ``theme-switcher.html``: the colour-mode button's icons are decorative.

Colours and print layout are in ``_static/book.css`` (Jupyter Book links every CSS file of
``_static``).
"""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _templates_first(app, config) -> None:  # noqa: ANN001 (Sphinx's)
    for component in ("search-button-field.html", "theme-switcher.html"):
        if not (TEMPLATES / component).is_file():
            raise FileNotFoundError(f"{TEMPLATES / component} is missing")
    config.templates_path = [str(TEMPLATES), *config.templates_path]


def setup(app):  # noqa: ANN001, ANN201 (Sphinx's)
    app.connect("config-inited", _templates_first)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
