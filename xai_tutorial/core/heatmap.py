"""The one heatmap chain every lesson shares: scale -> upsample -> colour -> blend.

A raw map ``m`` (``h x w``, any real values) becomes a picture in four steps:

1. :func:`scale_maps`: ``m01 = (m - lo) / (hi - lo)`` clamped to [0, 1] (per map, or one range
   shared by all classes);
2. :func:`upsample`: bilinear resize of ``m01`` to the photo's ``(H, W)``;
3. :func:`colorize`: a colormap's 256-colour table turns each value into an RGB colour;
4. :func:`blend`: ``(1 - alpha) * photo + alpha * heat``.

:func:`heatmap_overlay` runs all four with a :class:`HeatmapStyle` (alpha, colormap, scale:
checked once, when the style is made). The figures, the explorers, the CLI and ``save_cam`` all
use these functions; the inner steps take checked values and state their preconditions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .colormaps import COLORMAPS, check_colormap, lookup_table
from .errors import InputError
from .inputs import SCALES, check_alpha, check_scale

__all__ = [
    "COLORMAPS",
    "DEFAULT_CMAP",
    "DIVERGING_CMAP",
    "SCALES",
    "HeatmapStyle",
    "Scale",
    "blend",
    "check_colormap",
    "colorize",
    "heatmap_overlay",
    "map_to_size",
    "overlay",
    "peak",
    "scale_maps",
    "shared_reference",
    "upsample",
]

Scale = Literal["minmax", "shared", "signed"]

#: The colormap every figure, explorer and CLI verb uses unless told otherwise: magma is
#: perceptually uniform (equal steps in value look like equal steps in colour), readable by
#: colour-blind viewers and in grey-scale print, and dark where there is no evidence. ``"jet"``
#: stays available for comparison with the 2020 tutorial; lesson 02 shows the false edges it draws.
DEFAULT_CMAP = "magma"

#: The colormap for *signed* maps (contrasts, signed attributions), always with ``scale="signed"``
#: so that white is exactly 0: red for evidence for, blue for evidence against (ColorBrewer's
#: RdBu, colour-blind safe).
DIVERGING_CMAP = "RdBu_r"

#: Rows are coloured and blended in blocks of about this many pixels, so a large photo never
#: needs more than a few bytes of float temporaries per pixel.
_BLOCK_PIXELS = 1 << 20


@dataclass(frozen=True)
class HeatmapStyle:
    """How a raw map is shown: checked once, on creation, then passed inward as is.

    Attributes:
        alpha: heatmap opacity in [0, 1] (0 = photo only, 1 = heatmap only).
        cmap: a matplotlib colormap name; ``None`` (the default) picks :data:`DEFAULT_CMAP`, or
            :data:`DIVERGING_CMAP` when ``scale="signed"``.
        scale: ``"minmax"`` (each map its own range), ``"shared"`` (one range for all) or
            ``"signed"`` (0 in the middle of the colormap: for signed maps).

    Raises:
        InputError: any field out of its range (the message names it).
    """

    alpha: float = 0.5
    cmap: str = None  # type: ignore[assignment] (None -> chosen by the scale, on creation)
    scale: Scale = "minmax"

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", check_alpha(self.alpha))
        object.__setattr__(self, "scale", check_scale(self.scale))
        if self.cmap is None:
            cmap = DIVERGING_CMAP if self.scale == "signed" else DEFAULT_CMAP
            object.__setattr__(self, "cmap", cmap)
        object.__setattr__(self, "cmap", check_colormap(self.cmap))

    @classmethod
    def of(cls, style: HeatmapStyle | None = None, **fields: object) -> HeatmapStyle:
        """``style`` itself when given and no field (``None`` means "not given") overrides it;
        else a new style, checked on creation."""
        fields = {k: v for k, v in fields.items() if v is not None}
        if style is not None and not fields:
            return style
        base = {} if style is None else {"alpha": style.alpha, "cmap": style.cmap,
                                         "scale": style.scale}
        base.update(fields)
        return cls(**base)  # type: ignore[arg-type]


def check_map(map_: object, name: str = "map", *, single: bool = False) -> torch.Tensor:
    """A finite, non-empty 2-d ``(h, w)`` (only that when ``single``) or 3-d ``(K, h, w)`` map
    as a float tensor."""
    if not isinstance(map_, torch.Tensor):
        try:
            map_ = torch.as_tensor(np.asarray(map_, dtype=np.float32))
        except (TypeError, ValueError):
            raise InputError(f"{name}: expected a 2-d map, got a {type(map_).__name__}") from None
    if map_.ndim not in (2, 3) or map_.numel() == 0:
        raise InputError(f"{name}: expected a non-empty (h, w) map, got shape {tuple(map_.shape)}")
    if single and map_.ndim != 2:
        raise InputError(f"{name}: expected a 2-D (h, w) map, got shape {tuple(map_.shape)}")
    if map_.is_complex() or map_.dtype == torch.bool:
        raise InputError(f"{name}: expected real values, got {map_.dtype}")
    map_ = map_.detach().float()
    if not torch.isfinite(map_).all():
        raise InputError(f"{name}: the map holds NaN or infinite values")
    return map_


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(K, h, w)`` or ``(h, w)`` maps to ``size = (H, W)`` (rows, columns).

    ``align_corners=False``: cell centres map to cell centres, so a map covers the image exactly.
    Precondition: a float tensor of 2 or 3 dimensions.
    """
    maps = maps.detach()
    batch = maps if maps.ndim == 3 else maps[None]
    out = F.interpolate(batch[:, None], size=tuple(size), mode="bilinear",
                        align_corners=False)[:, 0]
    return out if maps.ndim == 3 else out[0]


def scale_maps(
    maps: torch.Tensor, scale: Scale = "minmax", reference: torch.Tensor | None = None
) -> torch.Tensor:
    """Map raw values into [0, 1] for display.

    * ``"minmax"`` (the tutorial's): each map on its own, ``(m - min m) / (max m - min m)``, so
      every map uses the full colour range, however weak its evidence;
    * ``"shared"``: one range for all, ``(m - lo) / (hi - lo)`` with ``lo, hi`` the minimum and
      maximum over ``reference`` (default: ``maps`` themselves), so a class with weaker evidence
      looks weaker;
    * ``"signed"`` (for signed maps, with a diverging colormap): 0 stays in the middle,
      ``0.5 + 0.5 m / max |m|``, so the colour of "no evidence" is the same in every map.

    A constant map becomes all zeros (the denominator is clamped at 1e-12).

    Args:
        maps: ``(K, h, w)`` or ``(h, w)``.
        scale: ``"minmax"``, ``"shared"`` or ``"signed"``.
        reference: the maps that fix the shared range (e.g. all 1000 classes of the image).
    """
    return _scaled(check_map(maps, "maps"), check_scale(scale), reference)  # type: ignore[arg-type]


def _scaled(maps: torch.Tensor, scale: Scale, reference: torch.Tensor | None) -> torch.Tensor:
    """:func:`scale_maps` for checked values: a finite float map, a scale of :data:`SCALES`."""
    batch = maps if maps.ndim == 3 else maps[None]
    if scale == "signed":
        bound = batch.abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
        out = (0.5 + 0.5 * batch / bound).clamp(0, 1)
        return out if maps.ndim == 3 else out[0]
    if scale == "minmax":
        lo = batch.amin(dim=(1, 2), keepdim=True)
        hi = batch.amax(dim=(1, 2), keepdim=True)
    else:
        ref = batch if reference is None else reference.detach()
        if ref.numel() == 0:
            raise InputError("reference: the shared range needs at least one value")
        lo, hi = ref.min(), ref.max()
    out = ((batch - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)
    return out if maps.ndim == 3 else out[0]


def peak(map_: torch.Tensor) -> tuple[int, int]:
    """``(row, column)`` of a map's maximum (the first, in row-major order, if tied)."""
    map_ = check_map(map_, single=True)
    flat = int(torch.argmax(map_))
    return divmod(flat, int(map_.shape[-1]))


def colorize(map01: torch.Tensor | np.ndarray, cmap: str = DEFAULT_CMAP) -> np.ndarray:
    """An ``(H, W)`` map in [0, 1] as ``(H, W, 3)`` uint8 RGB: ``round(255 * cmap(m)[:3])``.

    Exactly matplotlib's colours: like ``Colormap.__call__``, value ``m`` takes entry
    ``min(floor(256 m), 255)`` of the colormap's 256-colour table (values outside [0, 1] take
    the end colours). Looking colours up in that table as uint8 costs 4 bytes a pixel instead
    of matplotlib's 32-byte float RGBA.
    """
    table = lookup_table(check_colormap(cmap))
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
    return _to_size(check_map(raw_map, "raw_map"), size, check_scale(scale),  # type: ignore[arg-type]
                    reference)


def _to_size(raw_map: torch.Tensor, size: tuple[int, int], scale: Scale,
             reference: torch.Tensor | None) -> torch.Tensor:
    """:func:`map_to_size` for checked values."""
    map01 = _scaled(raw_map, scale, reference if scale == "shared" else None)
    return map01 if tuple(map01.shape[-2:]) == tuple(size) else upsample(map01, size)


def photo_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """The photo's pixels as an ``(H, W, 3)`` uint8 array: one copy of an RGB image, none of an
    array that already is one."""
    if isinstance(image, Image.Image):
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise InputError(f"image: expected an (H, W, 3) uint8 array, got {array.shape} "
                         f"{array.dtype}")
    return array


def heatmap_overlay(
    image: Image.Image | np.ndarray,
    raw_map: torch.Tensor,
    *,
    scale: Scale | None = None,
    reference: torch.Tensor | None = None,
    alpha: float | None = None,
    cmap: str | None = None,
    style: HeatmapStyle | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The whole chain: ``raw_map`` scaled, upsampled to ``image``, coloured, blended over it.

    The display options come as a checked :class:`HeatmapStyle`, or as ``scale``, ``alpha`` and
    ``cmap`` (checked here, before any work, into one).

    Args:
        image: the photo (a PIL image or an ``(H, W, 3)`` uint8 array).
        raw_map: an ``(h, w)`` map of raw scores (any size; upsampled to the photo's).
        scale: ``"minmax"`` (the map on its own) or ``"shared"`` (the range of ``reference``).
        reference: maps that fix the shared range (default: ``raw_map`` itself).
        alpha: heatmap opacity in [0, 1].
        cmap: a matplotlib colormap name.
        style: all three at once.

    Returns:
        ``(heat, blended)``: two ``(H, W, 3)`` uint8 RGB arrays at the image's size.
    """
    style = HeatmapStyle.of(style, scale=scale, alpha=alpha, cmap=cmap)
    raw_map = check_map(raw_map, "raw_map", single=True)
    photo = photo_array(image)
    map01 = _to_size(raw_map, photo.shape[:2], style.scale, reference)
    heat = colorize(map01, style.cmap)
    return heat, blend(photo, heat, style.alpha)


def overlay(
    image: Image.Image | np.ndarray,
    raw_map: torch.Tensor,
    *,
    scale: Scale | None = None,
    reference: torch.Tensor | None = None,
    alpha: float | None = None,
    cmap: str | None = None,
    style: HeatmapStyle | None = None,
) -> Image.Image:
    """:func:`heatmap_overlay`'s blended picture as a PIL image."""
    return Image.fromarray(heatmap_overlay(image, raw_map, scale=scale, reference=reference,
                                           alpha=alpha, cmap=cmap, style=style)[1])


def shared_reference(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """``[lo, hi]`` over several maps: the shared range when no larger reference is given."""
    if not maps:
        raise InputError("maps: the shared range needs at least one map")
    lo = min(float(m.min()) for m in maps)
    hi = max(float(m.max()) for m in maps)
    return torch.tensor([lo, hi])
