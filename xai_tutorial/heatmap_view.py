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


def colorize(map01: torch.Tensor | np.ndarray, cmap: str = "jet") -> np.ndarray:
    """An ``(H, W)`` map in [0, 1] as ``(H, W, 3)`` uint8 RGB: ``round(255 * cmap(m)[:3])``."""
    colormap = _colormap(check_colormap(cmap))
    values = map01.detach().cpu().numpy() if isinstance(map01, torch.Tensor) else np.asarray(map01)
    return (colormap(values)[..., :3] * 255).round().astype(np.uint8)


def blend(photo: np.ndarray, heat: np.ndarray, alpha: float) -> np.ndarray:
    """``round((1 - alpha) * photo + alpha * heat)``: ``alpha`` is the heatmap's opacity.

    ``alpha = 0`` shows the photo only, ``1`` the heatmap only, ``0.5`` the tutorial's 50/50 mix.
    """
    alpha = check_alpha(alpha)
    mixed = photo.astype(np.float32) * (1.0 - alpha) + heat.astype(np.float32) * alpha
    return mixed.round().astype(np.uint8)


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
