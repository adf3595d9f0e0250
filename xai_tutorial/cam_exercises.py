"""Lesson 02's exercises: Class Activation Maps written by the learner and checked.

Every checker recomputes the right answer with the package (:func:`class_activation_maps` on the
bundled EfficientNet-Lite0, or a seeded torchvision ResNet-18 with random weights), and says *why*
an answer is not right yet when it can tell: a transposed map, a map already scaled or upsampled,
the tutorial's layer, a peak given as (column, row), ...

In a notebook::

    from xai_tutorial import cam_exercises as ex
    ex.second_class.check()   # .hint(), .solution()

Exercises:

* :data:`transposition` (exercise 1): the 2020 tutorial's transposed map, and whether the
  identity catches it.
* :data:`second_class` (exercise 2): the raw CAM of the second most probable class of the
  cat-and-coffee scene, and the cell where it peaks.
* :data:`random_resnet` (exercise 3): the layer whose output a torchvision ResNet-18's pooling
  averages, and the CAM identity on it (random weights, no download).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import torch
from torch import nn

from .cam import CAMResult, capture, class_activation_maps, peak
from .classification import Classifier, load_classifier
from .exercises import Exercise, expect

#: The bundled model the exercises on real photos are checked against.
MODEL = "efficientnet_lite0"
#: The scene of exercise 2 and the photo of exercise 1.
SCENE, PHOTO = "cat_and_coffee", "chelsea"
#: The seed that makes exercise 3's random ResNet-18 the same for the learner and the checker.
SEED = 0


@cache
def _classifier() -> Classifier:
    return load_classifier(MODEL, quiet=True)


@cache
def _cams(sample: str) -> CAMResult:
    return class_activation_maps(_classifier(), sample)


def _tensor(value: Any, name: str) -> torch.Tensor:
    expect(isinstance(value, torch.Tensor), f"`{name}` should be a torch tensor, "
           f"not {type(value).__name__}")
    return value.detach().float().cpu()


def _index(value: Any, name: str) -> int:
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = int(value)
    expect(isinstance(value, int) and not isinstance(value, bool),
           f"`{name}` should be a class index (an int), not {type(value).__name__}")
    return value


def _minmax(map_: torch.Tensor) -> torch.Tensor:
    return (map_ - map_.min()) / (map_.max() - map_.min())


# ----------------------------------------------------------------------------------------------
# 2. The second-best class


def _check_second_class(second_class_index: Any, second_class_map: Any,
                        second_class_peak: Any) -> str | None:
    result = _cams(SCENE)
    categories = _classifier().categories
    order = result.logits.argsort(descending=True).tolist()
    best, second = order[0], order[1]
    second_class_index = _index(second_class_index, "second_class_index")
    if second_class_index == best:
        return (f"class {best} ({categories[best]}) is the most probable one; the exercise asks "
                "for the second")
    if second_class_index != second:
        return (f"class {second_class_index} ({categories[second_class_index]}) is not the "
                "second most probable class of the whole scene")
    got = _tensor(second_class_map, "second_class_map")
    want = result.maps[second]
    h, w = want.shape
    expect(got.ndim == 2, f"`second_class_map` should be a 2-D map ({h}x{w}), "
           f"not of shape {tuple(got.shape)}")
    if tuple(got.shape) == (w, h):
        return f"the map is {w}x{h}: transposed; rows should stay rows ({h}x{w}, like the scene)"
    if tuple(got.shape) == (h, h):
        return (f"the map is {h}x{h}: the scene was center-cropped; use the whole scene "
                f"(preprocess(scene, crop=False)), whose map is {h}x{w}")
    if tuple(got.shape) != (h, w):
        return (f"the map is {got.shape[0]}x{got.shape[1]}; give the raw map on the feature "
                f"grid, {h}x{w}, before any upsampling")
    if torch.allclose(got, _minmax(want), atol=1e-4):
        return "that map is min-max scaled; give the raw one (its mean + bias is the logit)"
    if torch.allclose(got, result.maps[best], atol=1e-3):
        return "that is the map of the most probable class"
    if not torch.allclose(got, want, atol=1e-3, rtol=1e-4):
        error = abs(float(got.mean() + result.bias[result.classes.index(second)]
                          - result.logits[second]))
        return (f"not the CAM of class {second}: its mean + bias misses the logit by "
                f"{error:.3f}; use the class's row of the linear layer's weights")
    expect(isinstance(second_class_peak, (tuple, list)) and len(second_class_peak) == 2,
           "`second_class_peak` should be a (row, column) pair")
    where = tuple(int(v) for v in second_class_peak)
    right = peak(want)
    if where == right[::-1] and right[0] != right[1]:
        return f"{where} is (column, row); give (row, column)"
    if where != right:
        return f"the map's largest value is not at (row, column) = {where}"
    return None


second_class = Exercise(
    "The second-best class",
    ("second_class_index", "second_class_map", "second_class_peak"),
    _check_second_class,
    "Rank the scene's logits (whole photo, as `class_activation_maps` sees it) with "
    "`argsort(descending=True)`; take the weights row of the second class and the same einsum "
    "as for the first; `divmod(int(map.argmax()), map.shape[1])` gives (row, column).",
    """
    scene_x = classifier.preprocess(scene, crop=False)
    with capture(model, pooling_name) as scene_store:
        scene_logits = model(scene_x)[0]
    scene_features = scene_store["features"][0]
    second_class_index = int(scene_logits.argsort(descending=True)[1])
    second_class_map = torch.einsum("k,khw->hw", fc.weight[second_class_index], scene_features)
    second_class_peak = divmod(int(second_class_map.argmax()), second_class_map.shape[1])
    """,
)


# ----------------------------------------------------------------------------------------------
# 1. The tutorial's transposition


def _check_transposition(tutorial_map: Any, identity_catches_it: Any) -> str | None:
    result = _cams(PHOTO)
    top = int(result.logits.argmax())
    right = result.maps[top]
    h, w = right.shape
    got = _tensor(tutorial_map, "tutorial_map")
    if tuple(got.shape) == (h, w):
        if torch.allclose(got, right, atol=1e-3):
            return ("that is the correct map, rows x columns; the tutorial's "
                    "(features.T * weights).sum(2) reverses the axes of features first")
        return f"the tutorial's map is {w}x{h} (columns x rows), not {h}x{w}"
    expect(tuple(got.shape) == (w, h),
           f"`tutorial_map` has shape {tuple(got.shape)}; the tutorial's map is {w}x{h}")
    if not torch.allclose(got, right.T, atol=1e-3, rtol=1e-4):
        return (f"not the tutorial's map of the top class ({_classifier().categories[top]}) on "
                "the whole photo")
    expect(isinstance(identity_catches_it, bool),
           "`identity_catches_it` should be True or False")
    if identity_catches_it:
        return ("compute tutorial_map.mean() + bias: it still equals the logit, because "
                "transposing moves values without changing their mean; only the shape gives "
                "the transposition away")
    return None


transposition = Exercise(
    "The tutorial's transposition",
    ("tutorial_map", "identity_catches_it"),
    _check_transposition,
    "On a (channels, rows, columns) tensor `.T` reverses all three axes: "
    "`features.permute(2, 1, 0)`. Multiply by the class's weights, sum over the last axis, then "
    "compare mean + bias with the logit, and the shape with the correct map's.",
    """
    tutorial_map = (features.permute(2, 1, 0) * weights).sum(2)  # what features.T did
    print(tuple(tutorial_map.shape), float(tutorial_map.mean() + fc.bias[c]), float(logits[c]))
    identity_catches_it = False
    """,
)


# ----------------------------------------------------------------------------------------------
# 3. A torchvision ResNet-18 with random weights


@cache
def _random_resnet() -> nn.Module:
    from torchvision.models import resnet18

    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        return resnet18(weights=None).eval()


def _outputs(layer: str) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The output of ``layer`` (None when it never ran) and the pooling's input, one pass."""
    net = _random_resnet()
    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(1, 3, 160, 224, generator=generator)  # not square: catches transpositions
    with torch.no_grad(), capture(net, "avgpool", "input") as pooled, \
            capture(net, layer, "output") as chosen:
        net(x)
    return chosen.get("features"), pooled["features"]


def _check_random_resnet(random_resnet_layer: Any, random_resnet_identity_error: Any) -> str | None:
    expect(isinstance(random_resnet_layer, str), "`random_resnet_layer` should be a layer's name, "
           "as in dict(net.named_modules())")
    names = dict(_random_resnet().named_modules())
    expect(random_resnet_layer in names, f"{random_resnet_layer!r}: ResNet-18 has no module of "
           "that name; list them with [name for name, _ in net.named_modules()]")
    if random_resnet_layer == "avgpool":
        return ("avgpool is the pooling itself (its output is 1x1); which module's output does "
                "it average?")
    if random_resnet_layer.endswith("conv2") and random_resnet_layer.startswith("layer4.1"):
        return ("that is the 2020 tutorial's layer: its output comes before bn2, the residual "
                "addition and the ReLU, so the pooling never sees it")
    chosen, pooled = _outputs(random_resnet_layer)
    if chosen is None or chosen.shape != pooled.shape or not torch.equal(chosen, pooled):
        return f"the output of {random_resnet_layer!r} is not what avgpool averages"
    expect(isinstance(random_resnet_identity_error, (float, int, torch.Tensor)),
           "`random_resnet_identity_error` should be a number")
    error = float(random_resnet_identity_error)
    expect(math.isfinite(error) and error >= 0,
           f"{error} is not an error size: take the largest |mean(CAM) + b - logit|")
    if error > 1e-4:
        return (f"with the right layer, max |mean(CAM) + b - logit| should be ~1e-6, not "
                f"{error:.2g}: did you use fc.weight (all classes), einsum over the channels "
                "and add fc.bias?")
    return None


random_resnet = Exercise(
    "ResNet-18's pooling",
    ("random_resnet_layer", "random_resnet_identity_error"),
    _check_random_resnet,
    "Print the last lines of `net` (or `list(net.named_children())`): the block that runs just "
    "before `avgpool` gives it its input. Hook that module's output, then check "
    "mean(CAM) + b against the logits for all 1000 classes at once: with `net.fc.weight` "
    "(classes x channels) the einsum keeps the class index, `\"ck,khw->chw\"`.",
    """
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None).eval()
    random_resnet_layer = "layer4"
    resnet_store = {}
    handle = net.get_submodule(random_resnet_layer).register_forward_hook(
        lambda module, inputs, output: resnet_store.update(features=output[0]))
    try:
        resnet_logits = net(torch.randn(1, 3, 160, 224))[0]
    finally:
        handle.remove()
    resnet_cams = torch.einsum("ck,khw->chw", net.fc.weight, resnet_store["features"])
    rebuilt = resnet_cams.mean(dim=(1, 2)) + net.fc.bias
    random_resnet_identity_error = float((rebuilt - resnet_logits).abs().max())
    """,
)

EXERCISES: tuple[Exercise, ...] = (second_class, transposition, random_resnet)
