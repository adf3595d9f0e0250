"""The one heatmap chain every lesson shares: scale -> upsample -> colour -> blend.

A raw map ``m`` (``h x w``, any real values) becomes a picture in four steps:

1. :func:`scale_maps`: ``m01 = (m - lo) / (hi - lo)`` clamped to [0, 1] (per map, or one range
   shared by all classes);
2. :func:`upsample`: bilinear resize of ``m01`` to the photo's ``(H, W)``;
3. :func:`colorize`: a matplotlib colormap turns each value into an RGB colour;
4. :func:`blend`: ``(1 - alpha) * photo + alpha * heat``.

:func:`heatmap_overlay` runs all four. The figures (:mod:`~xai_tutorial.cam_view`), the CAM
explorer (:mod:`~xai_tutorial.cam_widgets`, which caches the stages), the CLI and
:func:`~xai_tutorial.cam_view.save_cam` all use these functions. ``scale_maps`` and ``upsample``
are pure torch and are defined in :mod:`xai_tutorial.cam` (method modules may use them); they are
re-exported here so a view imports the whole chain from one module.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import torch
from PIL import Image

from .cam import Scale, scale_maps, upsample
from .errors import InputError
from .validation import check_alpha, check_scale

__all__ = [
    "COLORMAPS",
    "add_colorbar",
    "blend",
    "check_colormap",
    "colorize",
    "heatmap_overlay",
    "map_to_size",
    "overlay",
    "scale_maps",
    "shared_reference",
    "upsample",
]

#: The colormaps the widgets offer (any matplotlib colormap name is accepted).
COLORMAPS: tuple[str, ...] = ("jet", "inferno", "viridis", "magma", "coolwarm", "gray")


@cache
def _colormap(cmap: str):
    import matplotlib

    return matplotlib.colormaps[cmap]


def add_colorbar(figure, axes, lo: float, hi: float, cmap: str, label: str,
                 orientation: str = "vertical") -> None:
    """A colour bar that reads an overlay's colours back as raw values ``lo .. hi`` (the range
    the map was scaled with), so the colours mean numbers and not only "more" or "less"."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    horizontal = orientation == "horizontal"
    bar = figure.colorbar(ScalarMappable(Normalize(lo, hi), cmap=_colormap(cmap)), ax=axes,
                          orientation=orientation, shrink=0.9,
                          **({"fraction": 0.06, "pad": 0.02, "aspect": 15} if horizontal else {}))
    bar.set_label(label, fontsize=7 if horizontal else 8)
    bar.ax.tick_params(labelsize=6 if horizontal else 8)
    if horizontal:  # a few ticks, and 0 whenever the range crosses it (where "for" turns "against")
        ticks = [t for t in MaxNLocator(3).tick_values(lo, hi) if lo <= t <= hi]
        if lo < 0 < hi and 0 not in ticks:
            ticks = sorted([*(t for t in ticks if abs(t) > 0.15 * (hi - lo)), 0.0])
        bar.set_ticks(ticks)


def check_colormap(cmap: object) -> str:
    """A matplotlib colormap name (e.g. ``"jet"``, ``"viridis"``).

    Raises:
        InputError: not a colormap name.
    """
    if isinstance(cmap, str):
        try:
            _colormap(cmap)
            return cmap
        except KeyError:
            pass
    raise InputError(
        f"colormap {cmap!r}: not a matplotlib colormap (e.g. {', '.join(COLORMAPS)})"
    )


@cache
def _lookup_table(cmap: str) -> np.ndarray:
    """The colormap's 256 colours as ``round(255 * rgb)``, uint8 ``(256, 3)``."""
    colours = _colormap(cmap)(np.arange(256))[:, :3]
    return (colours * 255).round().astype(np.uint8)


#: Rows are coloured and blended in blocks of about this many pixels, so a large photo never
#: needs more than a few bytes of float temporaries per pixel.
_BLOCK_PIXELS = 1 << 20


def colorize(map01: torch.Tensor | np.ndarray, cmap: str = "jet") -> np.ndarray:
    """An ``(H, W)`` map in [0, 1] as ``(H, W, 3)`` uint8 RGB: ``round(255 * cmap(m)[:3])``.

    Exactly matplotlib's colours: like ``Colormap.__call__``, value ``m`` takes entry
    ``min(floor(256 m), 255)`` of the colormap's 256-colour table (values outside [0, 1] take
    the end colours). Looking colours up in that table as uint8 costs 4 bytes a pixel instead
    of matplotlib's 32-byte float RGBA.
    """
    table = _lookup_table(check_colormap(cmap))
    values = map01.detach().cpu().numpy() if isinstance(map01, torch.Tensor) else np.asarray(map01)
    values = values.astype(np.float32, copy=False)
    if values.ndim != 2:
        return table[np.clip(values * 256, 0, 255).astype(np.uint8)]
    heat = np.empty((*values.shape, 3), dtype=np.uint8)
    rows = max(1, _BLOCK_PIXELS // max(1, values.shape[1]))
    for start in range(0, values.shape[0], rows):
        index = np.clip(values[start:start + rows] * 256, 0, 255).astype(np.uint8)  # = floor
        heat[start:start + rows] = table[index]
    return heat


def blend(photo: np.ndarray, heat: np.ndarray, alpha: float) -> np.ndarray:
    """``round((1 - alpha) * photo + alpha * heat)``: ``alpha`` is the heatmap's opacity.

    ``alpha = 0`` shows the photo only, ``1`` the heatmap only, ``0.5`` the tutorial's 50/50 mix.
    Computed in float32, a block of rows at a time.
    """
    alpha = check_alpha(alpha)
    mixed = np.empty(np.broadcast_shapes(photo.shape, heat.shape), dtype=np.uint8)
    width = mixed.shape[1] if mixed.ndim >= 2 else 1
    rows = max(1, _BLOCK_PIXELS // max(1, width))
    for start in range(0, mixed.shape[0], rows):
        part = photo[start:start + rows].astype(np.float32) * (1.0 - alpha)
        part += heat[start:start + rows].astype(np.float32) * alpha
        mixed[start:start + rows] = part.round()
    return mixed


def map_to_size(
    raw_map: torch.Tensor,
    size: tuple[int, int],
    *,
    scale: Scale = "minmax",
    reference: torch.Tensor | None = None,
) -> torch.Tensor:
    """Steps 1 and 2: ``raw_map`` scaled to [0, 1] (see :func:`scale_maps`), then upsampled to
    ``size = (H, W)``. ``reference`` fixes the range when ``scale="shared"``."""
    scale = check_scale(scale)  # type: ignore[assignment]
    map01 = scale_maps(raw_map, scale, reference if scale == "shared" else None)
    return map01 if tuple(map01.shape[-2:]) == tuple(size) else upsample(map01, size)


def _photo_array(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise InputError(f"image: expected an (H, W, 3) uint8 array, got {array.shape} "
                         f"{array.dtype}")
    return array


def heatmap_overlay(
    image: Image.Image | np.ndarray,
    raw_map: torch.Tensor,
    *,
    scale: Scale = "minmax",
    reference: torch.Tensor | None = None,
    alpha: float = 0.5,
    cmap: str = "jet",
) -> tuple[np.ndarray, np.ndarray]:
    """The whole chain: ``raw_map`` scaled, upsampled to ``image``, coloured, blended over it.

    Every option is checked before any work.

    Args:
        image: the photo (a PIL image or an ``(H, W, 3)`` uint8 array).
        raw_map: an ``(h, w)`` map of raw scores (any size; upsampled to the photo's).
        scale: ``"minmax"`` (the map on its own) or ``"shared"`` (the range of ``reference``).
        reference: maps that fix the shared range (default: ``raw_map`` itself).
        alpha: heatmap opacity in [0, 1].
        cmap: a matplotlib colormap name.

    Returns:
        ``(heat, blended)``: two ``(H, W, 3)`` uint8 RGB arrays at the image's size.
    """
    scale = check_scale(scale)  # type: ignore[assignment]
    alpha = check_alpha(alpha)
    check_colormap(cmap)
    photo = _photo_array(image)
    map01 = map_to_size(raw_map, photo.shape[:2], scale=scale, reference=reference)
    heat = colorize(map01, cmap)
    return heat, blend(photo, heat, alpha)


def overlay(
    image: Image.Image | np.ndarray,
    raw_map: torch.Tensor,
    *,
    scale: Scale = "minmax",
    reference: torch.Tensor | None = None,
    alpha: float = 0.5,
    cmap: str = "jet",
) -> Image.Image:
    """:func:`heatmap_overlay`'s blended picture as a PIL image."""
    return Image.fromarray(heatmap_overlay(image, raw_map, scale=scale, reference=reference,
                                           alpha=alpha, cmap=cmap)[1])


def shared_reference(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """``[lo, hi]`` over several maps: the shared range when no larger reference is given."""
    lo = min(float(m.min()) for m in maps)
    hi = max(float(m.max()) for m in maps)
    return torch.tensor([lo, hi])
