"""Lesson 04: can you trust a saliency map? Methods to compare, and four ways to judge them.

A *saliency map* assigns each location of the input a score for how much it matters to one class.
This module gives several, all with one signature, ``method(classifier, inputs, class_index)``
(captum's style: one consistent call for a family of methods):

* :func:`cam`: the Class Activation Map of lesson 02 (Zhou et al., 2016), raw, ``(h, w)``;
* :func:`grad_cam`: Grad-CAM (Selvaraju et al., 2017) from captum's ``LayerGradCam``, at the
  pooling input by default (where it equals ``ReLU(CAM) / (h * w)``) or at any named layer;
* :func:`occlusion`: the model-agnostic baseline (Zeiler & Fergus, 2014) from captum's
  ``Occlusion``: slide a grey patch, watch the class probability drop;
* :func:`edge_map`, :func:`random_map`, :func:`center_map`: "explanations" that ignore the model,
  kept as controls a good test must tell apart from the real thing.

And the judges, each with one signature per family:

* :func:`deletion_curve` / :func:`deletion_auc` and :func:`insertion_curve` /
  :func:`insertion_auc` (Petsiuk et al., 2018): ``(classifier, inputs, saliency, class_index)``;
* :func:`randomization_check` (Adebayo et al., 2018): ``(classifier, inputs, class_index)``;
* :func:`pointing_game` (Zhang et al., 2016/2018): ``(saliencies, boxes)``, no model needed.

Inputs are what lesson 02 uses: an image (anything :func:`~xai_tutorial.load_image` takes) is
preprocessed *without* cropping (``classifier.preprocess(image, crop=False)``), so every map and
every metric sees the same whole picture; a preprocessed ``(1, 3, H, W)`` tensor is used as is.

This is a method module: it imports neither matplotlib nor ipywidgets (figures live in
:mod:`xai_tutorial.evaluation_view`).
"""

from __future__ import annotations

import copy
import math
import random as _random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import nn

from .cam import capture, class_activation_maps, find_cam_layers, upsample
from .classification import Classifier
from .core.errors import InputError
from .core.images import ImageSource, load_image

#: A saliency method: ``method(classifier, inputs, class_index) -> (h, w)`` map.
SaliencyMethod = Callable[[Classifier, "ImageSource | torch.Tensor", int], torch.Tensor]

#: A box ``(left, top, right, bottom)`` in pixels; ``right`` and ``bottom`` are exclusive.
Box = tuple[float, float, float, float]

#: The pointing game's tolerance (Zhang et al., 2016): a hit within 15 pixels of the box counts.
POINTING_TOLERANCE = 15.0


# ----------------------------------------------------------------------------------------------
# Inputs


def model_input(classifier: Classifier, inputs: ImageSource | torch.Tensor) -> torch.Tensor:
    """The ``(1, 3, H, W)`` tensor every method and metric here works on.

    An image is preprocessed without cropping (shorter side = the network's input size), as
    lesson 02's CAM does; a tensor must already be ``(1, 3, H, W)``.
    """
    if isinstance(inputs, torch.Tensor):
        if inputs.ndim != 4 or inputs.shape[0] != 1:
            raise InputError(f"inputs: expected a (1, 3, H, W) tensor, got {tuple(inputs.shape)}")
        return inputs
    return classifier.preprocess(load_image(inputs), crop=False)


def _batch_input(classifier: Classifier, inputs: ImageSource | torch.Tensor) -> torch.Tensor:
    if isinstance(inputs, torch.Tensor) and inputs.ndim == 4:
        return inputs
    return model_input(classifier, inputs)


def _class_list(class_index: int | Sequence[int], n: int, outputs: int) -> list[int]:
    classes = [int(class_index)] * n if isinstance(class_index, int) else [int(c) for c in
                                                                          class_index]
    if len(classes) != n:
        raise InputError(f"class_index: {len(classes)} classes for {n} inputs")
    for c in classes:
        if not 0 <= c < outputs:
            raise InputError(f"class_index {c}: out of range, the model has {outputs} classes")
    return classes


def _outputs(classifier: Classifier) -> int:
    return len(classifier.categories)


# ----------------------------------------------------------------------------------------------
# Saliency methods: method(classifier, inputs, class_index) -> (h, w)


def cam(
    classifier: Classifier, inputs: ImageSource | torch.Tensor, class_index: int
) -> torch.Tensor:
    """The raw Class Activation Map ``CAM_c = sum_k w_ck F_k`` (lesson 02), shape ``(h, w)``.

    ``F`` is the input of the global-average-pooling layer and ``w_c`` the classifier's row for
    class ``c``, so ``mean(CAM_c) + b_c = logit_c`` (Zhou et al., 2016).
    """
    _class_list(class_index, 1, _outputs(classifier))
    return class_activation_maps(classifier, model_input(classifier, inputs), [class_index]).maps[0]


def _layer(model: nn.Module, name: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n]
        hint = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise InputError(f"layer {name!r}: {type(model).__name__} has no such layer "
                         f"(it has {hint})") from None


def grad_cam(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: int | Sequence[int],
    layer: str | None = None,
) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al., 2017) of one class, raw (before any upsampling), with ReLU.

    For activations ``A`` (``K x h x w``) of a layer and the class score ``y_c`` (the logit),

        alpha_k = mean_{i,j} dy_c / dA_k[i, j],     Grad-CAM_c = ReLU(sum_k alpha_k A_k).

    Computed by captum's ``LayerGradCam`` (its hooks are removed when it returns). With
    ``layer=None`` the activations are the *input* of the global-average-pooling layer, the
    tensor CAM uses. There, for a GAP + linear network, ``dy_c / dA_k[i, j] = w_ck / (h w)``, so

        Grad-CAM_c = ReLU(CAM_c) / (h w)

    exactly: Grad-CAM generalizes CAM. At an earlier layer (``layer="_blocks.10"``: the *output*
    of that module) the map is finer but mixes in less class-specific features.

    Args:
        classifier: the model and its preprocessing.
        inputs: an image, a ``(1, 3, H, W)`` tensor, or a batch ``(N, 3, H, W)``.
        class_index: the class (or one class per input of a batch).
        layer: a module name of ``classifier.model``; ``None`` for the pooling input.

    Returns:
        ``(h, w)`` for one input, ``(N, h, w)`` for a batch of ``N > 1``; never negative.
    """
    from captum.attr import LayerGradCam

    model = classifier.model
    x = _batch_input(classifier, inputs)
    classes = _class_list(class_index, x.shape[0], _outputs(classifier))
    if layer is None:
        pooling = classifier.pooling_layer or find_cam_layers(model)[0]
        module, to_input = _layer(model, pooling), True
    else:
        module, to_input = _layer(model, layer), False
    training = [m for m in model.modules() if m.training]
    try:
        model.eval()
        with torch.enable_grad():
            maps = LayerGradCam(model, module).attribute(
                x, target=classes, attribute_to_layer_input=to_input, relu_attributions=True
            )
    finally:
        for m in training:
            m.training = True
    maps = maps.detach()[:, 0]
    return maps[0] if maps.shape[0] == 1 else maps


def occlusion(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: int,
    *,
    window: int = 56,
    stride: int = 28,
    batch_size: int = 32,
) -> torch.Tensor:
    """Occlusion sensitivity (Zeiler & Fergus, 2014), from captum's ``Occlusion``; ``(H, W)``.

    A ``window x window`` patch of the mean colour (0 after normalization) slides over the input
    with step ``stride``; each pixel gets the average, over the patches that cover it, of

        p_c(x) - p_c(x with the patch occluded),

    with ``p_c`` the softmax probability of the class. The method is *model-agnostic*: it only
    calls the network, so it works on any classifier, but it costs one forward pass per patch
    position (:func:`occlusion_passes`) where CAM needs one in all. Pixels that no window covers
    (a border when ``(H - window)`` is not a multiple of ``stride``) get 0.

    Returns:
        ``(H, W)`` at the model input's resolution.
    """
    from captum.attr import Occlusion

    for name, value in (("window", window), ("stride", stride), ("batch_size", batch_size)):
        if int(value) < 1:
            raise InputError(f"{name} {value}: must be a positive number of pixels")
    model = classifier.model
    x = model_input(classifier, inputs)
    _class_list(class_index, 1, _outputs(classifier))
    if window > min(x.shape[2:]):
        raise InputError(f"window {window}: larger than the input {tuple(x.shape[2:])}")

    def probabilities(batch: torch.Tensor) -> torch.Tensor:
        return model(batch).softmax(1)

    with torch.no_grad():
        attribution = Occlusion(probabilities).attribute(
            x,
            sliding_window_shapes=(x.shape[1], window, window),
            strides=(x.shape[1], stride, stride),
            baselines=0.0,
            target=int(class_index),
            perturbations_per_eval=batch_size,
        )
    return attribution[0].mean(0)  # the window spans every channel: all channels agree


def occlusion_passes(size: tuple[int, int], window: int = 56, stride: int = 28) -> int:
    """Images :func:`occlusion` runs through the network for an input of ``size = (H, W)``.

    One per window position, ``(floor((H - window) / stride) + 1) * (same for W)``, plus the
    unoccluded input.
    """
    rows = (size[0] - window) // stride + 1
    columns = (size[1] - window) // stride + 1
    return rows * columns + 1


def edge_map(
    classifier: Classifier, inputs: ImageSource | torch.Tensor, class_index: int
) -> torch.Tensor:
    """An "explanation" that ignores the model: the Sobel edge strength of the input, ``(H, W)``.

    It often *looks* like a saliency map (outlines of the objects), which is exactly why it is a
    useful control: it cannot pass the randomization check, because it never reads a weight.
    """
    from skimage.filters import sobel

    x = model_input(classifier, inputs)
    _class_list(class_index, 1, _outputs(classifier))
    grey = x[0].mean(0).detach().cpu().numpy().astype(np.float64)
    return torch.from_numpy(sobel(grey)).float()


def random_map(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: int,
    *,
    size: tuple[int, int] | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Uniform noise, seeded: the chance baseline every metric should beat.

    Args:
        size: ``(h, w)`` of the noise grid; ``None`` for the input's own resolution. Use CAM's
            grid (e.g. ``(7, 11)``) for a baseline with the same coarseness as CAM.
        seed: the noise's seed (the map depends on nothing else).
    """
    x = model_input(classifier, inputs)
    _class_list(class_index, 1, _outputs(classifier))
    shape = tuple(size) if size is not None else tuple(x.shape[2:])
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator)


def center_map(
    classifier: Classifier, inputs: ImageSource | torch.Tensor, class_index: int
) -> torch.Tensor:
    """The pointing game's *center baseline* (Zhang et al.): always points at the middle.

    A Gaussian bump at the centre of the input, ``(H, W)``; it knows neither model nor image.
    """
    x = model_input(classifier, inputs)
    _class_list(class_index, 1, _outputs(classifier))
    return _center_bump(int(x.shape[2]), int(x.shape[3]))


def _center_bump(height: int, width: int) -> torch.Tensor:
    rows = torch.arange(height, dtype=torch.float32) - (height - 1) / 2
    columns = torch.arange(width, dtype=torch.float32) - (width - 1) / 2
    sigma = max(height, width) / 4
    return torch.exp(-(rows[:, None] ** 2 + columns[None, :] ** 2) / (2 * sigma**2))


# ----------------------------------------------------------------------------------------------
# Deletion and insertion (Petsiuk et al., 2018)


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

    The border is reflected; on an input smaller than the kernel, the kernel shrinks to fit.
    """
    from torchvision.transforms.functional import gaussian_blur

    size = min(kernel_size, 2 * min(int(x.shape[-2]), int(x.shape[-1])) - 1)
    size -= 1 - size % 2  # odd
    return gaussian_blur(x, [size, size], [sigma, sigma])


def _check_saliency(saliency: torch.Tensor) -> torch.Tensor:
    if not isinstance(saliency, torch.Tensor):
        saliency = torch.as_tensor(np.asarray(saliency))
    if saliency.ndim != 2 or saliency.numel() == 0:
        raise InputError(f"saliency: expected a 2-D (h, w) map, got shape {tuple(saliency.shape)}")
    saliency = saliency.detach().float().cpu()
    if not torch.isfinite(saliency).all():
        raise InputError("saliency: the map holds NaN or infinite values")
    return saliency


def pixel_order(saliency: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Pixel indices (row-major, at ``size = (H, W)``) from the most to the least salient.

    The map is first upsampled bilinearly to ``size``; ties keep row-major order (a stable
    sort), so a constant map removes pixels line by line from the top left.
    """
    saliency = _check_saliency(saliency)
    full = saliency if tuple(saliency.shape) == tuple(size) else upsample(saliency, tuple(size))
    return torch.sort(full.flatten(), descending=True, stable=True).indices


def _curve(
    kind: Literal["deletion", "insertion"],
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    saliency: torch.Tensor,
    class_index: int,
    steps: int,
    batch_size: int,
    substrate: torch.Tensor | None,
) -> Curve:
    if int(steps) < 1:
        raise InputError(f"steps {steps}: must be at least 1")
    if int(batch_size) < 1:
        raise InputError(f"batch_size {batch_size}: must be at least 1")
    x = model_input(classifier, inputs)
    _class_list(class_index, 1, _outputs(classifier))
    height, width = int(x.shape[2]), int(x.shape[3])
    order = pixel_order(saliency, (height, width))
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel())
    rank = rank.view(1, 1, height, width)
    base = blurred(x) if substrate is None else substrate.to(x.dtype).expand_as(x)
    # deletion: start from x, replace the most salient pixels by the substrate first;
    # insertion: start from the substrate, put the most salient pixels of x back first.
    start, end = (x, base) if kind == "deletion" else (base, x)
    counts = [round(k * height * width / steps) for k in range(steps + 1)]
    model = classifier.model
    probabilities: list[torch.Tensor] = []
    training = [m for m in model.modules() if m.training]
    try:
        model.eval()
        with torch.no_grad():
            for first in range(0, steps + 1, batch_size):
                chunk = torch.tensor(counts[first : first + batch_size]).view(-1, 1, 1, 1)
                replaced = rank < chunk  # (B, 1, H, W): the first n pixels of the order
                batch = torch.where(replaced, end, start)
                probabilities.append(model(batch).softmax(1)[:, class_index])
    finally:
        for m in training:
            m.training = True
    p = torch.cat(probabilities).double()
    fractions = torch.tensor(counts, dtype=torch.float64) / (height * width)
    auc = float(torch.trapezoid(p, fractions))
    return Curve(kind, fractions.numpy(), p.numpy(), min(max(auc, 0.0), 1.0), int(class_index))


def deletion_curve(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    saliency: torch.Tensor,
    class_index: int,
    *,
    steps: int = 16,
    batch_size: int = 17,
    substrate: torch.Tensor | None = None,
) -> Curve:
    """The deletion curve (Petsiuk et al., 2018): remove the most salient pixels first.

    With ``N = H W`` input pixels ordered by the saliency (upsampled bilinearly to the input;
    :func:`pixel_order`), step ``k = 0 .. S`` replaces the first ``n_k = round(k N / S)`` of
    them by the substrate (default: the input blurred as in RISE, :func:`blurred`) and records
    the class probability ``p_k = softmax(f(x_k))_c``. A good map makes it fall fast. The
    ``S + 1`` images go through the network in batches of ``batch_size``.

    Args:
        classifier: the model and its preprocessing.
        inputs: an image or a ``(1, 3, H, W)`` tensor (the whole picture, as the maps use).
        saliency: a 2-D map of any resolution; higher means more important.
        class_index: the class whose probability is followed.
        steps: ``S``; RISE removes 224 pixels per step (``S = 224`` at 224 x 224).
        batch_size: images per forward pass.
        substrate: what removed pixels become (a tensor broadcastable to the input).
    """
    return _curve("deletion", classifier, inputs, saliency, class_index, steps, batch_size,
                  substrate)


def insertion_curve(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    saliency: torch.Tensor,
    class_index: int,
    *,
    steps: int = 16,
    batch_size: int = 17,
    substrate: torch.Tensor | None = None,
) -> Curve:
    """The insertion curve (Petsiuk et al., 2018): start from the blurred picture and put the
    most salient pixels back first; a good map makes the probability rise fast.

    Same steps, order and batching as :func:`deletion_curve`, run the other way.
    """
    return _curve("insertion", classifier, inputs, saliency, class_index, steps, batch_size,
                  substrate)


def deletion_auc(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    saliency: torch.Tensor,
    class_index: int,
    *,
    steps: int = 16,
    batch_size: int = 17,
    substrate: torch.Tensor | None = None,
) -> float:
    """Area under the deletion curve, ``sum_k (p_k + p_{k+1}) / 2 * (n_{k+1} - n_k) / N``.

    In [0, 1]; lower is better (see :func:`deletion_curve`).
    """
    return deletion_curve(classifier, inputs, saliency, class_index, steps=steps,
                          batch_size=batch_size, substrate=substrate).auc


def insertion_auc(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    saliency: torch.Tensor,
    class_index: int,
    *,
    steps: int = 16,
    batch_size: int = 17,
    substrate: torch.Tensor | None = None,
) -> float:
    """Area under the insertion curve (trapezoid rule, in [0, 1]); higher is better."""
    return insertion_curve(classifier, inputs, saliency, class_index, steps=steps,
                           batch_size=batch_size, substrate=substrate).auc


# ----------------------------------------------------------------------------------------------
# Cascading model-parameter randomization (Adebayo et al., 2018)


class RandomizationStep(NamedTuple):
    """One step of the cascade: the block just re-initialized (with all blocks above it) and the
    Spearman rank correlation of the new map with the original one.

    ``rho`` is ``None`` when either map is constant: a rank correlation is then undefined (it
    would be NaN), and a constant map is reported as such.
    """

    block: str
    rho: float | None

    @property
    def constant(self) -> bool:
        return self.rho is None


def _cascade_groups(model: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """(block name, modules it covers), bottom first; see :func:`cascade_blocks`."""

    def has_weights(module: nn.Module) -> bool:
        return any(isinstance(m, (nn.Conv2d, nn.Linear)) for m in module.modules())

    groups: list[tuple[str, list[nn.Module]]] = []
    for name, module in model.named_children():
        children = list(module.named_children())
        opened = (isinstance(module, (nn.ModuleList, nn.Sequential)) and children
                  and not any(isinstance(c, (nn.Conv2d, nn.Linear)) for _, c in children))
        parts = [(f"{name}.{n}", m) for n, m in children] if opened else [(name, module)]
        for part, sub in parts:
            if has_weights(sub):
                groups.append((part, [sub]))
            elif groups and any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                                for m in sub.modules()):
                groups[-1][1].append(sub)  # a batch norm goes with the convolution before it
    return groups


def cascade_blocks(model: nn.Module) -> list[str]:
    """The blocks :func:`randomization_check` re-initializes, from the top (the output) down.

    The model's top-level modules in definition order, with a ``ModuleList``/``Sequential`` of
    blocks opened one level (EfficientNet's ``_blocks.0 .. _blocks.15``, ResNet's
    ``layer1.0 ...``); modules without a convolution or linear weight are skipped, and a
    top-level batch-norm layer belongs to the block before it (the convolution it normalizes).
    For EfficientNet-Lite0: ``_fc``, ``_conv_head`` (with ``_bn1``), ``_blocks.15``, ...,
    ``_blocks.0``, ``_conv_stem`` (with ``_bn0``).
    """
    return [name for name, _ in _cascade_groups(model)][::-1]


def _reinitialize(modules: Sequence[nn.Module], batch_norm: str) -> None:
    for m in (m for module in modules for m in module.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.reset_parameters()
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and batch_norm == "reset":
            m.reset_parameters()  # weight 1, bias 0, running mean 0, running variance 1


def _is_constant(values: np.ndarray) -> bool:
    """All values equal up to float32 rounding, relative to the map's own magnitude.

    The test is relative on purpose: a map whose values are tiny (a randomized network whose
    activations have shrunk) still ranks its locations, and is not called constant.
    """
    spread = float(values.max() - values.min())
    return spread <= 1e-6 * float(np.abs(values).max())


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """Spearman's rho between two maps of the same shape, or ``None`` if either is constant.

    ``rho`` is Pearson's correlation of the ranks (ties get their mean rank), from
    ``scipy.stats.spearmanr``.
    """
    from scipy.stats import spearmanr

    if tuple(a.shape) != tuple(b.shape):
        raise InputError(f"maps of shapes {tuple(a.shape)} and {tuple(b.shape)}: must match")
    x = a.detach().double().flatten().numpy()
    y = b.detach().double().flatten().numpy()
    if _is_constant(x) or _is_constant(y):
        return None
    rho = float(spearmanr(x, y).statistic)
    return None if math.isnan(rho) else rho


def randomization_check(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: int,
    *,
    method: SaliencyMethod = cam,
    blocks: Sequence[str] | None = None,
    batch_norm: Literal["keep", "reset"] = "keep",
    absolute: bool = False,
    seed: int = 0,
) -> list[RandomizationStep]:
    """Cascading model-parameter randomization (Adebayo et al., 2018).

    On a deep copy of the model (the caller's model is never touched), re-initialize the blocks
    one by one from the top (:func:`cascade_blocks`: ``_fc`` first), each step keeping the ones
    already randomized, and after each step compare the method's new map with the original by
    Spearman's rank correlation ``rho``. A map that explains the *model* must change as the
    weights it depends on are destroyed, so ``rho`` should fall; one that does not (an edge
    detector) fails the check.

    Batch norm: ``batch_norm="keep"`` (default) re-initializes only convolution and linear weights
    (PyTorch's default initializers), keeping every batch-norm layer's learned scale, shift and
    running statistics; ``"reset"`` also resets those (scale 1, shift 0, mean 0, variance 1).
    Kept statistics still normalize each channel the way the trained network did, which keeps
    much of the map's structure; with everything reset, the activations of a deep random network
    shrink at every layer, and the map's values with them. A map that is constant (equal values
    up to float rounding, relative to its own size) is reported as ``rho = None``.

    Args:
        classifier: the trained model (not modified).
        inputs: an image or a ``(1, 3, H, W)`` tensor.
        class_index: the class explained.
        method: any saliency method with this module's signature (default :func:`cam`).
        blocks: block names, top first (default :func:`cascade_blocks`).
        batch_norm: ``"keep"`` or ``"reset"`` (see above).
        absolute: compare ``|map|`` instead of the map, as Adebayo et al. also report.
        seed: seeds the re-initialization (the global random state is left as it was).

    Returns:
        ``[(block, rho), ...]`` as :class:`RandomizationStep`, in cascade order; ``rho`` is a
        finite number, or ``None`` when a map is constant. Never NaN.
    """
    if batch_norm not in ("keep", "reset"):
        raise InputError(f"batch_norm {batch_norm!r}: choose 'keep' or 'reset'")
    x = model_input(classifier, inputs)
    if blocks is None:
        names = cascade_blocks(classifier.model)
    else:
        names = list(blocks)
        for name in names:
            _layer(classifier.model, name)

    def prepared(map_: torch.Tensor) -> torch.Tensor:
        map_ = map_.detach().float()
        return map_.abs() if absolute else map_

    original = prepared(method(classifier, x, class_index))
    randomized = copy.copy(classifier)
    randomized.model = copy.deepcopy(classifier.model).eval()
    groups = dict(_cascade_groups(randomized.model))
    steps: list[RandomizationStep] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in names:
            with torch.no_grad():
                _reinitialize(groups.get(name) or [randomized.model.get_submodule(name)],
                              batch_norm)
            new = prepared(method(randomized, x, class_index))
            if new.shape != original.shape:
                new = upsample(new, tuple(original.shape))
            steps.append(RandomizationStep(name, rank_correlation(original, new)))
    return steps


# ----------------------------------------------------------------------------------------------
# The pointing game (Zhang et al., 2016)


def _distance_to_box(row: float, column: float, box: Box) -> float:
    left, top, right, bottom = box
    dx = max(left - column, 0.0, column - (right - 1))
    dy = max(top - row, 0.0, row - (bottom - 1))
    return math.hypot(dx, dy)


def pointing_hit(
    saliency: torch.Tensor,
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
    saliency = _check_saliency(saliency)
    if size is not None and tuple(saliency.shape) != tuple(size):
        saliency = upsample(saliency, (int(size[0]), int(size[1])))
    boxes = [box] if len(box) == 4 and not isinstance(box[0], Sequence) else list(box)
    height, width = saliency.shape
    for b in boxes:
        if len(b) != 4 or not (0 <= b[0] < b[2] <= width and 0 <= b[1] < b[3] <= height):
            raise InputError(
                f"box {tuple(b)}: not a (left, top, right, bottom) box inside the {height}x{width}"
                " map; give size=(H, W) of the picture the boxes refer to"
            )
    row, column = divmod(int(torch.argmax(saliency)), int(width))
    return any(_distance_to_box(row, column, tuple(map(float, b))) <= tolerance for b in boxes)


def pointing_game(
    saliencies: Sequence[torch.Tensor],
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


# ----------------------------------------------------------------------------------------------
# Scenes for the pointing game: the cat and the cup at seeded random places and scales

#: Regions of the sample photos pasted into scenes: the cat's face, the cup on its saucer.
CAT_CROP: Box = (0, 0, 420, 300)  # in "chelsea" (451 x 300)
CUP_CROP: Box = (70, 20, 490, 395)  # in "coffee" (600 x 400)


@dataclass(frozen=True)
class Scene:
    """A generated picture with the boxes of what it shows.

    Attributes:
        image: the picture, ``size x size`` pixels.
        boxes: ``{"cat": box, "cup": box}``, ``(left, top, right, bottom)`` in its pixels.
        seed: the scene's seed (it is rebuilt identically from it).
    """

    image: Image.Image
    boxes: dict[str, Box]
    seed: int


def make_scene(seed: int, size: int = 224) -> Scene:
    """The cat and the cup pasted at seeded random places and scales on a plain background.

    Each object's longer side is 30-55% of ``size``; they never overlap; the background is a
    random light grey. The same seed gives the same scene.
    """
    from .core.images import sample_image

    rng = _random.Random(seed)
    background = rng.randint(170, 235)
    canvas = Image.new("RGB", (size, size), (background,) * 3)
    sources = {
        "cat": sample_image("chelsea").crop(CAT_CROP),
        "cup": sample_image("coffee").crop(CUP_CROP),
    }
    boxes: dict[str, Box] = {}
    for name, picture in sources.items():
        for _ in range(200):
            longer = rng.uniform(0.30, 0.55) * size
            ratio = longer / max(picture.size)
            w, h = max(1, round(picture.width * ratio)), max(1, round(picture.height * ratio))
            left, top = rng.randint(0, size - w), rng.randint(0, size - h)
            box = (left, top, left + w, top + h)
            if all(_overlap(box, other) == 0 for other in boxes.values()):
                break
        canvas.paste(picture.resize((w, h), Image.Resampling.LANCZOS), (left, top))
        boxes[name] = box
    return Scene(canvas, boxes, seed)


def _overlap(a: Box, b: Box) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(width, 0) * max(height, 0)


def pointing_scenes(n: int = 50, seed: int = 0, size: int = 224) -> list[Scene]:
    """``n`` scenes from :func:`make_scene`, seeds ``seed, seed + 1, ...``."""
    if n < 1:
        raise InputError(f"n {n}: must be at least 1 scene")
    return [make_scene(seed + i, size) for i in range(n)]


def scene_batch(classifier: Classifier, scenes: Sequence[Scene]) -> torch.Tensor:
    """The scenes as one ``(N, 3, size, size)`` batch, normalized for ``classifier``.

    The scenes are already at the network's input size, so only ``to_tensor`` and ``normalize``
    apply: the boxes stay in the same pixels as the maps.
    """
    from torchvision.transforms.functional import to_tensor

    return torch.stack([classifier.normalize(to_tensor(s.image)) for s in scenes])


def batched_cam(
    classifier: Classifier, batch: torch.Tensor, classes: Sequence[int]
) -> torch.Tensor:
    """CAM of ``classes`` for every image of ``batch`` in one forward pass: ``(N, K, h, w)``.

    The same product as :func:`cam` (``CAM_c = sum_k w_ck F_k``), for many scenes at once.
    """
    model = classifier.model
    pooling, fc_name = find_cam_layers(model) if not (
        classifier.pooling_layer and classifier.fc_layer
    ) else (classifier.pooling_layer, classifier.fc_layer)
    fc = _layer(model, fc_name)
    indices = _class_list(list(classes), len(classes), _outputs(classifier))
    with torch.no_grad(), capture(model, pooling, "input") as store:
        logits = model(batch)
        weights = fc.weight[indices]
        maps = torch.einsum("kc,nchw->nkhw", weights, store["features"])
        bias = fc.bias[indices] if fc.bias is not None else torch.zeros(len(indices))
    error = (maps.mean(dim=(2, 3)) + bias - logits[:, indices]).abs().max()
    if float(error) > 1e-3 * max(1.0, float(logits.abs().max())):  # not GAP + one linear layer
        raise InputError(f"{classifier.name}: CAM's identity mean(CAM) + b = logit fails by "
                         f"{float(error):.3g}; use grad_cam for this model")
    return maps


__all__ = [
    "POINTING_TOLERANCE",
    "Curve",
    "RandomizationStep",
    "Scene",
    "batched_cam",
    "blurred",
    "cam",
    "cascade_blocks",
    "center_map",
    "deletion_auc",
    "deletion_curve",
    "edge_map",
    "grad_cam",
    "insertion_auc",
    "insertion_curve",
    "make_scene",
    "model_input",
    "occlusion",
    "occlusion_passes",
    "pixel_order",
    "pointing_game",
    "pointing_hit",
    "pointing_scenes",
    "random_map",
    "randomization_check",
    "rank_correlation",
    "scene_batch",
]
