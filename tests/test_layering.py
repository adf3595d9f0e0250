"""The package's floors, read from its source: who may import matplotlib and ipywidgets.

* only view modules (name ends in ``_view``) and widget modules (name contains ``widget``) import
  matplotlib;
* only widget modules import ipywidgets;
* the modules that define the lesson entry points (``class_activation_maps``, ``load_nbdt``,
  ``load_classifier``) import neither.

Every import counts, also one inside a function (a lazy import is still an import).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xai_tutorial"
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def imported_roots(path: Path) -> set[str]:
    """Top-level package names ``path`` imports anywhere (module level or inside functions)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
            node.func, "id", None)) in ("import_module", "__import__") and node.args and (
            isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
        ):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def package_imports(path: Path) -> set[str]:
    """The ``xai_tutorial`` modules ``path`` imports by relative or absolute name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level and node.module:
                found.add(node.module.split(".")[0])
            elif node.level:
                found.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("xai_tutorial."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names
                         if a.name.startswith("xai_tutorial."))
    return found


def defines(path: Path, name: str) -> bool:
    tree = ast.parse(path.read_text())
    return any(
        isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name
        for node in tree.body
    )


def is_view(path: Path) -> bool:
    return path.stem.endswith("_view")


def is_widget(path: Path) -> bool:
    return "widget" in _name(path).split(".", 1)[1]


def test_the_reader_sees_lazy_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\ndef f():\n    import matplotlib.pyplot as plt\n"
                      "    from ipywidgets import VBox\n    importlib.import_module('nbdt.x')\n")
    assert imported_roots(sample) == {"os", "matplotlib", "ipywidgets", "nbdt"}


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_only_views_and_widgets_import_matplotlib(path):
    if not (is_view(path) or is_widget(path)):
        assert "matplotlib" not in imported_roots(path), f"{_name(path)} imports matplotlib"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_only_widgets_import_ipywidgets(path):
    if not is_widget(path):
        assert "ipywidgets" not in imported_roots(path), f"{_name(path)} imports ipywidgets"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_floors_only_lean_on_lower_floors(path):
    """Method modules use no view or widget module; view modules use no widget module."""
    if is_widget(path) or path.stem in ("__init__", "cli", "__main__"):
        return  # the widgets, the lazy table and the CLI sit on top
    for name in package_imports(path):
        assert "widget" not in name, f"{_name(path)} imports {name}"
        if not is_view(path):
            assert not name.endswith("_view"), f"{_name(path)} imports {name}"


@pytest.mark.parametrize("entry", ["class_activation_maps", "load_nbdt", "load_classifier"])
def test_entry_point_modules_stay_on_the_method_floor(entry):
    homes = [path for path in MODULES if defines(path, entry)]
    assert homes, f"no module defines {entry}"
    for path in homes:
        assert not is_view(path) and not is_widget(path), _name(path)
        assert not {"matplotlib", "ipywidgets"} & imported_roots(path), _name(path)
