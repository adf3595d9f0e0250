"""The pointing game (Zhang et al., 2016/2018): does the map's maximum fall on the object?

No model is needed: the judge reads maps (2-d tensors of any resolution, or
:class:`~xai_tutorial.core.saliency.SaliencyMap` objects) and boxes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..core.errors import InputError
from ..core.heatmap import upsample
from ..core.saliency import SaliencyMap
from .deletion import saliency_values

__all__ = ["POINTING_TOLERANCE", "Box", "pointing_game", "pointing_hit"]

#: A box ``(left, top, right, bottom)`` in pixels; ``right`` and ``bottom`` are exclusive.
Box = tuple[float, float, float, float]

#: The pointing game's tolerance (Zhang et al., 2016): a hit within 15 pixels of the box counts.
POINTING_TOLERANCE = 15.0


def _distance_to_box(row: float, column: float, box: Box) -> float:
    """Euclidean distance from pixel ``(row, column)`` to ``box``, 0 inside it:
    ``hypot(dx, dy)``, ``dx = max(left - column, 0, column - (right - 1))`` (``dy`` alike)."""
    left, top, right, bottom = box
    dx = max(left - column, 0.0, column - (right - 1))
    dy = max(top - row, 0.0, row - (bottom - 1))
    return math.hypot(dx, dy)


def pointing_hit(
    saliency: torch.Tensor | SaliencyMap,
    box: Box | Sequence[Box],
    *,
    size: tuple[int, int] | None = None,
    tolerance: float = POINTING_TOLERANCE,
) -> bool:
    """Does the map's maximum fall inside ``box`` (or within ``tolerance`` pixels of it)?

    The map is upsampled bilinearly to ``size = (H, W)`` (the picture the box refers to; default:
    the map's own size); its maximum (the first, in row-major order, if tied) is the point. With
    several boxes (several instances of the class), any of them counts.
    """
    values = saliency_values(saliency)
    if size is not None and tuple(values.shape) != tuple(size):
        values = upsample(values, (int(size[0]), int(size[1])))
    boxes = [box] if len(box) == 4 and not isinstance(box[0], Sequence) else list(box)
    height, width = values.shape
    for b in boxes:
        if len(b) != 4 or not (0 <= b[0] < b[2] <= width and 0 <= b[1] < b[3] <= height):
            raise InputError(
                f"box {tuple(b)}: not a (left, top, right, bottom) box inside the {height}x{width}"
                " map; give size=(H, W) of the picture the boxes refer to"
            )
    row, column = divmod(int(torch.argmax(values)), int(width))
    return any(_distance_to_box(row, column, tuple(map(float, b))) <= tolerance for b in boxes)


def pointing_game(
    saliencies: Sequence[torch.Tensor | SaliencyMap],
    boxes: Sequence[Box | Sequence[Box]],
    *,
    size: tuple[int, int] | None = None,
    tolerance: float = POINTING_TOLERANCE,
) -> float:
    """The pointing game (Zhang et al., 2016): the hit rate of the maps' maxima.

    ``hits / (hits + misses)``, one map per box (or list of boxes, one per instance). A hit is a
    maximum within ``tolerance`` pixels (Euclidean) of the box; the standard tolerance is 15
    pixels (:data:`POINTING_TOLERANCE`), which forgives small misalignments of coarse maps.

    Args:
        saliencies: one 2-D map per scene, any resolution (upsampled to ``size``).
        boxes: ``(left, top, right, bottom)`` per scene, in the pixels of ``size``.
        size: ``(H, W)`` of the scenes; default: each map's own size.
        tolerance: pixels.
    """
    if len(saliencies) != len(boxes):
        raise InputError(f"saliencies and boxes: {len(saliencies)} maps but {len(boxes)} boxes")
    if not saliencies:
        raise InputError("saliencies: no maps given")
    if tolerance < 0:
        raise InputError(f"tolerance {tolerance}: must be 0 or more pixels")
    hits = sum(pointing_hit(s, b, size=size, tolerance=tolerance)
               for s, b in zip(saliencies, boxes, strict=True))
    return hits / len(saliencies)
