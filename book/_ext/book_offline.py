"""A Sphinx extension of the book: nothing a page loads comes from another host.

- MathJax is served from the book's own ``_static/mathjax``.
- sphinx-thebe (which Jupyter Book always loads) is kept off the pages: its script and the
  ``THEBE_JS_URL`` it would fetch from a CDN when a "live code" button is pressed (the book has
  no such button: ``launch_buttons.thebe`` is off), and its per-page kernel configuration.

``scripts/build_book.py`` copies MathJax 3 (the npm package's ``es5`` folder) into the staged
source's ``_mathjax/mathjax``; this adds ``_mathjax`` to ``html_static_path`` once Sphinx runs, so
Sphinx copies it to ``_static/mathjax`` and ``mathjax_path`` (``_config.yml``) finds it there.
(Jupyter Book adds a ``<script>`` for every ``.js`` file of ``html_static_path`` when the book has
a ``_static`` folder, which would load all of MathJax's 60 parts on every page; added here, after
Jupyter Book wrote its configuration, the folder is only copied.)
"""

from __future__ import annotations

from pathlib import Path

MATHJAX_FOLDER = "_mathjax"


def _add_mathjax(app) -> None:  # noqa: ANN001 (Sphinx's application)
    folder = Path(app.srcdir) / MATHJAX_FOLDER
    if not (folder / "mathjax" / "tex-mml-chtml.js").is_file():
        raise FileNotFoundError(f"no MathJax in {folder}: build the book with make book")
    app.config.html_static_path = [*app.config.html_static_path, str(folder)]


def _thebe_script(script) -> bool:  # noqa: ANN001 (Sphinx's _JavaScript)
    filename = str(getattr(script, "filename", script) or "")
    body = str(getattr(script, "attributes", {}).get("body", ""))
    return filename.endswith("sphinx-thebe.js") or "thebe" in filename or "THEBE_JS_URL" in body


def _drop_thebe_scripts(app, pagename, templatename, context, doctree) -> None:  # noqa: ANN001
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _thebe_script(s)]


def _drop_thebe_config(app, doctree, docname) -> None:  # noqa: ANN001
    from docutils import nodes

    for node in list(doctree.findall(nodes.raw)):
        if "x-thebe-config" in node.astext() or "kernelName =" in node.astext():
            node.parent.remove(node)


def setup(app):  # noqa: ANN001, ANN201 (Sphinx's)
    app.connect("builder-inited", _add_mathjax)
    app.connect("html-page-context", _drop_thebe_scripts)
    app.connect("doctree-resolved", _drop_thebe_config, priority=900)  # after sphinx-thebe's
    return {"parallel_read_safe": True, "parallel_write_safe": True}
