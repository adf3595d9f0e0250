"""Figures for lesson 04 (judging saliency maps): maps side by side, curves, the cascade, scenes.

A view module: it draws what :mod:`xai_tutorial.evaluation` computes, and computes nothing of
its own. Every figure is a ``matplotlib.figure.Figure`` (no pyplot state), at a modest dpi. Maps
are drawn in the core's colours: :data:`~xai_tutorial.core.heatmap.DEFAULT_CMAP` (perceptually
uniform, colour-blind safe) for magnitudes, :data:`~xai_tutorial.core.heatmap.DIVERGING_CMAP`
centred on 0 for signed maps (``scale="signed"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .core.heatmap import DEFAULT_CMAP, DIVERGING_CMAP, Scale
from .core.images import ImageSource, load_image
from .core.saliency import SaliencyMap
from .evaluation import POINTING_TOLERANCE, Curve, RandomizationStep, Scene
from .heatmap_view import overlay, upsample

DPI = 72


def plot_maps(
    image: ImageSource,
    maps: Mapping[str, torch.Tensor | SaliencyMap],
    *,
    alpha: float = 0.5,
    cmap: str | None = None,
    scale: Scale = "minmax",
    columns: int | None = None,
) -> Figure:
    """Each map scaled, upsampled to the picture, coloured and laid over it (the shared chain of
    :mod:`xai_tutorial.heatmap_view`), with its raw grid size in the title and one colour bar.

    ``scale="minmax"`` (default): each map on its own, 0 = its minimum, 1 = its maximum, in
    :data:`~xai_tutorial.core.heatmap.DEFAULT_CMAP`. ``scale="signed"`` for signed maps (raw CAM,
    occlusion's probability drops): ``0.5 + 0.5 m / max |m|``, so 0 is the middle (white) of
    :data:`~xai_tutorial.core.heatmap.DIVERGING_CMAP`, red for, blue against. A map may be a raw
    ``(h, w)`` tensor or a :class:`~xai_tutorial.core.saliency.SaliencyMap` (its values).
    """
    signed = scale == "signed"
    cmap = cmap or (DIVERGING_CMAP if signed else DEFAULT_CMAP)
    picture = load_image(image)
    columns = columns or len(maps)
    rows = -(-len(maps) // columns)
    aspect = picture.height / picture.width
    figure = Figure(figsize=(3.6 * columns, 3.6 * aspect * rows + 0.6), dpi=DPI)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for ax, (title, given) in zip(axes, maps.items(), strict=False):
        map_ = given.values if isinstance(given, SaliencyMap) else given
        h, w = map_.shape
        ax.imshow(overlay(picture, map_.detach().float(), alpha=alpha, cmap=cmap, scale=scale))
        ax.set_title(f"{title} ({h}x{w})", fontsize=10)
        ax.axis("off")
    for ax in axes[len(maps):]:
        ax.axis("off")
    if signed:
        scale_bar = ScalarMappable(norm=Normalize(-1, 1), cmap=cmap)
        label = "saliency / max |saliency| (0 = white)"
    else:
        scale_bar = ScalarMappable(norm=Normalize(0, 1), cmap=cmap)
        label = "scaled saliency (0 = min, 1 = max)"
    figure.colorbar(scale_bar, ax=list(axes), shrink=0.8, label=label)
    return figure


def plot_curves(curves: Mapping[str, Curve], title: str = "") -> Figure:
    """Deletion (or insertion) curves, one line per method, AUC in the legend."""
    figure = Figure(figsize=(5.0, 3.4), dpi=DPI)
    ax = figure.subplots()
    for name, curve in curves.items():
        ax.plot(curve.fractions, curve.probabilities, marker=".", label=f"{name}: {curve.auc:.3f}")
    kinds = {c.kind for c in curves.values()}
    kind = kinds.pop() if len(kinds) == 1 else "deletion / insertion"
    ax.set_xlabel(f"fraction of pixels {'removed' if kind == 'deletion' else 'inserted'}")
    ax.set_ylabel("class probability")
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.set_title(title or f"{kind} curves (AUC in the legend)", fontsize=10)
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def plot_randomization(results: Mapping[str, Sequence[RandomizationStep]]) -> Figure:
    """Spearman's rho after each step of the cascade, one line per method or setting.

    A step whose map is constant (rho undefined) is drawn as an ``x`` on the zero line and named
    in the legend; it is not a correlation of 0.
    """
    figure = Figure(figsize=(10.0, 3.8), dpi=DPI)
    ax = figure.subplots()
    labels: list[str] = []
    for name, steps in results.items():
        labels = [s.block for s in steps]
        positions = np.arange(len(steps))
        rho = np.array([np.nan if s.rho is None else s.rho for s in steps], dtype=float)
        line = ax.plot(positions, rho, marker="o", label=name)[0]
        constant = np.isnan(rho)
        if constant.any():
            ax.plot(positions[constant], np.zeros(int(constant.sum())), "x", markersize=9,
                    color=line.get_color(), label=f"{name}: constant map (rho undefined)")
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.set_xticks(np.arange(len(labels)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("Spearman rho with the original map")
    ax.set_xlabel("re-initialized down to (cascade from the top)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    return figure


def plot_scenes(
    scenes: Sequence[Scene],
    maps: Mapping[str, Sequence[torch.Tensor]],
    target: str,
    *,
    tolerance: float = POINTING_TOLERANCE,
) -> Figure:
    """A few scenes, the ``target`` box (dashed: the tolerance) and where each method points."""
    from matplotlib.patches import Rectangle

    markers = ["o", "s", "^", "D", "v"]
    figure = Figure(figsize=(2.4 * len(scenes), 2.8), dpi=DPI)
    axes = np.atleast_1d(figure.subplots(1, len(scenes)))
    for i, (ax, scene) in enumerate(zip(axes, scenes, strict=False)):
        ax.imshow(scene.image)
        left, top, right, bottom = scene.boxes[target]
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False,
                               edgecolor="lime", linewidth=2))
        ax.add_patch(Rectangle((left - 0.5 - tolerance, top - 0.5 - tolerance),
                               right - left + 2 * tolerance, bottom - top + 2 * tolerance,
                               fill=False, edgecolor="lime", linewidth=1, linestyle="--"))
        for k, (name, per_scene) in enumerate(maps.items()):
            full = upsample(per_scene[i].detach().float(), scene.image.size[::-1])
            row, column = divmod(int(torch.argmax(full)), full.shape[1])
            ax.plot(column, row, markers[k % len(markers)], markersize=8,
                    markeredgecolor="black", label=name if i == 0 else None)
        ax.set_xlim(-0.5, scene.image.width - 0.5)
        ax.set_ylim(scene.image.height - 0.5, -0.5)
        ax.set_title(f"scene {scene.seed}", fontsize=9)
        ax.axis("off")
    figure.legend(loc="lower center", ncol=len(maps), fontsize=8)
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    return figure
