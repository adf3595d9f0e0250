"""Deletion and insertion (Petsiuk et al., 2018): does removing the "important" pixels hurt?

Both judges take the map to judge as ``saliency``: a 2-d tensor (or array) of any resolution, a
:class:`~xai_tutorial.core.saliency.SaliencyMap`, or the name of a registered saliency method
(then computed here by :func:`~xai_tutorial.core.saliency.saliency_map`, with its default
options), and share one signature, ``(classifier, inputs, saliency, class_index, *, steps,
batch_size, substrate)``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Literal, Union

import numpy as np
import torch

from ..classification import Classifier
from ..core.errors import InputError
from ..core.heatmap import check_map, upsample
from ..core.hooks import eval_mode, input_errors
from ..core.images import ImageSource
from ..core.inputs import check_whole, shown
from ..core.saliency import SaliencyMap, model_input, saliency_map
from .methods import BATCH_PIXELS

__all__ = [
    "MAX_STEPS",
    "Curve",
    "Saliency",
    "blurred",
    "deletion_auc",
    "deletion_curve",
    "insertion_auc",
    "insertion_curve",
    "pixel_order",
    "saliency_values",
]

#: What a judge accepts as the map to judge: a 2-d map, a :class:`SaliencyMap`, a method's name.
Saliency = Union[torch.Tensor, np.ndarray, SaliencyMap, str]  # noqa: UP007

#: Most steps a curve may take (RISE's scale: 224 steps at 224 x 224); never more than the
#: input's pixels either, since a step then replaces no new pixel.
MAX_STEPS = 1000


@dataclass(frozen=True)
class Curve:
    """A deletion or insertion curve.

    Attributes:
        kind: ``"deletion"`` or ``"insertion"``.
        fractions: ``(S + 1,)`` fraction of the pixels replaced, ``0, 1/S, ..., 1``.
        probabilities: ``(S + 1,)`` softmax probability of the class at each step.
        auc: the area under the curve by the trapezoid rule, in [0, 1].
        class_index: the class followed.
    """

    kind: str
    fractions: np.ndarray
    probabilities: np.ndarray
    auc: float
    class_index: int


def blurred(x: torch.Tensor, kernel_size: int = 11, sigma: float = 5.0) -> torch.Tensor:
    """The RISE paper's substrate: a Gaussian blur (11 x 11, sigma 5) of the input tensor.

    ``G * x`` with ``G[i, j] ~ exp(-(i^2 + j^2) / (2 sigma^2))`` normalized to sum 1. The border
    is reflected; on an input smaller than the kernel, the kernel shrinks to fit.
    """
    from torchvision.transforms.functional import gaussian_blur

    size = min(kernel_size, 2 * min(int(x.shape[-2]), int(x.shape[-1])) - 1)
    size -= 1 - size % 2  # odd
    return gaussian_blur(x, [size, size], [sigma, sigma])


def saliency_values(saliency: object) -> torch.Tensor:
    """A given map as a finite, non-empty 2-d float32 CPU tensor (a :class:`SaliencyMap`: its
    ``values``).

    Raises:
        InputError: not 2-d, empty, or holding NaN or infinite values.
    """
    if isinstance(saliency, SaliencyMap):
        saliency = saliency.values
    if isinstance(saliency, torch.Tensor) and saliency.device.type == "meta":
        raise InputError("saliency: expected a map with values, got one on the 'meta' device")
    return check_map(saliency, "saliency", single=True).cpu()


def _resolved(classifier: Classifier, x: torch.Tensor, saliency: object, index: int
              ) -> torch.Tensor:
    """The map a judge ranks: computed for a method name, checked against ``x`` and ``index``
    for a :class:`SaliencyMap`, checked for a tensor."""
    if isinstance(saliency, str):
        saliency = saliency_map(classifier, x, index, method=saliency)
    if isinstance(saliency, SaliencyMap):
        size = (int(x.shape[2]), int(x.shape[3]))
        if saliency.input_size != size or saliency.class_index != index:
            raise InputError(
                f"saliency: a {saliency.method!r} map of class {saliency.class_index} for an "
                f"input of {saliency.input_size}, judged for class {index} on {size}; pass "
                "saliency.values to judge it anyway"
            )
    return saliency_values(saliency)


def pixel_order(saliency: torch.Tensor | SaliencyMap, size: tuple[int, int]) -> torch.Tensor:
    """Pixel indices (row-major, at ``size = (H, W)``) from the most to the least salient.

    The map is first upsampled bilinearly to ``size``; ties keep row-major order (a stable
    sort), so a constant map removes pixels line by line from the top left.
    """
    values = saliency_values(saliency)
    full = values if tuple(values.shape) == tuple(size) else upsample(values, tuple(size))
    return torch.sort(full.flatten(), descending=True, stable=True).indices


def _count(name: str, value: object) -> int:
    return check_whole(name, value, "must be a whole number, at least 1")


def _steps(steps: int, height: int, width: int) -> int:
    """``steps``, at most ``min(H W, MAX_STEPS)``."""
    most = min(height * width, MAX_STEPS)
    if steps > most:
        why = (f"more steps than the input's {height * width} pixels replace no new pixel"
               if most == height * width else f"{MAX_STEPS} is already RISE's scale")
        raise InputError(f"steps {steps:,}: at most {most} for a {height}x{width} input ({why})")
    return steps


def _substrate(substrate: object, x: torch.Tensor) -> torch.Tensor:
    """What removed pixels become, as a float32 tensor of ``x``'s shape (default: ``blurred``).

    A Python or numpy number or array, or a tensor, broadcastable to ``x``, finite.
    """
    if substrate is None:
        return blurred(x)
    if isinstance(substrate, bool) or not isinstance(
        substrate, (torch.Tensor, np.ndarray, numbers.Real, list, tuple)
    ):
        raise InputError(f"substrate {shown(substrate)}: give a number, an array or a tensor "
                         f"broadcastable to the input {tuple(x.shape)}")
    if isinstance(substrate, torch.Tensor) and substrate.device.type == "meta":
        raise InputError("substrate: expected a tensor with values, got one on the 'meta' device")
    shape = tuple(getattr(substrate, "shape", ()))
    if not isinstance(substrate, (list, tuple)):
        _broadcastable(shape, x)
    try:
        if isinstance(substrate, torch.Tensor):
            if substrate.is_complex() or substrate.dtype == torch.bool:
                raise TypeError(substrate.dtype)
            values = substrate.detach().to("cpu", torch.float32)
        else:
            values = torch.as_tensor(np.asarray(substrate, dtype=np.float32))
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"substrate {shown(substrate)}: expected real numbers") from None
    _broadcastable(tuple(values.shape), x)
    if not bool(torch.isfinite(values).all()):
        raise InputError("substrate: holds NaN or infinite values")
    return values.to(x.device).expand_as(x)


def _broadcastable(shape: tuple[int, ...], x: torch.Tensor) -> None:
    try:
        fits = torch.broadcast_shapes(shape, tuple(x.shape)) == tuple(x.shape)
    except RuntimeError:
        fits = False
    if not fits:
        raise InputError(f"substrate of shape {shape}: not broadcastable to the input "
                         f"{tuple(x.shape)}")


def _curve(
    kind: Literal["deletion", "insertion"],
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    saliency: Saliency,
    class_index: object,
    steps: int,
    batch_size: int,
    substrate: torch.Tensor | np.ndarray | float | None,
) -> Curve:
    """The curve of :func:`deletion_curve` / :func:`insertion_curve` (they document it)."""
    steps, batch_size = _count("steps", steps), _count("batch_size", batch_size)
    index = classifier.class_index(class_index)
    x = model_input(classifier, inputs)
    height, width = int(x.shape[2]), int(x.shape[3])
    steps = _steps(steps, height, width)
    base = _substrate(substrate, x)
    # at most BATCH_PIXELS pixels per forward pass, whatever batch_size asks
    batch_size = min(batch_size, max(1, BATCH_PIXELS // (height * width)))
    order = pixel_order(_resolved(classifier, x, saliency, index), (height, width))
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel())
    rank = rank.view(1, 1, height, width)
    # deletion: start from x, replace the most salient pixels by the substrate first;
    # insertion: start from the substrate, put the most salient pixels of x back first.
    start, end = (x, base) if kind == "deletion" else (base, x)
    counts = [round(k * height * width / steps) for k in range(steps + 1)]
    probabilities: list[torch.Tensor] = []
    with eval_mode(classifier.model) as model, torch.no_grad(), input_errors(x, model):
        for first in range(0, steps + 1, batch_size):
            chunk = torch.tensor(counts[first : first + batch_size]).view(-1, 1, 1, 1)
            replaced = rank < chunk  # (B, 1, H, W): the first n pixels of the order
            batch = torch.where(replaced, end, start)
            probabilities.append(model(batch).softmax(1)[:, index])
    p = torch.cat(probabilities).double()
    fractions = torch.tensor(counts, dtype=torch.float64) / (height * width)
    auc = float(torch.trapezoid(p, fractions))
    return Curve(kind, fractions.numpy(), p.numpy(), min(max(auc, 0.0), 1.0), index)


def deletion_curve(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    saliency: Saliency,
    class_index: object,
    *,
    steps: int = 16,
    batch_size: int = 17,
    substrate: torch.Tensor | np.ndarray | float | None = None,
) -> Curve:
    """The deletion curve (Petsiuk et al., 2018): remove the most salient pixels first.

    With ``N = H W`` input pixels ordered by the saliency (upsampled bilinearly to the input;
    :func:`pixel_order`), step ``k = 0 .. S`` replaces the first ``n_k = round(k N / S)`` of
    them by the substrate (default: the input blurred as in RISE, :func:`blurred`) and records
    the class probability ``p_k = softmax(f(x_k))_c``, in eval mode. A good map makes it fall
    fast. The ``S + 1`` images go through the network in batches of ``batch_size``, and never
    more than :data:`~xai_tutorial.evaluation.BATCH_PIXELS` pixels at once (two images of
    224 x 336), so memory stays bounded however large the picture.

    Args:
        classifier: the model and its preprocessing.
        inputs: an image or a ``(1, 3, H, W)`` tensor (the whole picture, as the maps use).
        saliency: a 2-D map of any resolution (higher means more important), a
            :class:`~xai_tutorial.core.saliency.SaliencyMap` of this input and class, or the
            name of a registered method (computed here with its default options).
        class_index: the class whose probability is followed (an index or a class name).
        steps: ``S``; RISE removes 224 pixels per step (``S = 224`` at 224 x 224). At most
            ``min(H W, MAX_STEPS)`` (:data:`MAX_STEPS` = 1000).
        batch_size: images per forward pass (capped by the pixel budget above).
        substrate: what removed pixels become: a number, an array or a tensor broadcastable to
            the input (finite; used as float32); default the blurred input.
    """
    return _curve("deletion", classifier, inputs, saliency, class_index, steps, batch_size,
                  substrate)


def insertion_curve(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    saliency: Saliency,
    class_index: object,
    *,
    steps: int = 16,
    batch_size: int = 17,
    substrate: torch.Tensor | np.ndarray | float | None = None,
) -> Curve:
    """The insertion curve (Petsiuk et al., 2018): start from the blurred picture and put the
    most salient pixels back first; a good map makes the probability rise fast.

    Same arguments, steps, order and batching as :func:`deletion_curve`, run the other way.
    """
    return _curve("insertion", classifier, inputs, saliency, class_index, steps, batch_size,
                  substrate)


def deletion_auc(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    saliency: Saliency,
    class_index: object,
    *,
    steps: int = 16,
    batch_size: int = 17,
    substrate: torch.Tensor | np.ndarray | float | None = None,
) -> float:
    """Area under the deletion curve, ``sum_k (p_k + p_{k+1}) / 2 * (n_{k+1} - n_k) / N``.

    In [0, 1]; lower is better (see :func:`deletion_curve`, which takes the same arguments).
    """
    return deletion_curve(classifier, inputs, saliency, class_index, steps=steps,
                          batch_size=batch_size, substrate=substrate).auc


def insertion_auc(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    saliency: Saliency,
    class_index: object,
    *,
    steps: int = 16,
    batch_size: int = 17,
    substrate: torch.Tensor | np.ndarray | float | None = None,
) -> float:
    """Area under the insertion curve (trapezoid rule, in [0, 1]); higher is better."""
    return insertion_curve(classifier, inputs, saliency, class_index, steps=steps,
                           batch_size=batch_size, substrate=substrate).auc
