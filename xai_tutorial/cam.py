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

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from torch import nn

from .classification import Classifier
from .core.heatmap import SCALES, Scale, peak, scale_maps, upsample
from .core.hooks import (
    IDENTITY_RTOL,
    SpatialLayer,
    capture,
    check_identity,
    find_cam_layers,
    get_layer,
    hook_count,
    input_errors,
    not_cam,
)
from .core.images import ImageSource, load_image
from .core.inputs import check_classes
from .core.saliency import model_input

__all__ = [
    "IDENTITY_RTOL",
    "SCALES",
    "Scale",
    "CAMResult",
    "cam_from_features",
    "cam_layers",
    "capture",
    "cam_method",
    "class_activation_maps",
    "find_cam_layers",
    "hook_count",
    "peak",
    "scale_maps",
    "tutorial_layer",
    "tutorial_transposed_cam",
    "upsample",
]

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


def cam_layers(classifier: Classifier, pooling_layer: str | None = None,
               fc_layer: str | None = None) -> tuple[str, nn.Linear]:
    """The pooling layer's name and the final linear layer CAM reads, checked.

    Given names win, then the classifier's own, then :func:`~xai_tutorial.core.hooks.
    find_cam_layers` (which refuses a network that is not GAP + one linear layer).

    Raises:
        InputError: an unknown layer, or a "linear" layer that is not ``nn.Linear``.
    """
    model = classifier.model
    described = _described(classifier)
    pooling = pooling_layer or getattr(classifier, "pooling_layer", None)
    fc_name = fc_layer or getattr(classifier, "fc_layer", None)
    if not pooling or not fc_name:
        found = find_cam_layers(model, owner=described)
        pooling, fc_name = pooling or found[0], fc_name or found[1]
    get_layer(model, pooling)
    fc = get_layer(model, fc_name)
    if not isinstance(fc, nn.Linear):
        raise not_cam(described, f"{fc_name!r} is a {type(fc).__name__}, not a linear layer")
    return pooling, fc


def _described(classifier: Classifier) -> str:
    model = classifier.model
    return f"{classifier.name or type(model).__name__} ({type(model).__name__})"


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
    pooling, fc = cam_layers(classifier, pooling_layer, fc_layer)
    indices = check_classes(classes, classifier.categories, fc.out_features,
                            owner=classifier.name or type(classifier.model).__name__)
    image = None if isinstance(inputs, torch.Tensor) else load_image(inputs)
    x = model_input(classifier, inputs if image is None else image)
    logits, features = _forward(classifier, x, pooling, fc)
    return _maps(classifier, pooling, fc, indices, logits, features, image,
                 (int(x.shape[2]), int(x.shape[3])))


def _forward(classifier: Classifier, x: torch.Tensor, pooling: str, fc: nn.Linear
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, F)`` of one checked input; refuses shapes CAM cannot read."""
    with capture(classifier.model, pooling, "input") as store, input_errors(x, classifier.model):
        output = classifier.model(x)
    described = _described(classifier)
    if "features" not in store:
        raise not_cam(described, f"its layer {pooling!r} did not run in the forward pass")
    logits, features = output[0], store["features"][0]
    if features.ndim != 3 or features.shape[0] != fc.in_features or logits.ndim != 1 or (
        logits.shape[0] != fc.out_features
    ):
        raise not_cam(
            described,
            f"the input of {pooling!r} has shape {tuple(features.shape)} while the linear "
            f"layer takes {fc.in_features} features and the model gives "
            f"{tuple(logits.shape)} scores",
        )
    return logits, features


def _maps(classifier: Classifier, pooling: str, fc: nn.Linear, indices: list[int],
          logits: torch.Tensor, features: torch.Tensor, image: Image.Image | None,
          input_size: tuple[int, int]) -> CAMResult:
    """The maps of checked ``indices``, after the identity check (see :func:`check_identity`)."""
    weights = fc.weight[indices]
    bias = fc.bias[indices] if fc.bias is not None else torch.zeros(len(indices))
    # mean(CAM_c) + b_c = w_c . mean(F) + b_c, checked without building the maps twice.
    rebuilt = weights @ features.mean(dim=(1, 2)) + bias
    check_identity(rebuilt, logits[indices], model=_described(classifier),
                   what="mean(CAM) + bias",
                   detail=f" (the input of {pooling!r} and the linear layer are not GAP + the "
                          "final linear layer)")
    return CAMResult(
        maps=cam_from_features(features, weights),
        classes=indices,
        logits=logits,
        features=features,
        weights=weights,
        bias=bias,
        image=image,
        input_size=input_size,
    )


def cam_method(classifier: Classifier, x: torch.Tensor, class_index: int) -> torch.Tensor:
    """CAM as a registered saliency method (``"cam"``): the raw ``(h, w)`` map of one class.

    Preconditions (see :mod:`xai_tutorial.core.saliency`): ``x`` a checked ``(1, 3, H, W)``
    input, ``class_index`` a checked index.
    """
    pooling, fc = cam_layers(classifier)
    with torch.no_grad():
        logits, features = _forward(classifier, x, pooling, fc)
        return _maps(classifier, pooling, fc, [class_index], logits, features, None,
                     (int(x.shape[2]), int(x.shape[3]))).maps[0]


# ----------------------------------------------------------------------------------------------
# The 2020 tutorial's mistakes, reproduced so the lesson can show them next to the fix


def tutorial_transposed_cam(features: torch.Tensor, weight_row: torch.Tensor) -> torch.Tensor:
    """The 2020 tutorial's ``(features.T * weights).sum(2)``, kept only to show its bug.

    With ``features`` of shape ``(channels, h, w)``, ``features.T`` is ``(w, h, channels)``, so the
    result is ``(w, h)``: the map comes out transposed. On a square input this goes unnoticed
    (the picture is merely mirrored along its diagonal); on a non-square one the shape is wrong.
    """
    return (features.permute(2, 1, 0) * weight_row).sum(2)  # what .T does to a 3-D tensor


def tutorial_layer(model: nn.Module, layers: Sequence[SpatialLayer], fc: nn.Linear
                   ) -> SpatialLayer | None:
    """The layer the 2020 tutorial's mistake hooks, on any network: the last convolution of
    ``layers`` (``spatial_layers(model, x)``, in execution order), or ``None`` when its output
    does not have the ``fc.in_features`` channels the pooling averages.

    On ResNet-18 it is ``layer4.1.conv2`` (before ``bn2``, the residual addition and the ReLU),
    on EfficientNet-Lite0 ``_conv_head``. On GoogLeNet or Inception-v3 it is ``None``: their last
    block concatenates the outputs of parallel branches, so no single convolution gives the 1024
    (2048) channels the pooling sees, and the class's weights apply to no convolution's output.
    """
    convolutions = [layer for layer in layers
                    if isinstance(model.get_submodule(layer.name), nn.Conv2d)]
    if not convolutions or convolutions[-1].channels != fc.in_features:
        return None
    return convolutions[-1]
