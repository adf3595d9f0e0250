"""Lesson 02: Class Activation Maps (Zhou et al., 2016), done right.

A network that ends in global average pooling (GAP) and one linear layer computes the score of
class ``c`` as

    logit_c = sum_k w_ck * mean_{i,j} F_k[i, j] + b_c = mean_{i,j} CAM_c[i, j] + b_c,

where ``F`` (``K x h x w``) is the input of the pooling layer and ``w_c`` the classifier's row for
``c``. The Class Activation Map ``CAM_c[i, j] = sum_k w_ck F_k[i, j]`` is therefore exactly how
much each location adds to the class score. This module computes it from the tensor the pooling
actually sees (the 2020 tutorial hooked an earlier layer), without transposing it, for one class
or all classes in one batched product, and with hooks that never outlive the computation.

CAM is exact only for GAP + one linear layer. :func:`find_cam_layers` checks that structure and
:func:`class_activation_maps` checks the identity above against the logits of the same forward
pass; a model for which it does not hold gets an :class:`~xai_tutorial.errors.InputError`
pointing to Grad-CAM (lesson 04), never a silently wrong map.

Method only: figures live in :mod:`xai_tutorial.cam_view`, colouring and blending in
:mod:`xai_tutorial.heatmap_view`, the explorer in :mod:`xai_tutorial.cam_widgets`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .classification import Classifier
from .errors import InputError
from .images import ImageSource, load_image
from .validation import SCALES, check_batch, check_class, check_scale

Scale = Literal["minmax", "shared"]

__all__ = [
    "SCALES",
    "CAMResult",
    "cam_from_features",
    "capture",
    "class_activation_maps",
    "find_cam_layers",
    "hook_count",
    "peak",
    "scale_maps",
    "tutorial_transposed_cam",
    "upsample",
]

#: Parameter-free modules that may sit between the pooling and the linear layer: they do not
#: change the pooled values at inference (dropout is the identity in eval mode).
_PASS_THROUGH = (nn.Flatten, nn.Dropout, nn.Identity)

#: Relative tolerance of the identity check ``mean(CAM_c) + b_c == logit_c``.
IDENTITY_RTOL = 1e-4


def _not_cam(model_name: str, why: str) -> InputError:
    return InputError(
        f"{model_name}: Class Activation Maps are exact only for global average pooling followed "
        f"by one linear layer, and {why}; use Grad-CAM (lesson 04) for this model"
    )


# ----------------------------------------------------------------------------------------------
# Finding the layers and capturing the features


def find_cam_layers(model: nn.Module, *, owner: str | None = None) -> tuple[str, str]:
    """Names of the global-average-pooling module and the final linear layer of ``model``.

    The structure is checked, in the order the modules are registered: the last
    ``AdaptiveAvgPool2d(1)`` must be followed only by flatten, dropout or identity modules, then
    exactly one ``nn.Linear``; after that linear layer no module may have parameters (a
    parameter-free activation registered late, as in EfficientNet-Lite, is allowed). Whether the
    linear layer's ``in_features`` equals the pooled channels is checked when the features are
    seen (:func:`class_activation_maps`), together with the identity ``mean(CAM) + b = logit``.

    Works for ResNet, EfficientNet, RegNet and any network whose head is
    ``AdaptiveAvgPool2d(1) -> flatten -> (dropout) -> Linear``.

    Args:
        model: the network.
        owner: the name errors use (default: the model's class name).

    Raises:
        InputError: no such head (e.g. ConvNeXt's LayerNorm after the pooling, MobileNet-V3's
            two-layer head); the message points to Grad-CAM.
    """
    name = owner or type(model).__name__
    leaves = [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children())]
    pools = [
        i for i, (_, m) in enumerate(leaves)
        if isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1))
    ]
    if not pools:
        raise _not_cam(name, "it has no AdaptiveAvgPool2d(1) module (pass pooling_layer= and "
                             "fc_layer= by name if it pools elsewhere)")
    start = pools[-1]
    linear = None
    for layer_name, module in leaves[start + 1:]:
        if linear is None:
            if isinstance(module, nn.Linear):
                linear = layer_name
            elif not isinstance(module, _PASS_THROUGH):
                raise _not_cam(name, f"{layer_name!r} ({type(module).__name__}) sits between "
                                     "the pooling and the classifier")
        elif any(True for _ in module.parameters(recurse=False)):
            raise _not_cam(name, f"{layer_name!r} ({type(module).__name__}) follows the linear "
                                 f"layer {linear!r}")
    if linear is None:
        raise _not_cam(name, "no linear layer follows its global average pooling")
    return leaves[start][0], linear


def _module(model: nn.Module, name: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise InputError(f"layer {name!r}: {type(model).__name__} has no such layer") from None


@contextmanager
def capture(model: nn.Module, layer: str, what: Literal["input", "output"] = "input") -> Iterator[
    dict[str, torch.Tensor]
]:
    """Record the input (or output) of ``model.<layer>`` during the forward passes in the block.

    The model is switched to eval mode inside the block; on leaving it, by any route, the hook is
    removed and every module's training mode is restored, so nothing of the capture survives.

    Yields:
        A dict that holds the tensor under ``"features"`` once the layer has run.
    """
    module = _module(model, layer)
    store: dict[str, torch.Tensor] = {}

    def hook(_: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        store["features"] = (inputs[0] if what == "input" else output).detach()

    # Remember each module's own mode (a model may mix them) and switch only if needed:
    # model.eval() walks every module, which costs more than the CAM product itself.
    training = [m for m in model.modules() if m.training]
    handle = module.register_forward_hook(hook)
    try:
        if training:
            model.eval()
        yield store
    finally:
        handle.remove()
        for m in training:
            m.training = True


def hook_count(model: nn.Module) -> int:
    """How many forward hooks are registered on ``model`` and its submodules (for tests)."""
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()
    )


# ----------------------------------------------------------------------------------------------
# The maps


@dataclass
class CAMResult:
    """Class Activation Maps of one image, with the forward pass they came from.

    Attributes:
        maps: raw, un-normalized maps ``(K, h, w)``; ``maps[i]`` belongs to ``classes[i]``.
        classes: the class indices, in the order of ``maps``.
        logits: the model's scores ``(num_classes,)`` from the same forward pass.
        features: the pooling layer's input ``(channels, h, w)``.
        weights: the classifier rows of ``classes``, ``(K, channels)``.
        bias: the classifier biases of ``classes``, ``(K,)`` (zeros when it has none).
        image: the picture the maps cover, when one was given (not a tensor).
        input_size: ``(H, W)`` of the tensor the network saw.
    """

    maps: torch.Tensor
    classes: list[int]
    logits: torch.Tensor
    features: torch.Tensor
    weights: torch.Tensor
    bias: torch.Tensor
    image: Image.Image | None = None
    input_size: tuple[int, int] = (0, 0)

    @property
    def probabilities(self) -> torch.Tensor:
        """``softmax(logits)``: ``p_c = exp(z_c) / sum_j exp(z_j)``."""
        return self.logits.softmax(0)

    def identity_error(self) -> float:
        """max over classes of |mean(CAM_c) + b_c - logit_c|: zero up to float rounding."""
        rebuilt = self.maps.mean(dim=(1, 2)) + self.bias
        return float((rebuilt - self.logits[self.classes]).abs().max())


def cam_from_features(
    features: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """CAM_c[i, j] = sum_k w_ck F_k[i, j] for every row ``c`` of ``weights`` at once.

    Args:
        features: ``(channels, h, w)``.
        weights: ``(K, channels)``.

    Returns:
        ``(K, h, w)``: rows stay rows and columns stay columns (no transposition).
    """
    return torch.einsum("kc,chw->khw", weights, features)


def _class_list(classes: object, categories: Sequence[str], count: int, owner: str) -> list[int]:
    if classes is None:
        return list(range(count))
    single = (
        isinstance(classes, str)
        or not hasattr(classes, "__iter__")
        or (isinstance(classes, torch.Tensor) and classes.ndim == 0)
    )
    items = [classes] if single else list(classes)  # type: ignore[call-overload]
    if not items:
        raise InputError("classes: give at least one class (or None for all)")
    names = categories if len(categories) == count else [str(i) for i in range(count)]
    return [check_class(c, names, owner=owner) for c in items]


@torch.no_grad()
def class_activation_maps(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    classes: Sequence[int | str] | int | str | None = None,
    *,
    pooling_layer: str | None = None,
    fc_layer: str | None = None,
) -> CAMResult:
    """Class Activation Maps of ``inputs`` for ``classes`` (all classes when ``None``).

    One forward pass records the input of the global-average-pooling layer, ``F``; then one
    batched product with the classifier's weights gives ``CAM_c = sum_k w_ck F_k`` for every
    requested class. An image is preprocessed *without* cropping (shorter side resized to the
    network's input size), so the maps cover the whole picture.

    The identity ``mean(CAM_c) + b_c = logit_c`` is checked for the requested classes against the
    logits of that same pass (cost: one ``K x channels`` product), so a network for which CAM is
    not exact is refused instead of given a wrong map.

    Args:
        classifier: a :class:`~xai_tutorial.Classifier`.
        inputs: anything :func:`~xai_tutorial.load_image` takes, or a preprocessed
            ``(1, 3, H, W)`` tensor.
        classes: class indices or labels, one index or label, or ``None`` for all. Indices may
            be Python ints, numpy integers or 0-d integer tensors.
        pooling_layer: overrides the pooling layer's name (default: the classifier's, else found).
        fc_layer: overrides the linear layer's name (default: the classifier's, else found).

    Returns:
        A :class:`CAMResult` whose ``maps`` are raw scores, ``mean(maps[c]) + bias[c]`` being
        ``logit_c``.

    Raises:
        InputError: a bad class or tensor, an unknown layer, or a model for which CAM is not
            exact (use Grad-CAM, lesson 04).
    """
    model = classifier.model
    owner = classifier.name or type(model).__name__
    described = f"{owner} ({type(model).__name__})"
    found = None
    if not (pooling_layer or classifier.pooling_layer) or not (fc_layer or classifier.fc_layer):
        found = find_cam_layers(model, owner=described)
    pooling_name = pooling_layer or classifier.pooling_layer or found[0]  # type: ignore[index]
    fc_name = fc_layer or classifier.fc_layer or found[1]  # type: ignore[index]
    fc = _module(model, fc_name)
    if not isinstance(fc, nn.Linear):
        raise _not_cam(described, f"{fc_name!r} is a {type(fc).__name__}, not a linear layer")
    indices = _class_list(classes, classifier.categories, fc.out_features, owner)

    image = None
    if isinstance(inputs, torch.Tensor):
        x = check_batch(inputs)
    else:
        image = load_image(inputs)
        x = classifier.preprocess(image, crop=False)

    with capture(model, pooling_name, "input") as store:
        output = model(x)
    if "features" not in store:
        raise _not_cam(described, f"its layer {pooling_name!r} did not run in the forward pass")
    logits = output[0]
    features = store["features"][0]
    if features.ndim != 3 or features.shape[0] != fc.in_features or logits.ndim != 1 or (
        logits.shape[0] != fc.out_features
    ):
        raise _not_cam(
            described,
            f"the input of {pooling_name!r} has shape {tuple(features.shape)} while "
            f"{fc_name!r} takes {fc.in_features} features and the model gives "
            f"{tuple(logits.shape)} scores",
        )

    weights = fc.weight[indices]
    bias = fc.bias[indices] if fc.bias is not None else torch.zeros(len(indices))
    # mean(CAM_c) + b_c = w_c . mean(F) + b_c, checked without building the maps twice.
    rebuilt = weights @ features.mean(dim=(1, 2)) + bias
    expected = logits[indices]
    scale = 1.0 + float(expected.abs().max())
    error = float((rebuilt - expected).abs().max())
    if not error <= IDENTITY_RTOL * scale:
        raise _not_cam(
            described,
            f"for it mean(CAM) + bias differs from the logit by {error:.3g} (the layers "
            f"{pooling_name!r} and {fc_name!r} are not GAP + the final linear layer)",
        )
    return CAMResult(
        maps=cam_from_features(features, weights),
        classes=indices,
        logits=logits,
        features=features,
        weights=weights,
        bias=bias,
        image=image,
        input_size=(int(x.shape[2]), int(x.shape[3])),
    )


# ----------------------------------------------------------------------------------------------
# Pure-tensor steps every heatmap shares (coloured and blended in heatmap_view)


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(K, h, w)`` or ``(h, w)`` maps to ``size = (H, W)`` (rows, columns).

    ``align_corners=False``: cell centres map to cell centres, so a map covers the image exactly.
    """
    maps = maps.detach()
    batch = maps if maps.ndim == 3 else maps[None]
    out = F.interpolate(batch[:, None], size=tuple(size), mode="bilinear",
                        align_corners=False)[:, 0]
    return out if maps.ndim == 3 else out[0]


def scale_maps(
    maps: torch.Tensor, scale: Scale = "minmax", reference: torch.Tensor | None = None
) -> torch.Tensor:
    """Map raw CAM values into [0, 1] for display.

    * ``"minmax"`` (the tutorial's): each map on its own, ``(m - min m) / (max m - min m)``, so
      every map uses the full colour range, however weak its evidence;
    * ``"shared"``: one range for all, ``(m - lo) / (hi - lo)`` with ``lo, hi`` the minimum and
      maximum over ``reference`` (default: ``maps`` themselves), so a class with weaker evidence
      looks weaker.

    A constant map becomes all zeros (the denominator is clamped at 1e-12).

    Args:
        maps: ``(K, h, w)`` or ``(h, w)``.
        scale: ``"minmax"`` or ``"shared"``.
        reference: the maps that fix the shared range (e.g. all 1000 classes of the image).
    """
    check_scale(scale)
    maps = maps.detach()
    batch = maps if maps.ndim == 3 else maps[None]
    if scale == "minmax":
        lo = batch.amin(dim=(1, 2), keepdim=True)
        hi = batch.amax(dim=(1, 2), keepdim=True)
    else:
        ref = batch if reference is None else reference
        lo, hi = ref.min(), ref.max()
    out = ((batch - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)
    return out if maps.ndim == 3 else out[0]


def peak(map_: torch.Tensor) -> tuple[int, int]:
    """``(row, column)`` of a map's maximum."""
    flat = int(torch.argmax(map_))
    return divmod(flat, int(map_.shape[-1]))


# ----------------------------------------------------------------------------------------------
# The 2020 tutorial's mistakes, reproduced so the lesson can show them next to the fix


def tutorial_transposed_cam(features: torch.Tensor, weight_row: torch.Tensor) -> torch.Tensor:
    """The 2020 tutorial's ``(features.T * weights).sum(2)``, kept only to show its bug.

    With ``features`` of shape ``(channels, h, w)``, ``features.T`` is ``(w, h, channels)``, so the
    result is ``(w, h)``: the map comes out transposed. On a square input this goes unnoticed
    (the picture is merely mirrored along its diagonal); on a non-square one the shape is wrong.
    """
    return (features.permute(2, 1, 0) * weight_row).sum(2)  # what .T does to a 3-D tensor
