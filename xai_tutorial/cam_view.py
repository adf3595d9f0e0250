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
from .core.errors import InputError
from .core.heatmap import (
    DEFAULT_CMAP,
    HeatmapStyle,
    Scale,
    check_map,
    colorize,
    heatmap_overlay,
    map_to_size,
    shared_reference,
)
from .core.images import ImageSource, image_checker, load_image
from .heatmap_view import add_colorbar, check_colormap, colorbar_range

__all__ = ["plot_colormap_comparison", "plot_overlays", "plot_raw_map", "save_cam"]


def plot_raw_map(map_: torch.Tensor, title: str = "raw CAM", cmap: str = DEFAULT_CMAP):
    """The raw map as its small grid of cells, with a colour bar of its values."""
    from matplotlib.figure import Figure

    check_colormap(cmap)
    h, w = map_.shape
    figure = Figure(figsize=(1.2 + 0.45 * w, 0.6 + 0.45 * h))
    ax = figure.subplots()
    values = map_.detach().cpu().numpy()
    ax.imshow(values, cmap=cmap)
    add_colorbar(figure, ax, float(values.min()), float(values.max()), cmap, "raw CAM value")
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
    cmap: str = DEFAULT_CMAP,
    scale: Scale = "minmax",
    reference: torch.Tensor | None = None,
    columns: int | None = None,
    colorbar: bool = True,
):
    """Raw maps, titled, each scaled, upsampled to the image and laid over it.

    With ``scale="shared"`` the range comes from ``reference`` (e.g. ``result.maps``, all classes)
    or, by default, from the maps shown.

    With ``colorbar`` (the default) the colours are read back as raw CAM values: with
    ``"minmax"`` each map gets its own bar, from its minimum to its maximum; with ``"signed"``
    (use a diverging ``cmap``) its own bar from ``-max |m|`` to ``max |m|``, 0 in the middle;
    with ``"shared"`` one bar, from the reference's minimum to its maximum, serves every map.
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
    bars = (columns if scale != "shared" else 1) if colorbar else 0
    figure = Figure(figsize=(4.2 * columns + 0.9 * bars, 4.2 * aspect * rows + 0.5),
                    layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for ax, (title, map_) in zip(axes, maps.items(), strict=False):
        _, blended = heatmap_overlay(picture, map_, reference=reference, style=style)
        ax.imshow(blended)
        ax.set_title(title)
        ax.axis("off")
        if colorbar and scale != "shared":
            add_colorbar(figure, ax, *colorbar_range(map_, scale), cmap, "raw CAM value")
    for ax in axes[len(maps):]:
        ax.axis("off")
    if colorbar and scale == "shared":
        add_colorbar(figure, list(axes[:len(maps)]), float(reference.min()),  # type: ignore[union-attr]
                  float(reference.max()), cmap, "raw CAM value (shared range)")
    return figure


def plot_colormap_comparison(
    image: ImageSource,
    map_: torch.Tensor,
    lightness: dict[str, np.ndarray],
):
    """One map drawn in several colormaps, above the lightness each colour has, beside the
    lightness curve of each colormap along a linear ramp.

    ``lightness[name]`` holds the CIELAB lightness ``L*`` (0 black .. 100 white) of the 256
    colours of colormap ``name``, in order. The map is min-max scaled and upsampled to the photo
    (no blending: only the map's colours); the second row shows each pixel's ``L*`` in grey, what
    a grey-scale print or a reader who cannot tell the hues apart is left with. Where a curve
    rises and falls, equal steps in value do not look like equal steps: bright bands and dark
    rims appear that are not in the data.
    """
    from matplotlib.figure import Figure

    picture = load_image(image)
    raw = check_map(map_, "map_", single=True)
    for name, curve in lightness.items():
        check_colormap(name)
        values = np.asarray(curve, dtype=float)
        if values.shape != (256,) or not np.isfinite(values).all():
            raise InputError(f"lightness[{name!r}]: expected the L* of the 256 colours of "
                             f"{name}, got shape {values.shape}")
    map01 = map_to_size(raw, (picture.height, picture.width)).numpy()
    index = np.clip(map01 * 256, 0, 255).astype(np.intp)  # the colour table's entry, as colorize
    n = len(lightness)
    aspect = picture.height / picture.width
    figure = Figure(figsize=(3.2 * n + 3.6, 2 * 3.2 * aspect + 0.9), layout="constrained")
    grid = figure.add_gridspec(2, n + 1, width_ratios=[1.0] * n + [1.1])
    for column, (name, curve) in enumerate(lightness.items()):
        top = figure.add_subplot(grid[0, column])
        top.imshow(colorize(map01, name))
        top.set_title(name, fontsize=10)
        bottom = figure.add_subplot(grid[1, column])
        bottom.imshow(np.asarray(curve, dtype=float)[index], cmap="gray", vmin=0, vmax=100)
        bottom.set_title(f"{name}: lightness L*", fontsize=10)
        for ax in (top, bottom):
            ax.axis("off")
    ax = figure.add_subplot(grid[:, n])
    ramp = np.linspace(0, 1, 256)
    for name, curve in lightness.items():
        ax.plot(ramp, curve, color="0.6", linewidth=0.8, zorder=1)
        ax.scatter(ramp, curve, c=ramp, cmap=name, s=9, zorder=2, label=name)
    ax.set_xlabel("value along a linear ramp (0 weakest, 1 strongest)", fontsize=8)
    ax.set_ylabel("lightness L* (0 black, 100 white)", fontsize=8)
    ax.set_ylim(0, 100)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, markerscale=2)
    ax.set_title("lightness along the colormap", fontsize=10)
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
