"""Lesson 02's figures and files: raw maps, overlays, and the tutorial's two JPEGs.

Every overlay goes through :func:`xai_tutorial.heatmap_view.heatmap_overlay` (scale -> upsample ->
colour -> blend); this module only arranges the results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .core._files import atomic_paths
from .core.heatmap import HeatmapStyle, Scale, heatmap_overlay, shared_reference
from .core.images import ImageSource, image_checker, load_image
from .heatmap_view import add_colorbar, check_colormap

__all__ = ["plot_overlays", "plot_raw_map", "save_cam"]


def plot_raw_map(map_: torch.Tensor, title: str = "raw CAM", cmap: str = "jet"):
    """The raw map as its small grid of cells, with a colour bar of its values."""
    from matplotlib.figure import Figure

    check_colormap(cmap)
    h, w = map_.shape
    figure = Figure(figsize=(1.2 + 0.45 * w, 0.6 + 0.45 * h))
    ax = figure.subplots()
    shown = ax.imshow(map_.detach().cpu().numpy(), cmap=cmap)
    figure.colorbar(shown, ax=ax)
    ax.set_title(f"{title} ({h}x{w})")
    ax.set_xticks([])
    ax.set_yticks([])
    figure.tight_layout()
    return figure


def plot_overlays(
    image: ImageSource,
    maps: dict[str, torch.Tensor],
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    scale: Scale = "minmax",
    reference: torch.Tensor | None = None,
    columns: int | None = None,
    colorbar: bool = True,
):
    """Raw maps, titled, each scaled, upsampled to the image and laid over it.

    With ``scale="shared"`` the range comes from ``reference`` (e.g. ``result.maps``, all classes)
    or, by default, from the maps shown.

    With ``colorbar`` (the default) the colours are read back as raw CAM values: with
    ``"minmax"`` each map gets its own bar, from its minimum to its maximum; with ``"shared"``
    one bar, from the reference's minimum to its maximum, serves every map.
    """
    from matplotlib.figure import Figure

    style = HeatmapStyle(alpha=alpha, cmap=cmap, scale=scale)  # checked once, used per map
    scale = style.scale
    picture = load_image(image)
    if scale == "shared" and reference is None:
        reference = shared_reference(list(maps.values()))
    columns = columns or len(maps)
    rows = -(-len(maps) // columns)
    aspect = picture.height / picture.width
    bars = (columns if scale == "minmax" else 1) if colorbar else 0
    figure = Figure(figsize=(4.2 * columns + 0.9 * bars, 4.2 * aspect * rows + 0.5),
                    layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for ax, (title, map_) in zip(axes, maps.items(), strict=False):
        _, blended = heatmap_overlay(picture, map_, reference=reference, style=style)
        ax.imshow(blended)
        ax.set_title(title)
        ax.axis("off")
        if colorbar and scale == "minmax":
            add_colorbar(figure, ax, float(map_.min()), float(map_.max()), cmap, "raw CAM value")
    for ax in axes[len(maps):]:
        ax.axis("off")
    if colorbar and scale == "shared":
        add_colorbar(figure, list(axes[:len(maps)]), float(reference.min()),  # type: ignore[union-attr]
                  float(reference.max()), cmap, "raw CAM value (shared range)")
    return figure


def save_cam(
    image: ImageSource,
    raw_map: torch.Tensor,
    out_dir: str | Path = ".",
    *,
    scale: Scale | None = None,
    reference: torch.Tensor | None = None,
    alpha: float | None = None,
    cmap: str | None = None,
    style: HeatmapStyle | None = None,
) -> tuple[Path, Path]:
    """Write the tutorial's ``heatmap.jpg`` and ``combined.jpg`` at the image's size.

    ``raw_map`` goes through :func:`~xai_tutorial.core.heatmap.heatmap_overlay` with ``style``
    (or ``scale``/``alpha``/``cmap``, checked into one before any work). Both files are written
    together or not at all: the targets are checked first, both are written to temporary files
    beside them, then both are moved into place; on any failure nothing new is left.

    Returns:
        The paths of ``heatmap.jpg`` and ``combined.jpg``.
    """
    style = HeatmapStyle.of(style, scale=scale, alpha=alpha, cmap=cmap)
    out = Path(out_dir)
    targets = (out / "heatmap.jpg", out / "combined.jpg")
    picture = load_image(image)  # free for a photo the caller loaded already
    heat, combined = heatmap_overlay(picture, raw_map, reference=reference, style=style)

    with atomic_paths(*targets, verify=image_checker(picture.size)) as partials:
        for array, partial in zip((heat, combined), partials, strict=True):
            Image.fromarray(array).save(partial, "JPEG", quality=92)
    return targets
