"""Saved figures are legible: every text a view draws is at least 9 px tall at the saved dpi.

``make notebooks`` saves each figure at the Makefile's ``FIGURE_DPI`` (read from the Makefile
here), so a font of ``s`` points is ``s * FIGURE_DPI / 72`` pixels tall in the notebook. Every
public plotting function of the view modules (``xai_tutorial/*_view.py``: the ``plot_*``
functions) is drawn on small inputs, saved as the notebooks save it (PNG, ``bbox_inches="tight"``,
at ``FIGURE_DPI``), and every text the renderer actually draws -- tick labels, titles, axis and
colour-bar labels, legends, annotations -- is recorded with its font size.

A new ``plot_*`` function fails :func:`test_every_plotting_function_is_drawn` until it gets a case
below.
"""

from __future__ import annotations

import importlib
import inspect
import io
import re
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from hand_built import TinyNet
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure

from xai_tutorial import (
    attribution_view,
    cam_view,
    classification_view,
    decision_trees_view,
    evaluation_view,
)

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "assets" / "cat_and_coffee.png"
FASHION = sorted((ROOT / "assets" / "fashion").glob("[0-9]-*.png"))
MIN_PX = 9.0
VIEWS = sorted(p.stem for p in (ROOT / "xai_tutorial").glob("*_view.py"))


def figure_dpi() -> float:
    """``FIGURE_DPI ?= N`` in the Makefile: the dpi ``make notebooks`` saves figures at."""
    found = re.search(r"^FIGURE_DPI\s*\??=\s*(\d+(?:\.\d+)?)\s*$",
                      (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found, "the Makefile sets no FIGURE_DPI"
    return float(found.group(1))


FIGURE_DPI = figure_dpi()


def plotting_functions() -> list[str]:
    """``module.plot_x`` for every public ``plot_*`` function defined in a view module."""
    names = []
    for stem in VIEWS:
        module = importlib.import_module(f"xai_tutorial.{stem}")
        names += [f"{stem}.{name}" for name, obj in inspect.getmembers(module, inspect.isfunction)
                  if name.startswith("plot_") and obj.__module__ == module.__name__]
    return sorted(names)


def drawn_texts(figure: Figure, dpi: float = FIGURE_DPI) -> list[tuple[str, float]]:
    """(text, font size in points) of every non-empty text drawn when ``figure`` is saved as the
    notebooks save it (PNG, tight bounding box, ``dpi``)."""
    seen: list[tuple[str, float]] = []
    original = RendererAgg.draw_text

    def record(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):  # noqa: ANN001
        if s.strip():
            seen.append((s, float(prop.get_size_in_points())))
        return original(self, gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    with mock.patch.object(RendererAgg, "draw_text", record):
        FigureCanvasAgg(figure)
        figure.savefig(io.BytesIO(), format="png", dpi=dpi, bbox_inches="tight")
    return seen


def too_small(figure: Figure, dpi: float = FIGURE_DPI) -> dict[float, list[str]]:
    """Font size (pt) -> the texts drawn at it that are under ``MIN_PX`` pixels at ``dpi``."""
    small: dict[float, list[str]] = {}
    for text, points in drawn_texts(figure, dpi):
        if points * dpi / 72 < MIN_PX:
            small.setdefault(points, []).append(text)
    return small


# --- inputs: small, but shaped like the lessons' own ------------------------------------------


def _maps(*shapes: tuple[int, int]) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.rand(shape, generator=generator) for shape in shapes]


def _tiny_classifier():
    from xai_tutorial.classification import Classifier

    return Classifier("tiny", TinyNet(), ["tabby cat", "espresso", "coffee mug"], resize=64,
                      crop=56)


def _predictions():
    from xai_tutorial.classification import Prediction

    named = [(282, "tiger cat", 0.379), (285, "Egyptian cat", 0.375), (281, "tabby", 0.12),
             (967, "espresso", 0.05), (504, "coffee mug", 0.02)]
    return [Prediction(i, label, p) for i, label, p in named]


@pytest.fixture(scope="module")
def fashion():
    from xai_tutorial.decision_trees import load_nbdt

    return load_nbdt("fashion")


def _curves():
    from xai_tutorial.evaluation import Curve

    fractions = np.linspace(0, 1, 11)
    return {name: Curve("deletion", fractions, np.exp(-k * fractions) * 0.6,
                        float(np.trapezoid(np.exp(-k * fractions) * 0.6, fractions)), 282)
            for name, k in (("CAM", 6.0), ("Grad-CAM", 5.0), ("random", 1.0))}


def _randomization():
    from xai_tutorial.evaluation import RandomizationStep

    blocks = ["_fc", "_conv_head", *(f"_blocks.{i}" for i in range(15, 9, -1))]
    rhos = [0.9, 0.7, 0.5, 0.3, None, 0.1, 0.05, -0.02]
    return {"CAM": [RandomizationStep(b, r) for b, r in zip(blocks, rhos, strict=True)],
            "Grad-CAM": [RandomizationStep(b, 0.8 - 0.1 * i) for i, b in enumerate(blocks)]}


def _lightness(name: str) -> np.ndarray:
    """CIELAB L* of the 256 colours of colormap ``name`` (sRGB, D65)."""
    from matplotlib import colormaps

    rgb = colormaps[name](np.linspace(0, 1, 256))[:, :3]
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    y = linear @ np.array([0.2126, 0.7152, 0.0722])
    f = np.where(y > (6 / 29) ** 3, np.cbrt(y), y / (3 * (6 / 29) ** 2) + 4 / 29)
    return 116 * f - 16


def _scenes():
    from xai_tutorial.evaluation import make_scene

    scenes = [make_scene(seed, size=224) for seed in range(3)]
    return scenes, {"CAM": _maps(*[(7, 7)] * 3), "random": _maps(*[(7, 7)] * 3)}


def _profiles():
    from xai_tutorial.attribution import PathProfile

    alphas = torch.linspace(0, 1, 17, dtype=torch.float64)
    return {name: PathProfile(alphas, start + 9 * alphas.sqrt(), 4.5 / (alphas + 0.05).sqrt())
            for name, start in (("black", 0.2), ("blurred", 4.1))}


def _gaps():
    rules = {"riemann_middle": [(1, 0.55), (2, 2.6), (4, 0.13), (8, 0.16), (16, 0.38)],
             "riemann_trapezoid": [(2, 1.0), (3, 0.78), (5, 0.92), (9, 0.4), (17, 0.12)],
             "gausslegendre": [(64, 0.0013)]}
    return {"black": rules, "blurred": {k: v for k, v in rules.items() if k != "gausslegendre"}}


def _scoreboard():
    names = ["cam", "grad_cam", "occlusion", "edge", "random", "center", "integrated_gradients",
             "guided_backprop", "rise", "kernel_shap"]
    return [{"method": name, "forward": 2 ** i, "backward": i % 2, "deletion": 0.03 * (i + 1),
             "insertion": 0.5 - 0.04 * i,
             "pointing": None if name in ("rise", "kernel_shap") else (i % 4) / 3,
             "rho": None if name in ("rise", "kernel_shap", "grad_cam") else 1 - 0.2 * i}
            for i, name in enumerate(names)] + [{"method": "cam_on_vit", "error": "no pooling"}]


CASES: dict[str, list[Callable[..., Figure]]] = {
    "attribution_view.plot_path": [
        lambda fx: attribution_view.plot_path(_profiles(), "Egyptian cat"),
    ],
    "attribution_view.plot_gaps": [
        lambda fx: attribution_view.plot_gaps(_gaps()),
    ],
    "attribution_view.plot_scoreboard": [
        lambda fx: attribution_view.plot_scoreboard(_scoreboard()),
    ],
    "cam_view.plot_raw_map": [
        lambda fx: cam_view.plot_raw_map(_maps((7, 10))[0]),
    ],
    "cam_view.plot_overlays": [
        lambda fx: cam_view.plot_overlays(
            PHOTO, dict(zip(["tiger cat", "espresso"], _maps((7, 10), (7, 10)), strict=True))),
        lambda fx: cam_view.plot_overlays(
            PHOTO, dict(zip(["a", "b", "c"], _maps(*[(7, 10)] * 3), strict=True)),
            scale="shared", columns=2),
    ],
    "cam_view.plot_colormap_comparison": [
        lambda fx: cam_view.plot_colormap_comparison(
            PHOTO, _maps((7, 10))[0], {name: _lightness(name) for name in ("jet", "magma")}),
    ],
    "classification_view.plot_predictions": [
        lambda fx: classification_view.plot_predictions(_predictions()),
    ],
    "classification_view.plot_steps": [
        lambda fx: classification_view.plot_steps(_tiny_classifier(), PHOTO),
    ],
    "decision_trees_view.plot_node_maps": [
        lambda fx: decision_trees_view.plot_node_maps(fx("fashion"), FASHION[9]),
    ],
    "decision_trees_view.plot_tree": [
        lambda fx: decision_trees_view.plot_tree(fx("fashion"),
                                                 fx("fashion").explain(FASHION[9])),
        lambda fx: decision_trees_view.plot_tree(fx("fashion"), fx("fashion").explain(FASHION[5]),
                                                 show_leaves=True),
    ],
    "evaluation_view.plot_maps": [
        lambda fx: evaluation_view.plot_maps(
            PHOTO, dict(zip(["CAM", "Grad-CAM", "occlusion"], _maps((7, 10), (14, 20), (7, 10)),
                            strict=True))),
    ],
    "evaluation_view.plot_curves": [
        lambda fx: evaluation_view.plot_curves(_curves()),
    ],
    "evaluation_view.plot_randomization": [
        lambda fx: evaluation_view.plot_randomization(_randomization()),
    ],
    "evaluation_view.plot_scenes": [
        lambda fx: evaluation_view.plot_scenes(*_scenes(), "cat"),
    ],
}
DRAWN = [(name, k) for name, cases in CASES.items() for k in range(len(cases))]


def test_figure_dpi_makes_7_points_legible() -> None:
    """The lessons' rule of thumb (no font under 7 pt) holds at the Makefile's dpi."""
    assert 7 * FIGURE_DPI / 72 >= MIN_PX


def test_every_plotting_function_is_drawn() -> None:
    assert sorted(CASES) == plotting_functions()


def test_the_check_finds_a_small_font() -> None:
    figure = Figure(figsize=(3, 2))
    ax = figure.subplots()
    ax.set_title("big enough", fontsize=10)
    ax.tick_params(labelsize=5)
    assert set(too_small(figure, dpi=100)) == {5.0}
    assert "big enough" in [t for t, _ in drawn_texts(figure, dpi=100)]
    assert not too_small(figure, dpi=200)  # 5 pt at 200 dpi is 13.9 px


@pytest.mark.parametrize(("name", "case"), DRAWN, ids=[f"{n}-{k}" for n, k in DRAWN])
def test_every_text_is_at_least_9_px(name: str, case: int, request) -> None:
    figure = CASES[name][case](request.getfixturevalue)
    assert drawn_texts(figure), f"{name} drew no text"
    small = too_small(figure)
    report = {f"{points:g} pt = {points * FIGURE_DPI / 72:.1f} px": sorted(set(texts))[:5]
              for points, texts in sorted(small.items())}
    assert not small, (f"{name}: texts under {MIN_PX:g} px at {FIGURE_DPI:g} dpi (use at least "
                       f"{72 * MIN_PX / FIGURE_DPI:.1f} pt): {report}")
