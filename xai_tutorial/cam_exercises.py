"""Lesson 02's exercises: Class Activation Maps written by the learner and checked.

Every checker recomputes the right answer with the package (:func:`class_activation_maps`) from
the lesson's own objects, passed in by :class:`~xai_tutorial.exercises.Exercise` as ``context``:
the ``classifier`` of the parameters cell (``MODEL``), its ``image`` (``PHOTO``) and ``scene``
(``SCENE``). So a right answer is right for whatever model and photos the instructor chose.
Exercise 3's network is a torchvision ResNet-18 with random weights, built from a seed (no
download), run on the lesson's own photo. Each checker says *why* an answer is not right yet when
it can tell: a transposed map, a map already scaled or upsampled, a centre-cropped photo, the
tutorial's layer, a peak given as (column, row), a number that does not follow from its maps, ...

Answers that are numbers come with the tensor they were computed from (exercise 3's maps), and the
checker recomputes the number from that tensor: a number copied from the text, or guessed, fails.

In a notebook::

    from xai_tutorial import cam_exercises as ex
    ex.second_class.check()   # .hint(), .solution()

Exercises:

* :data:`transposition` (exercise 1): the 2020 tutorial's transposed map, and whether the
  identity catches it.
* :data:`second_class` (exercise 2): the raw CAM of the second most probable class of the
  two-object scene, and the cell where it peaks.
* :data:`random_resnet` (exercise 3): the layer whose output a torchvision ResNet-18's pooling
  averages, the CAMs of all its classes on the lesson's photo, and the identity's error on them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from .cam import CAMResult, capture, class_activation_maps, peak
from .classification import Classifier
from .core.images import load_image
from .exercises import Exercise, expect, flag, index, number, text

#: The seed that makes exercise 3's random ResNet-18 the same for the learner and the checker.
SEED = 0


def _tensor(value: Any, name: str) -> torch.Tensor:
    """``value`` as a detached float tensor; refused when it is not a tensor or not finite."""
    expect(isinstance(value, torch.Tensor), f"`{name}` should be a torch tensor, "
           f"not {type(value).__name__}")
    got = value.detach().float().cpu()
    expect(bool(torch.isfinite(got).all()), f"`{name}` should be finite: it holds nan or inf")
    return got


def _context(classifier: Any, picture: Any, name: str) -> tuple[Classifier, Image.Image]:
    """The lesson's ``classifier`` and ``picture`` (its ``image`` or ``scene``, a sample name
    loaded with :func:`load_image`), or one clear reason when they are not what the setup cells
    define."""
    expect(isinstance(classifier, Classifier), "`classifier` is not a Classifier "
           f"({type(classifier).__name__}): re-run the lesson's setup cells")
    try:
        return classifier, load_image(picture)
    except Exception as exc:  # noqa: BLE001 (any source load_image refuses)
        why = f" ({exc})" if isinstance(picture, str) else ""
        raise AssertionError(f"`{name}` is not an image ({type(picture).__name__}): re-run the "
                             f"lesson's setup cells{why}") from None


def _pair(value: Any, name: str) -> tuple[int, int]:
    """A (row, column) pair from a tuple or list of two integers, or a 2-element integer tensor
    or array (``(m == m.max()).nonzero()[0]``)."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        items = list(value.reshape(-1)) if value.ndim == 1 else []
    else:
        items = list(value) if isinstance(value, (tuple, list)) else []
    reason = f"`{name}` should be a (row, column) pair of integers"
    expect(len(items) == 2, reason)
    try:
        row, column = (index(item, name) for item in items)
    except AssertionError:
        raise AssertionError(reason) from None
    return row, column


def _minmax(map_: torch.Tensor) -> torch.Tensor:
    return (map_ - map_.min()) / (map_.max() - map_.min()).clamp_min(1e-12)


def _close(got: torch.Tensor, want: torch.Tensor) -> bool:
    """Equal up to float rounding (an einsum and a hand-written sum add in different orders):
    ``|got - want| <= 1e-3 min(1, max |want|) + 1e-4 |want|``. The absolute part shrinks with a
    tiny map (a randomly initialized GoogLeNet's CAMs are ~1e-12), so two classes' maps that
    differ everywhere never pass for each other."""
    if got.shape != want.shape:
        return False
    atol = 1e-3 * min(1.0, float(want.abs().max()))
    return torch.allclose(got, want, atol=atol, rtol=1e-4)


def _name(classifier: Classifier, c: int) -> str:
    return f"class {c} ({classifier.categories[c]})"


# ----------------------------------------------------------------------------------------------
# 1. The tutorial's transposition


def _check_transposition(tutorial_map: Any, identity_catches_it: Any, *,
                         classifier: Any, image: Any) -> str | None:
    classifier, image = _context(classifier, image, "image")
    result = class_activation_maps(classifier, image)
    top = int(result.logits.argmax())
    right = result.maps[top]
    h, w = right.shape
    got = _tensor(tutorial_map, "tutorial_map")
    expect(got.ndim == 2, f"`tutorial_map` should be a 2-D map; the tutorial's is {w}x{h}, "
           f"not of shape {tuple(got.shape)}")
    if _close(got, right) and not _close(right, right.T):
        return (f"that is the correct map, {h}x{w} (rows x columns); the tutorial's "
                "(features.T * weights).sum(2) reverses the axes of features first")
    if tuple(got.shape) != (w, h):
        return (f"`tutorial_map` is {got.shape[0]}x{got.shape[1]}; on the whole photo the "
                f"tutorial's map is {w}x{h} (columns x rows), the correct one {h}x{w}")
    if not _close(got, right.T):
        return _which_transposed_map(got, result, classifier, top)
    if flag(identity_catches_it, "identity_catches_it"):
        return ("compute tutorial_map.mean() + bias: it still equals the logit, because "
                "transposing moves values without changing their mean; only the shape gives "
                "the transposition away")
    return None


def _which_transposed_map(got: torch.Tensor, result: CAMResult, classifier: Classifier,
                          top: int) -> str:
    """Why a ``(w, h)`` map is not the top class's transposed map: another class's, a scaled
    one, or neither."""
    transposed = result.maps.transpose(1, 2)
    distance = (transposed - got).abs().flatten(1).amax(1)
    other = int(distance.argmin())
    if other != top and float(distance[other]) < 1e-3 * (1 + float(got.abs().max())):
        return (f"that is the tutorial's map of {_name(classifier, other)}; use the weights of "
                f"the top class, {_name(classifier, top)} (`weights = fc.weight[c]`)")
    if _close(got, _minmax(transposed[top])):
        return "that map is min-max scaled; give the raw sum (its mean + bias is the logit)"
    return (f"not the tutorial's map of the top class, {_name(classifier, top)}, on the whole "
            "photo: multiply features.permute(2, 1, 0) by the class's weights and sum the last "
            "axis")


transposition = Exercise(
    "The tutorial's transposition",
    ("tutorial_map", "identity_catches_it"),
    _check_transposition,
    "On a (channels, rows, columns) tensor `.T` reverses all three axes: "
    "`features.permute(2, 1, 0)`. Multiply by the class's weights, sum over the last axis, then "
    "compare mean + bias with the logit, and the shape with the correct map's.",
    """
    tutorial_map = (features.permute(2, 1, 0) * weights).sum(2)  # what features.T did
    print("shape:", tuple(tutorial_map.shape), "| fix:", tuple(cam.shape))
    tutorial_sum = float(tutorial_map.mean() + b)
    print(f"mean + b = {tutorial_sum:.4f}, logit = {float(logits[c]):.4f}")
    identity_catches_it = False
    """,
    context=("classifier", "image"),
)


# ----------------------------------------------------------------------------------------------
# 2. The second-best class


def _check_second_index(chosen: int, result: CAMResult, classifier: Classifier,
                        scene: Image.Image) -> str | None:
    expect(0 <= chosen < len(result.logits),
           f"{chosen} is not a class index (0 to {len(result.logits) - 1})")
    order = result.logits.argsort(descending=True).tolist()
    if chosen == order[0]:
        return (f"{_name(classifier, chosen)} is the most probable class of the scene; the "
                "exercise asks for the second")
    if chosen == order[1]:
        return None
    cropped = classifier.logits(classifier.preprocess(scene)).argsort(descending=True)[0]
    if chosen == int(cropped[1]):
        return (f"{_name(classifier, chosen)} is the second class of the centre-cropped scene; "
                "rank the logits of the whole scene (preprocess(scene, crop=False))")
    rank = order.index(chosen) + 1
    return (f"{_name(classifier, chosen)} is the scene's number {rank} by probability, not the "
            "second; rank the logits with argsort(descending=True)")


def _check_second_map(got: torch.Tensor, result: CAMResult, second: int,
                      classifier: Classifier, scene: Image.Image) -> str | None:
    best = int(result.logits.argmax())
    want = result.maps[second]
    h, w = want.shape
    expect(got.ndim == 2, f"`second_class_map` should be a 2-D map ({h}x{w}), "
           f"not of shape {tuple(got.shape)}")
    if tuple(got.shape) == (w, h) and h != w:
        return f"the map is {w}x{h}: transposed; rows should stay rows ({h}x{w}, like the scene)"
    if tuple(got.shape) != (h, w):
        cropped = class_activation_maps(classifier, classifier.preprocess(scene), [second])
        if tuple(got.shape) == tuple(cropped.maps.shape[1:]):
            return (f"the map is {got.shape[0]}x{got.shape[1]}: the scene was center-cropped; "
                    f"use the whole scene (preprocess(scene, crop=False)), whose map is {h}x{w}")
        return (f"the map is {got.shape[0]}x{got.shape[1]}; give the raw map on the feature "
                f"grid, {h}x{w}, before any upsampling")
    if _close(got, _minmax(want)):
        return "that map is min-max scaled; give the raw one (its mean + bias is the logit)"
    if _close(got, result.maps[best]):
        return "that is the map of the most probable class"
    if not _close(got, want):
        error = abs(float(got.mean() + result.bias[second] - result.logits[second]))
        return (f"not the CAM of {_name(classifier, second)}: its mean + bias misses the logit "
                f"by {error:.3g}; use the class's row of the linear layer's weights and the "
                "input of the pooling layer")
    return None


def _check_second_class(second_class_index: Any, second_class_map: Any, second_class_peak: Any,
                        *, classifier: Any, scene: Any) -> str | None:
    classifier, scene = _context(classifier, scene, "scene")
    result = class_activation_maps(classifier, scene)
    chosen = index(second_class_index, "second_class_index")
    reason = _check_second_index(chosen, result, classifier, scene)
    if reason:
        return reason
    got = _tensor(second_class_map, "second_class_map")
    reason = _check_second_map(got, result, chosen, classifier, scene)
    if reason:
        return reason
    where = _pair(second_class_peak, "second_class_peak")
    right = peak(result.maps[chosen])
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
    context=("classifier", "scene"),
)


# ----------------------------------------------------------------------------------------------
# 3. A torchvision ResNet-18 with random weights, on the lesson's photo


def random_resnet18() -> nn.Module:
    """torchvision's ResNet-18 after ``torch.manual_seed(SEED)``, in eval mode: the network the
    lesson builds (the global random state is left as it was)."""
    from torchvision.models import resnet18

    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        return resnet18(weights=None).eval()


@torch.no_grad()
def _outputs(net: nn.Module, layer: str, x: torch.Tensor
             ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """The output of ``layer`` (None when it never ran), the pooling's input and the logits."""
    with capture(net, "avgpool", "input") as pooled, capture(net, layer, "output") as chosen:
        logits = net(x)[0]
    return chosen.get("features"), pooled["features"], logits


def _check_layer(value: Any, net: nn.Module) -> str | None:
    layer = text(value, "random_resnet_layer")
    expect(layer in dict(net.named_modules()), f"{layer!r}: ResNet-18 has no module of "
           "that name; list them with [name for name, _ in net.named_modules()]")
    if layer == "":
        return "'' is the whole network; which module's output does avgpool average?"
    if layer == "avgpool":
        return ("avgpool is the pooling itself (its output is 1x1); which module's output does "
                "it average?")
    if layer.endswith("conv2") and layer.startswith("layer4.1"):
        return ("that is the 2020 tutorial's layer: its output comes before bn2, the residual "
                "addition and the ReLU, so the pooling never sees it")
    return None


def _check_cams(got: torch.Tensor, truth: torch.Tensor) -> str | None:
    k, h, w = truth.shape
    if got.ndim == 2:
        return (f"that is one map; give the maps of all {k} classes ({k}x{h}x{w}): with "
                "net.fc.weight the einsum keeps the class index, \"ck,khw->chw\"")
    if tuple(got.shape) == (k, w, h) and h != w:
        return f"the maps are {k}x{w}x{h}: transposed; rows should stay rows ({k}x{h}x{w})"
    if tuple(got.shape) != (k, h, w):
        return (f"the maps have shape {tuple(got.shape)}, the CAMs of the photo's tensor `x` "
                f"(step 1, the whole photo) are {k}x{h}x{w}: hook the layer during net(x)")
    if _close(got, torch.stack([_minmax(m) for m in truth])):
        return "those maps are min-max scaled; give the raw ones (mean + bias is the logit)"
    if not _close(got, truth):
        return ("not the CAMs of what avgpool averages on `x`: einsum \"ck,khw->chw\" of "
                "net.fc.weight with the hooked features (channels, rows, columns)")
    return None


def _near(got: torch.Tensor, want: torch.Tensor) -> bool:
    """Equal up to float32 rounding of a mean of a few hundred values:
    ``|got - want| <= 1e-5 (1 + max |want|)``."""
    return bool((got - want).abs().max() <= 1e-5 * (1 + float(want.abs().max())))


def _check_rebuilt(value: Any, cams: torch.Tensor, bias: torch.Tensor,
                   logits: torch.Tensor) -> str | None:
    """``value`` must be the learner's maps' means plus the biases (any order of adding, to
    float rounding), and so the logits to float rounding, but not the logits themselves."""
    k = len(logits)
    expect(isinstance(value, torch.Tensor), "`random_resnet_rebuilt` should be a torch tensor "
           f"of {k} values, not {type(value).__name__}")
    got = value.detach().double().cpu()
    expect(bool(torch.isfinite(got).all()), "`random_resnet_rebuilt` should be finite: it holds "
           "nan or inf")
    if got.numel() == k and tuple(got.shape) != (k,):
        return (f"`random_resnet_rebuilt` has shape {tuple(got.shape)}: give {k} values, "
                f"shape ({k},)")
    if tuple(got.shape) != (k,):
        return (f"`random_resnet_rebuilt` has shape {tuple(got.shape)}: give one value per "
                f"class, shape ({k},)")
    means = cams.double().mean(dim=(1, 2))
    own = means + bias.double()
    if torch.equal(value.detach().cpu().float(), logits) and not torch.equal(own.float(), logits):
        return ("`random_resnet_rebuilt` is the network's logits themselves; rebuild them from "
                "your maps, with the linear layer's biases")
    if not _near(got, own):
        if _near(got, means):
            return "`random_resnet_rebuilt` lacks the biases: add net.fc.bias to each map's mean"
        if _near(got, cams.double().sum(dim=(1, 2)) + bias.double()):
            return "`random_resnet_rebuilt` sums each map; the pooling averages it"
        return ("`random_resnet_rebuilt` is not each of your maps' mean plus its class's bias "
                "(one value per class, in class order)")
    if not _near(got, logits.double()):
        far = float((got - logits.double()).abs().max())
        return (f"your maps rebuild the logits only to {far:.2g}, more than float rounding: "
                "your maps are not exactly the CAMs of what avgpool averages on `x`")
    return None


def _check_error(value: Any, rebuilt: torch.Tensor, logits: torch.Tensor) -> str | None:
    """The number must be the largest difference of the learner's own ``rebuilt`` from the
    logits, as computed (float32 or float64: the same up to one rounding, 1e-12 relative)."""
    error = number(value, "random_resnet_identity_error")
    expect(error >= 0, f"{error:.3g} is not an error size: it is the largest difference in "
           "absolute value, never negative")
    mine = rebuilt.detach().cpu()
    gaps = ((mine - logits).abs(), (mine.double() - logits.double()).abs())
    exact = [float(g.max()) for g in gaps]
    if any(abs(error - e) <= 1e-12 * e for e in exact):
        return None
    if any(abs(error - float(g.mean())) <= 1e-6 * float(g.mean()) for g in gaps):
        return ("that is the mean difference over the classes; the identity's error is the "
                "largest one")
    return (f"{error:.3g} is not the largest difference between your random_resnet_rebuilt and "
            "the logits of the same pass (in absolute value, over all classes): compute it from "
            "that vector, and keep it as computed (not rounded, not copied)")


def _check_random_resnet(random_resnet_layer: Any, random_resnet_cams: Any,
                         random_resnet_rebuilt: Any, random_resnet_identity_error: Any, *,
                         classifier: Any, image: Any) -> str | None:
    classifier, image = _context(classifier, image, "image")
    net = random_resnet18()
    reason = _check_layer(random_resnet_layer, net)
    if reason:
        return reason
    layer = text(random_resnet_layer, "random_resnet_layer")
    x = classifier.preprocess(image, crop=False)
    chosen, pooled, logits = _outputs(net, layer, x)
    if chosen is None or chosen.shape != pooled.shape or not torch.equal(chosen, pooled):
        return f"the output of {layer!r} is not what avgpool averages"
    truth = torch.einsum("ck,khw->chw", net.fc.weight.detach(), pooled[0])
    cams = _tensor(random_resnet_cams, "random_resnet_cams")
    reason = _check_cams(cams, truth)
    if reason:
        return reason
    reason = _check_rebuilt(random_resnet_rebuilt, random_resnet_cams.detach().cpu(),
                            net.fc.bias.detach(), logits)
    if reason:
        return reason
    return _check_error(random_resnet_identity_error, random_resnet_rebuilt, logits)


random_resnet = Exercise(
    "ResNet-18's pooling",
    ("random_resnet_layer", "random_resnet_cams", "random_resnet_rebuilt",
     "random_resnet_identity_error"),
    _check_random_resnet,
    "Print the last lines of `net` (or `list(net.named_children())`): the block that runs just "
    "before `avgpool` gives it its input. Hook that module's output during `net(x)`, then with "
    "`net.fc.weight` (classes x channels) one einsum keeps the class index, `\"ck,khw->chw\"`. "
    "Rebuild every logit from its map as the identity says, all classes at once, and compare "
    "with the logits of that pass.",
    """
    random_resnet_layer = "layer4"
    resnet_store = {}
    handle = net.get_submodule(random_resnet_layer).register_forward_hook(
        lambda module, inputs, output: resnet_store.update(features=output[0]))
    try:
        resnet_logits = net(x)[0]  # the photo of step 1: the whole photo
    finally:
        handle.remove()
    random_resnet_cams = torch.einsum("ck,khw->chw", net.fc.weight, resnet_store["features"])
    random_resnet_rebuilt = random_resnet_cams.mean(dim=(1, 2)) + net.fc.bias  # one per class
    random_resnet_identity_error = float((random_resnet_rebuilt - resnet_logits).abs().max())
    """,
    context=("classifier", "image"),
)

EXERCISES: tuple[Exercise, ...] = (transposition, second_class, random_resnet)
