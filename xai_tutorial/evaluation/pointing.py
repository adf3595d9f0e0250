"""The pointing game (Zhang et al., 2016/2018): does the map's maximum fall on the object?

No model is needed: the judge reads maps (2-d tensors of any resolution, or
:class:`~xai_tutorial.core.saliency.SaliencyMap` objects) and boxes.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch

from ..core.errors import InputError
from ..core.heatmap import upsample
from ..core.images import MAX_PIXELS
from ..core.inputs import check_size_pair, shown
from ..core.saliency import SaliencyMap
from .deletion import saliency_values

__all__ = ["MAX_POINTING_PIXELS", "POINTING_TOLERANCE", "Box", "pointing_game", "pointing_hit"]

#: A box ``(left, top, right, bottom)`` in pixels; ``right`` and ``bottom`` are exclusive.
Box = tuple[float, float, float, float]

#: The pointing game's tolerance (Zhang et al., 2016): a hit within 15 pixels of the box counts.
POINTING_TOLERANCE = 15.0

#: Most pixels :func:`pointing_game` upsamples in all (maps x H x W when ``size`` is given):
#: 2,000 scenes of 224 x 224, a few seconds of bilinear resizing.
MAX_POINTING_PIXELS = 100_000_000


def _check_tolerance(tolerance: object) -> float:
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) or not (
        math.isfinite(float(tolerance)) and float(tolerance) >= 0
    ):
        raise InputError(f"tolerance {shown(tolerance)}: must be a finite number of pixels, "
                         "0 or more")
    return float(tolerance)


def _check_size(size: object) -> tuple[int, int] | None:
    """``None`` or ``(H, W)``: two positive whole numbers, ``H W <= MAX_PIXELS``."""
    return None if size is None else check_size_pair(size, MAX_PIXELS)


def _is_number(value: object) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def _is_box(value: object) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 4
            and all(_is_number(v) for v in value))


def _check_boxes(box: object, name: str = "box") -> list[Box]:
    """One box or a list of boxes (one per instance) as a list of float 4-tuples."""
    if isinstance(box, torch.Tensor) and box.device.type != "meta" and not (
        box.is_complex() or box.dtype == torch.bool
    ):
        box = box.detach().cpu().double().numpy()
    if isinstance(box, np.ndarray) and box.ndim in (1, 2) and box.shape[-1] == 4 and (
        box.dtype.kind in "iuf"
    ):
        box = box.tolist()
    if _is_box(box):
        return [tuple(float(v) for v in box)]  # type: ignore[union-attr, misc]
    if isinstance(box, (list, tuple)) and box and all(_is_box(b) for b in box):
        return [tuple(float(v) for v in b) for b in box]  # type: ignore[misc]
    raise InputError(f"{name} {shown(box)}: give (left, top, right, bottom), four finite "
                     "numbers, or a list of such boxes")


def _distance_to_box(row: float, column: float, box: Box) -> float:
    """Euclidean distance from pixel ``(row, column)`` to ``box``, 0 inside it:
    ``hypot(dx, dy)``, ``dx = max(left - column, 0, column - (right - 1))`` (``dy`` alike)."""
    left, top, right, bottom = box
    dx = max(left - column, 0.0, column - (right - 1))
    dy = max(top - row, 0.0, row - (bottom - 1))
    return math.hypot(dx, dy)


def _hit(saliency: object, boxes: list[Box], size: tuple[int, int] | None,
         tolerance: float) -> bool:
    """:func:`pointing_hit` of checked boxes, size and tolerance."""
    values = saliency_values(saliency)
    if size is not None and tuple(values.shape) != size:
        values = upsample(values, size)
    height, width = values.shape
    for b in boxes:
        if not (0 <= b[0] < b[2] <= width and 0 <= b[1] < b[3] <= height):
            raise InputError(
                f"box {shown(b)}: not a (left, top, right, bottom) box inside the "
                f"{height}x{width} map; give size=(H, W) of the picture the boxes refer to"
            )
    row, column = divmod(int(torch.argmax(values)), int(width))
    return any(_distance_to_box(row, column, b) <= tolerance for b in boxes)


def pointing_hit(
    saliency: torch.Tensor | SaliencyMap,
    box: Box | Sequence[Box],
    *,
    size: tuple[int, int] | None = None,
    tolerance: float = POINTING_TOLERANCE,
) -> bool:
    """Does the map's maximum fall inside ``box`` (or within ``tolerance`` pixels of it)?

    The map is upsampled bilinearly to ``size = (H, W)`` (the picture the box refers to; default:
    the map's own size; at most :data:`~xai_tutorial.core.images.MAX_PIXELS` pixels); its
    maximum (the first, in row-major order, if tied) is the point. With several boxes (several
    instances of the class), any of them counts.

    Raises:
        InputError: a bad map, box, size or tolerance (a finite number, 0 or more).
    """
    tolerance, size = _check_tolerance(tolerance), _check_size(size)
    return _hit(saliency, _check_boxes(box), size, tolerance)


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
        saliencies: a list (or tuple) of 2-D maps, one per scene, any resolution (upsampled to
            ``size``).
        boxes: a list (or tuple): ``(left, top, right, bottom)`` per scene (or a list of such
            boxes), in the pixels of ``size``.
        size: ``(H, W)`` of the scenes; default: each map's own size. All maps together are
            upsampled to at most :data:`MAX_POINTING_PIXELS` pixels.
        tolerance: pixels, a finite number, 0 or more.

    Raises:
        InputError: any bad argument, named.
    """
    for name, value, what in (("saliencies", saliencies, "2-d maps"), ("boxes", boxes, "boxes")):
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{name}: expected a list (or tuple) of {what}, one per scene, got "
                             f"a {type(value).__name__}")
    if len(saliencies) != len(boxes):
        raise InputError(f"saliencies and boxes: {len(saliencies)} maps but {len(boxes)} boxes")
    if not saliencies:
        raise InputError("saliencies: no maps given")
    tolerance, size = _check_tolerance(tolerance), _check_size(size)
    if size is not None and len(saliencies) * size[0] * size[1] > MAX_POINTING_PIXELS:
        raise InputError(
            f"{len(saliencies):,} maps at size {size}: more than the budget of "
            f"{MAX_POINTING_PIXELS:,} upsampled pixels; judge fewer maps at a time"
        )
    checked = [_check_boxes(b, f"boxes[{i}]") for i, b in enumerate(boxes)]
    hits = sum(_hit(s, b, size, tolerance) for s, b in zip(saliencies, checked, strict=True))
    return hits / len(saliencies)
