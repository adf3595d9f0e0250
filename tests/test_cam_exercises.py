"""Lesson 02's exercises: right answers pass, wrong ones fail with their reason, missing ones are
"not attempted". Answers are built as a learner would: a forward hook removed in `finally`, one
einsum, the tutorial's `.T` reproduced with `permute`.

The checkers follow the lesson's own objects (``classifier``, ``image``, ``scene`` in the
namespace): the right answer for another model and photo passes, the bundled model's answer is
then wrong, and exercise 3's number must follow from the maps it comes with (a guessed 0 fails).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from xai_tutorial import Classifier, load_image
from xai_tutorial import cam_exercises as ex
from xai_tutorial.cam import cam_layers, hook_count
from xai_tutorial.exercises import Outcome

SCENE, PHOTO = "cat_and_coffee", "chelsea"  # the lesson's default SCENE and PHOTO


class SmallNet(nn.Module):
    """conv 3x3 -> ReLU -> GAP -> Linear(8 -> 5), seeded random weights: a CAM-able model that is
    not the bundled one."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.relu(self.conv(x))), 1))


@pytest.fixture(scope="module")
def small() -> Classifier:
    torch.manual_seed(3)
    return Classifier("small", SmallNet().eval(), list("abcde"), resize=24, crop=24)


def random_photo(seed: int, size: tuple[int, int]) -> Image.Image:
    """A photo the series does not ship: noise, ``size`` = (width, height), not square."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def outcome(exercise, context, **answers):
    result = exercise.evaluate({**context, **answers})
    return result.outcome, result.line


def pooled_features(classifier, picture):
    """``(features, logits, fc)``: the input of the pooling during one forward pass on the whole
    ``picture``, as the lesson writes it by hand."""
    pooling, fc = cam_layers(classifier)
    x = classifier.preprocess(load_image(picture), crop=False)
    store = {}
    handle = classifier.model.get_submodule(pooling).register_forward_hook(
        lambda module, inputs, output: store.update(features=inputs[0]))
    try:
        with torch.no_grad():
            logits = classifier.model(x)[0]
    finally:
        handle.remove()
    return store["features"][0], logits, fc


def second_class_answer(classifier, scene):
    features, logits, fc = pooled_features(classifier, scene)
    order = logits.argsort(descending=True)
    maps = {int(c): torch.einsum("k,khw->hw", fc.weight[c], features).detach() for c in order[:2]}
    best, second = int(order[0]), int(order[1])
    cam = maps[second]
    where = divmod(int(cam.argmax()), cam.shape[1])
    return best, second, maps, where


def tutorial_answer(classifier, picture):
    features, logits, fc = pooled_features(classifier, picture)
    weights = fc.weight[int(logits.argmax())].detach()
    return features, weights, (features.permute(2, 1, 0) * weights).sum(2)


# -- exercise 2: the second-best class -------------------------------------------------------------


@pytest.fixture(scope="module")
def scene_context(request):
    return {"classifier": request.getfixturevalue("bundled"), "scene": load_image(SCENE)}


@pytest.fixture(scope="module")
def scene(scene_context):
    return second_class_answer(scene_context["classifier"], scene_context["scene"])


def test_second_class_right_answer_passes(scene, scene_context):
    _, second, maps, where = scene
    answer = dict(second_class_index=second, second_class_map=maps[second],
                  second_class_peak=where)
    assert outcome(ex.second_class, scene_context, **answer)[0] is Outcome.CORRECT
    answer["second_class_index"] = torch.tensor(second)  # an integer tensor is an index too
    answer["second_class_peak"] = list(where)
    assert outcome(ex.second_class, scene_context, **answer)[0] is Outcome.CORRECT


def test_second_class_takes_indices_and_peaks_as_tensors_and_arrays(scene, scene_context):
    """What a learner gets from torch or numpy without converting: a 0-d tensor or numpy integer
    for the index, a 2-element tensor or array (``(m == m.max()).nonzero()[0]``) for the peak."""
    _, second, maps, where = scene
    m = maps[second]
    nonzero = (m == m.max()).nonzero()[0]
    assert tuple(int(v) for v in nonzero) == where
    for index, peak_ in [
        (torch.tensor(second), nonzero),
        (np.int64(second), nonzero.numpy()),
        (np.array(second), torch.tensor(where, dtype=torch.int32)),
        (second, tuple(torch.tensor(v) for v in where)),
        (second, (m.argmax() // m.shape[1], m.argmax() % m.shape[1])),
        (torch.tensor([second]), np.array(where)),
    ]:
        result, line = outcome(ex.second_class, scene_context, second_class_index=index,
                               second_class_map=m, second_class_peak=peak_)
        assert result is Outcome.CORRECT, (type(index), type(peak_), line)
    for index, peak_, message in [
        (torch.tensor(float(second)), where, "whole number"),
        (np.float64(second), where, "whole number"),
        (True, where, "whole number"),
        (second, torch.tensor([float(v) for v in where]), "pair of integers"),
        (second, nonzero[None], "pair of integers"),
        (second, np.array([*where, 0]), "pair of integers"),
        (second, where[0], "pair of integers"),
    ]:
        result, line = outcome(ex.second_class, scene_context, second_class_index=index,
                               second_class_map=m, second_class_peak=peak_)
        assert result is Outcome.NOT_YET and message in line, (index, peak_, line)


def test_second_class_wrong_answers_say_why(scene, scene_context):
    best, second, maps, where = scene
    cam = maps[second]
    scaled = (cam - cam.min()) / (cam.max() - cam.min())
    big = torch.nn.functional.interpolate(cam[None, None], scale_factor=4.0)[0, 0]
    classifier = scene_context["classifier"]
    order = classifier.logits(classifier.preprocess(scene_context["scene"], crop=False))[0]
    far = int(order.argsort(descending=True)[7])
    assert where[0] != where[1]
    cases = {
        "most probable class of the scene": (best, cam, where),
        "number 8 by probability": (far, cam, where),
        "is not a class index": (1000, cam, where),
        "should be a whole number (an int)": (float(second), cam, where),
        "transposed": (second, cam.T, where),
        "before any upsampling": (second, big, where),
        "center-cropped": (second, cam[:, :cam.shape[0]], where),  # a square map: the crop
        "min-max scaled": (second, scaled, where),
        "map of the most probable class": (second, maps[best], where),
        "misses the logit": (second, cam + 1.0, where),
        "`second_class_map` should be finite": (second, cam * float("nan"), where),
        "(column, row)": (second, cam, where[::-1]),
        "largest value is not at": (second, cam, (where[0], (where[1] + 3) % cam.shape[1])),
        "(row, column) pair": (second, cam, int(cam.argmax())),
        "should be a torch tensor": (second, cam.numpy(), where),
        "2-D map": (second, cam[None], where),
    }
    for reason, (index, map_, peak_) in cases.items():
        result, line = outcome(ex.second_class, scene_context, second_class_index=index,
                               second_class_map=map_, second_class_peak=peak_)
        assert result is Outcome.NOT_YET, reason
        assert reason in line, (reason, line)


def test_second_class_follows_the_lessons_model_and_scene(scene, small):
    """Another model and another scene: its own right answer passes, the bundled one does not."""
    context = {"classifier": small, "scene": random_photo(5, (60, 36))}
    _, second, maps, where = second_class_answer(small, context["scene"])
    right = dict(second_class_index=second, second_class_map=maps[second],
                 second_class_peak=where)
    assert outcome(ex.second_class, context, **right)[0] is Outcome.CORRECT
    _, bundled_second, bundled_maps, bundled_where = scene
    result, line = outcome(ex.second_class, context, second_class_index=second,
                           second_class_map=bundled_maps[bundled_second],
                           second_class_peak=bundled_where)
    assert result is Outcome.NOT_YET and "the map is" in line, line


def test_second_class_of_the_cropped_scene_is_named(small):
    """A photo whose centre crop ranks another class second: that answer is told to use the
    whole scene."""
    for seed in range(50):
        picture = random_photo(seed, (72, 24))
        whole = small.logits(small.preprocess(picture, crop=False))[0].argsort(descending=True)
        cropped = small.logits(small.preprocess(picture))[0].argsort(descending=True)
        if int(cropped[1]) not in (int(whole[0]), int(whole[1])):
            break
    else:
        pytest.fail("no photo whose crop changes the second class")
    result, line = outcome(ex.second_class, {"classifier": small, "scene": picture},
                           second_class_index=int(cropped[1]), second_class_map=None,
                           second_class_peak=None)
    assert result is Outcome.NOT_YET and "centre-cropped scene" in line, line


def test_second_class_partly_answered_or_not_checked(scene_context):
    result, line = outcome(ex.second_class, scene_context, second_class_index=3)
    assert result is Outcome.NOT_YET and "`second_class_map`" in line
    _, line = outcome(ex.second_class, {}, second_class_index=3, second_class_map=None,
                      second_class_peak=None)
    assert "`classifier`, `scene` not defined" in line, line


# -- exercise 1: the tutorial's transposition ------------------------------------------------------


@pytest.fixture(scope="module")
def photo_context(request):
    return {"classifier": request.getfixturevalue("bundled"), "image": load_image(PHOTO)}


@pytest.fixture(scope="module")
def chelsea(photo_context):
    return tutorial_answer(photo_context["classifier"], photo_context["image"])


def test_transposition_right_answer_passes(chelsea, photo_context):
    tutorial = chelsea[2]
    for caught in (False, np.bool_(False), torch.tensor(False)):  # numpy's and torch's too
        assert outcome(ex.transposition, photo_context, tutorial_map=tutorial,
                       identity_catches_it=caught)[0] is Outcome.CORRECT, type(caught)


def test_transposition_wrong_answers_say_why(chelsea, photo_context):
    features, weights, tutorial = chelsea
    right = torch.einsum("k,khw->hw", weights, features)
    h, w = right.shape
    fc = cam_layers(photo_context["classifier"])[1]
    other = (features.permute(2, 1, 0) * fc.weight[7].detach()).sum(2)
    scaled = (tutorial - tutorial.min()) / (tutorial.max() - tutorial.min())
    cases = {
        "transposing moves values": (tutorial, True),
        "that is the correct map": (right, False),
        f"tutorial's map is {w}x{h} (columns x rows)": (right[:, :h], False),
        "tutorial's map of class 7": (other, False),
        "min-max scaled": (scaled, False),
        "not the tutorial's map": (tutorial * 2, False),
        "True or False": (tutorial, "no"),
        "should be finite": (tutorial * float("nan"), False),
        "2-D map": (tutorial[None], False),
    }
    for reason, (map_, caught) in cases.items():
        result, line = outcome(ex.transposition, photo_context, tutorial_map=map_,
                               identity_catches_it=caught)
        assert result is Outcome.NOT_YET, reason
        assert reason in line, (reason, line)


def test_transposition_follows_the_lessons_model_and_photo(chelsea, small):
    context = {"classifier": small, "image": random_photo(7, (50, 30))}
    tutorial = tutorial_answer(small, context["image"])[2]
    w, h = tutorial.shape  # (columns, rows): a wide photo's map, transposed
    assert w > h
    assert outcome(ex.transposition, context, tutorial_map=tutorial,
                   identity_catches_it=False)[0] is Outcome.CORRECT
    result, line = outcome(ex.transposition, context, tutorial_map=chelsea[2],
                           identity_catches_it=False)
    assert result is Outcome.NOT_YET and f"{w}x{h} (columns x rows)" in line, line


def test_transposition_not_attempted(photo_context):
    assert outcome(ex.transposition, photo_context)[0] is Outcome.NOT_ATTEMPTED


# -- exercise 3: a torchvision ResNet-18 with random weights, on the lesson's photo ----------------


def resnet_answer(layer: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """What a learner computes: seeded random ResNet-18, hook the layer's output during net(x),
    one einsum for all classes, the logits rebuilt from the maps, the identity's largest error."""
    torch.manual_seed(ex.SEED)
    net = torchvision.models.resnet18(weights=None).eval()
    store = {}
    handle = net.get_submodule(layer).register_forward_hook(
        lambda module, inputs, output: store.update(features=output[0]))
    try:
        with torch.no_grad():
            logits = net(x)[0]
    finally:
        handle.remove()
    assert hook_count(net) == 0
    cams = torch.einsum("ck,khw->chw", net.fc.weight.detach(), store["features"])
    rebuilt = cams.mean(dim=(1, 2)) + net.fc.bias.detach()
    return cams, rebuilt, float((rebuilt - logits).abs().max())


def resnet_logits(x: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(ex.SEED)
    with torch.no_grad():
        return torchvision.models.resnet18(weights=None).eval()(x)[0]


@pytest.fixture(scope="module")
def resnet(photo_context):
    x = photo_context["classifier"].preprocess(photo_context["image"], crop=False)
    return x, *resnet_answer("layer4", x)


def resnet_outcome(context, layer="layer4", cams=None, rebuilt=None, error=None):
    answer = dict(random_resnet_layer=layer, random_resnet_cams=cams,
                  random_resnet_rebuilt=rebuilt, random_resnet_identity_error=error)
    return outcome(ex.random_resnet, context, **answer)


def test_random_resnet_right_answers_pass(resnet, photo_context):
    x, cams, rebuilt, error = resnet
    assert 0 < error < 1e-4
    for layer in ("layer4", "layer4.1"):  # the block and its last unit give the same tensor
        assert resnet_outcome(photo_context, layer, cams, rebuilt, error)[0] is Outcome.CORRECT
    # the number as numpy gives it, or a tensor; the vector rebuilt in float64, another order
    for number in (np.float32(error), np.float64(error), torch.tensor(error),
                   np.array([error])):
        assert resnet_outcome(photo_context, "layer4", cams, rebuilt, number)[0] \
            is Outcome.CORRECT, type(number)
    logits = resnet_logits(x)
    other = cams.double().flatten(1).sum(1) / cams[0].numel() + \
        resnet_answer("layer4", x)[1].double() - cams.double().mean(dim=(1, 2))
    other_error = float((other - logits.double()).abs().max())
    assert resnet_outcome(photo_context, "layer4", cams.double(), other, other_error)[0] \
        is Outcome.CORRECT


def test_random_resnet_guessed_or_copied_numbers_fail(resnet, photo_context):
    """With the right maps and vector in place, only the error of that vector passes: a guess
    within a factor of two, the number rounded as printed, or 0 fail."""
    x, cams, rebuilt, error = resnet
    for guess in (0, 0.0, 1e-4, error * 10, error / 2, error * 0.9, error * 1.4,
                  float(f"{error:.2g}"), 2e-7, 3e-7, 5e-7):
        result, line = resnet_outcome(photo_context, "layer4", cams, rebuilt, guess)
        assert result is Outcome.NOT_YET, guess
        assert "is not the largest difference" in line, line
        assert "abs().max()" not in line  # the reason does not print the formula
    # the logits themselves as the "rebuilt" vector (error 0): refused
    result, line = resnet_outcome(photo_context, "layer4", cams, resnet_logits(x), 0.0)
    assert result is Outcome.NOT_YET and "logits themselves" in line, line
    # the guess, with maps that are not the network's: refused for the maps
    result, line = resnet_outcome(photo_context, "layer4", torch.zeros_like(cams), rebuilt, 0)
    assert result is Outcome.NOT_YET and "not the CAMs" in line, line
    # and without the maps and the vector the number alone is not an answer
    result, line = outcome(ex.random_resnet, photo_context, random_resnet_layer="layer4",
                           random_resnet_identity_error=0)
    assert result is Outcome.NOT_YET and "`random_resnet_cams`" in line
    assert "`random_resnet_rebuilt`" in line


def test_random_resnet_wrong_answers_say_why(resnet, photo_context):
    x, cams, rebuilt, error = resnet
    wrong_cams, wrong_rebuilt, wrong_error = resnet_answer("layer4.1.conv2", x)
    assert wrong_error > 1e-2  # the tutorial's layer breaks the identity
    k, h, w = cams.shape
    scaled = torch.stack([(m - m.min()) / (m.max() - m.min()) for m in cams])
    other_input = resnet_answer("layer4", torch.randn(1, 3, 160, 224))[0]
    bias = rebuilt - cams.mean(dim=(1, 2))
    shifted = cams + 5e-4
    nan = float("nan")
    cases = {
        "tutorial's layer": ("layer4.1.conv2", wrong_cams, wrong_rebuilt, wrong_error),
        "pooling itself": ("avgpool", cams, rebuilt, error),
        "whole network": ("", cams, rebuilt, error),
        "is not what avgpool averages": ("layer3", cams, rebuilt, error),
        "no module of that name": ("layer5", cams, rebuilt, error),
        "`random_resnet_layer` should be a str": (4, cams, rebuilt, error),
        "maps of all 1000 classes": ("layer4", cams[0], rebuilt, error),
        "transposed": ("layer4", cams.transpose(1, 2), rebuilt, error),
        "hook the layer during net(x)": ("layer4", other_input, rebuilt, error),
        "min-max scaled": ("layer4", scaled, rebuilt, error),
        "not the CAMs": ("layer4", cams * 2, rebuilt, error),
        "`random_resnet_cams` should be finite": ("layer4", cams * nan, rebuilt, error),
        "should be a torch tensor": ("layer4", cams.numpy(), rebuilt, error),
        "lacks the biases": ("layer4", cams, cams.mean(dim=(1, 2)), error),
        "sums each map": ("layer4", cams, cams.sum(dim=(1, 2)) + bias, error),
        "shape (1000,)": ("layer4", cams, rebuilt[None], error),
        "`random_resnet_rebuilt` should be finite": ("layer4", cams, rebuilt * nan, error),
        "`random_resnet_rebuilt` should be a torch tensor": ("layer4", cams, rebuilt.tolist(),
                                                             error),
        "not each of your maps' mean": ("layer4", cams, rebuilt.flip(0), error),
        "rebuild the logits only to": ("layer4", shifted, shifted.mean(dim=(1, 2)) + bias,
                                       error),
        "mean difference": ("layer4", cams, rebuilt,
                            float((rebuilt - resnet_logits(x)).abs().mean())),
        "should be a finite number": ("layer4", cams, rebuilt, nan),
        "not an error size": ("layer4", cams, rebuilt, -error),
        "should be a number": ("layer4", cams, rebuilt, "small"),
    }
    assert (k, h) != (k, w)
    for reason, (layer, maps, vector, number) in cases.items():
        result, line = resnet_outcome(photo_context, layer, maps, vector, number)
        assert result is Outcome.NOT_YET, reason
        assert reason in line, (reason, line)
        assert "by nan" not in line and "to nan" not in line, line  # no reason built on nan


def test_random_resnet_follows_the_lessons_photo(resnet, small):
    """Exercise 3 runs on the lesson's photo tensor `x`: another classifier's preprocessing and
    another photo give other maps, and those pass."""
    context = {"classifier": small, "image": random_photo(11, (96, 64))}
    x = small.preprocess(context["image"], crop=False)
    right = resnet_answer("layer4", x)
    assert resnet_outcome(context, "layer4", *right)[0] is Outcome.CORRECT
    assert resnet_outcome(context, "layer4", *resnet[1:])[0] is Outcome.NOT_YET


def test_random_resnet_checker_leaves_the_global_seed_alone(resnet, photo_context):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    resnet_outcome(photo_context, "layer4", *resnet[1:])
    assert torch.equal(torch.rand(3), expected)


def test_context_of_the_wrong_type_gets_one_reason(resnet, photo_context, scene_context):
    """A str as `classifier`, a model, None or a tensor as the photo: one clear reason; a sample
    name as the photo is loaded."""
    answers = {"random_resnet_layer": "layer4", "random_resnet_cams": resnet[1],
               "random_resnet_rebuilt": resnet[2], "random_resnet_identity_error": resnet[3]}
    line = ex.random_resnet.evaluate({**photo_context, **answers, "classifier": "resnet18"}).line
    assert "`classifier` is not a Classifier (str): re-run the lesson's setup cells" in line
    result = ex.random_resnet.evaluate({**photo_context, **answers, "image": PHOTO})
    assert result.outcome is Outcome.CORRECT, result.line
    for bad in (None, torch.rand(3, 10, 30)):
        line = ex.second_class.evaluate({**scene_context, "scene": bad,
                                         "second_class_index": 1, "second_class_map": None,
                                         "second_class_peak": (0, 0)}).line
        assert f"`scene` is not an image ({type(bad).__name__})" in line, line
        assert "raised" not in line and "tensor(" not in line
    line = ex.transposition.evaluate({**photo_context, "classifier": photo_context[
        "classifier"].model, "tutorial_map": None, "identity_catches_it": False}).line
    assert "`classifier` is not a Classifier" in line, line


def test_second_class_tells_apart_the_tiny_maps_of_a_random_googlenet():
    """A randomly initialized GoogLeNet's CAMs are ~1e-12: an absolute tolerance would take any
    map for any other. The right answer passes, the top class's map and the transposed one do
    not."""
    torch.manual_seed(0)
    net = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True).eval()
    classifier = Classifier("googlenet", net, [f"class {i}" for i in range(1000)], resize=64,
                            crop=64)
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 160, 3), np.uint8))
    context = {"classifier": classifier, "scene": picture}
    best, second, maps, where = second_class_answer(classifier, picture)
    assert float(maps[second].abs().max()) < 1e-6  # tiny indeed
    right = dict(second_class_index=second, second_class_map=maps[second],
                 second_class_peak=where)
    assert outcome(ex.second_class, context, **right)[0] is Outcome.CORRECT
    result, line = outcome(ex.second_class, context, **{**right, "second_class_map": maps[best]})
    assert result is Outcome.NOT_YET and "most probable" in line
    result, line = outcome(ex.second_class, context,
                           **{**right, "second_class_map": maps[second] * 1.01})
    assert result is Outcome.NOT_YET and "misses the logit" in line
