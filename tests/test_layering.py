"""The package's floors, read from its source (every import counts, also one inside a function).

* the core (``xai_tutorial/core/``) imports no lesson module;
* no lesson module reaches into another lesson's private (underscore) names;
* only widget modules (name contains ``widget``) import ipywidgets;
* only view modules (name ends in ``_view``) and widget modules import matplotlib, but for the
  core's colour tables (``core/colormaps.py``), which may import ``matplotlib`` for
  ``matplotlib.colormaps`` and nothing else of it;
* method modules use no view or widget module, view modules no widget module;
* the modules that define the lesson entry points import neither matplotlib nor ipywidgets;
* no module is over 500 lines, no function over 80 (its docstring not counted).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xai_tutorial"
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))
CORE = PACKAGE / "core"
#: A lesson's modules share the prefix of their top-level name (``cam``, ``cam_view``, ...).
LESSONS = ("classification", "cam", "decision_trees", "evaluation", "attribution")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def imported_roots(path: Path) -> set[str]:
    """Top-level package names ``path`` imports anywhere (module level or inside functions)."""
    roots: set[str] = set()
    for node in ast.walk(_tree(path)):
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


def matplotlib_imports(path: Path) -> set[str]:
    """The dotted matplotlib modules ``path`` imports (``matplotlib``, ``matplotlib.figure``)."""
    found: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "matplotlib")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
            node.module.split(".")[0] == "matplotlib"
        ):
            found.add(node.module)
    return found


def package_imports(path: Path) -> set[str]:
    """The ``xai_tutorial`` modules ``path`` imports, as dotted names under the package
    (``cam``, ``core.hooks``, ``decision_trees.explainer``)."""
    here = path.relative_to(PACKAGE).with_suffix("").parts
    package = here[:-1] if here[-1] != "__init__" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                if node.module:
                    found.add(".".join((*base, node.module)))
                else:
                    found.update(".".join((*base, a.name)) for a in node.names)
            elif node.module and node.module.startswith("xai_tutorial."):
                found.add(node.module.split(".", 1)[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".", 1)[1] for a in node.names
                         if a.name.startswith("xai_tutorial."))
    return found


def lesson_of(dotted: str) -> str | None:
    """The lesson a module belongs to (``cam_view`` -> ``cam``), ``None`` for shared modules."""
    top = dotted.split(".")[0]
    for lesson in sorted(LESSONS, key=len, reverse=True):
        if top == lesson or top.startswith(lesson + "_"):
            return lesson
    return None


def private_reaches(path: Path) -> list[str]:
    """``module:name`` for every private name ``path`` takes from another lesson's module."""
    mine = lesson_of(_name(path).split(".", 1)[1])
    tree = _tree(path)
    here = path.relative_to(PACKAGE).with_suffix("").parts[:-1]
    aliases: dict[str, str] = {}
    reaches: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(here[: len(here) - (node.level - 1)]) if node.level > 1 else \
                ".".join(here)
            module = node.module or ""
            if node.level:
                module = ".".join(p for p in (base, module) if p)
            elif module.startswith("xai_tutorial."):
                module = module.split(".", 1)[1]
            else:
                continue
            for alias in node.names:
                target = ".".join(p for p in (module, alias.name) if p) if not node.module \
                    else module
                if not node.module:  # from . import cam as c: an alias of a module
                    aliases[alias.asname or alias.name] = target
                elif alias.name.startswith("_") and lesson_of(module) not in (None, mine):
                    reaches.append(f"{module}:{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("xai_tutorial.") and alias.asname:
                    aliases[alias.asname] = alias.name.split(".", 1)[1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (
            node.value.id in aliases and node.attr.startswith("_")
        ):
            module = aliases[node.value.id]
            if lesson_of(module) not in (None, mine):
                reaches.append(f"{module}:{node.attr}")
    return reaches


def defines(path: Path, name: str) -> bool:
    return any(
        isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name
        for node in _tree(path).body
    )


def is_view(path: Path) -> bool:
    return path.stem.endswith("_view")


def is_widget(path: Path) -> bool:
    return "widget" in _name(path).split(".", 1)[1]


def is_core(path: Path) -> bool:
    return CORE in path.parents


def function_lengths(path: Path) -> list[tuple[str, int]]:
    """``(name, lines)`` of every function, from the first line after its docstring to its end
    (decorators and the signature count; nested functions count inside their parent)."""
    lengths = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            has_doc = isinstance(body[0], ast.Expr) and isinstance(
                getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value,
                                                                              str)
            doc_lines = (body[0].end_lineno - body[0].lineno + 1) if has_doc else 0
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lengths.append((node.name, node.end_lineno - start + 1 - doc_lines))
    return lengths


# ----------------------------------------------------------------------------------------------
# The readers themselves


def test_the_reader_sees_lazy_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\ndef f():\n    import matplotlib.pyplot as plt\n"
                      "    from ipywidgets import VBox\n    importlib.import_module('nbdt.x')\n")
    assert imported_roots(sample) == {"os", "matplotlib", "ipywidgets", "nbdt"}
    assert matplotlib_imports(sample) == {"matplotlib.pyplot"}


def test_the_reader_resolves_relative_imports_and_private_reaches(tmp_path, monkeypatch):
    package = tmp_path / "xai_tutorial"
    (package / "core").mkdir(parents=True)
    core = package / "core" / "x.py"
    core.write_text("from .errors import InputError\nfrom ..cam import cam_method\n")
    lesson = package / "evaluation_view.py"
    lesson.write_text("from . import cam as c\nfrom .cam import _described, ok\n"
                      "from .evaluation import _mine\nc._private()\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", package)
    assert package_imports(core) == {"core.errors", "cam"}
    assert sorted(private_reaches(lesson)) == ["cam:_described", "cam:_private"]


def test_the_reader_counts_function_lines_without_the_docstring(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('@decorated\ndef f(x):\n    """One.\n\n    Two.\n    """\n    return x\n')
    assert function_lengths(sample) == [("f", 3)]


# ----------------------------------------------------------------------------------------------
# The rules


@pytest.mark.parametrize("path", [p for p in MODULES if is_core(p)], ids=_name)
def test_the_core_imports_no_lesson_module(path):
    for name in package_imports(path):
        assert name.startswith("core"), f"{_name(path)} imports xai_tutorial.{name}"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_lesson_reaches_into_another_lessons_private_names(path):
    assert not private_reaches(path), f"{_name(path)} uses {private_reaches(path)}"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_only_views_and_widgets_import_matplotlib(path):
    if is_view(path) or is_widget(path):
        return
    if path == CORE / "colormaps.py":
        assert matplotlib_imports(path) <= {"matplotlib"}, matplotlib_imports(path)
        return
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
        leaf = name.split(".")[-1]
        assert "widget" not in leaf, f"{_name(path)} imports {name}"
        if not is_view(path):
            assert not leaf.endswith("_view"), f"{_name(path)} imports {name}"


@pytest.mark.parametrize("entry", ["class_activation_maps", "load_nbdt", "load_classifier",
                                   "saliency_map"])
def test_entry_point_modules_stay_on_the_method_floor(entry):
    homes = [path for path in MODULES if defines(path, entry)]
    assert homes, f"no module defines {entry}"
    for path in homes:
        assert not is_view(path) and not is_widget(path), _name(path)
        assert not {"matplotlib", "ipywidgets"} & imported_roots(path), _name(path)


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_is_over_500_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_name(path)} has {lines} lines"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_function_is_over_80_lines(path):
    long = [(n, k) for n, k in function_lengths(path) if k > MAX_FUNCTION_LINES]
    assert not long, f"{_name(path)}: {long}"
