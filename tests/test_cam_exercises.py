"""Lesson 02's exercises: right answers pass, wrong ones fail with their reason, missing ones are
"not attempted". Answers are built as a learner would: a forward hook removed in `finally`, one
einsum, the tutorial's `.T` reproduced with `permute`."""

from __future__ import annotations

import pytest
import torch
import torchvision

from xai_tutorial import cam_exercises as ex
from xai_tutorial import load_image
from xai_tutorial.cam import find_cam_layers, hook_count
from xai_tutorial.exercises import Outcome


def outcome(exercise, **answers):
    result = exercise.evaluate(answers)
    return result.outcome, result.line


def pooled_features(model, layer, x):
    """The input of ``layer`` during one forward pass, as the lesson writes it by hand."""
    store = {}
    handle = model.get_submodule(layer).register_forward_hook(
        lambda module, inputs, output: store.update(features=inputs[0]))
    try:
        with torch.no_grad():
            logits = model(x)[0]
    finally:
        handle.remove()
    return store["features"][0], logits


def photo_features(bundled, image):
    """``(features, logits, fc)`` of the bundled model for ``image`` (the whole photo)."""
    pooling, fc_name = find_cam_layers(bundled.model)
    x = bundled.preprocess(load_image(image), crop=False)
    features, logits = pooled_features(bundled.model, pooling, x)
    return features, logits, bundled.model.get_submodule(fc_name)


@pytest.fixture(scope="module")
def scene(request):
    features, logits, fc = photo_features(request.getfixturevalue("bundled"), ex.SCENE)
    order = logits.argsort(descending=True)
    maps = {int(c): torch.einsum("k,khw->hw", fc.weight[c], features).detach() for c in order[:2]}
    return int(order[0]), int(order[1]), maps


# -- exercise 2: the second-best class -------------------------------------------------------------


def test_second_class_right_answer_passes(scene):
    _, second, maps = scene
    cam = maps[second]
    where = divmod(int(cam.argmax()), cam.shape[1])
    answer = dict(second_class_index=second, second_class_map=cam, second_class_peak=where)
    assert outcome(ex.second_class, **answer)[0] is Outcome.CORRECT
    answer["second_class_index"] = torch.tensor(second)  # an integer tensor is an index too
    answer["second_class_peak"] = list(where)
    assert outcome(ex.second_class, **answer)[0] is Outcome.CORRECT


def test_second_class_wrong_answers_say_why(scene):
    best, second, maps = scene
    cam = maps[second]
    where = divmod(int(cam.argmax()), cam.shape[1])
    scaled = (cam - cam.min()) / (cam.max() - cam.min())
    big = torch.nn.functional.interpolate(cam[None, None], scale_factor=4.0)[0, 0]
    assert where[0] != where[1]
    cases = {
        "most probable one": (best, cam, where),
        "not the second most probable": (7, cam, where),
        "class index (an int)": (float(second), cam, where),
        "transposed": (second, cam.T, where),
        "before any upsampling": (second, big, where),
        "center-cropped": (second, cam[:, :cam.shape[0]], where),  # a square map: the crop
        "min-max scaled": (second, scaled, where),
        "map of the most probable class": (second, maps[best], where),
        "misses the logit": (second, cam + 1.0, where),
        "(column, row)": (second, cam, where[::-1]),
        "largest value is not at": (second, cam, (where[0], (where[1] + 3) % cam.shape[1])),
        "(row, column) pair": (second, cam, int(cam.argmax())),
        "should be a torch tensor": (second, cam.numpy(), where),
        "2-D map": (second, cam[None], where),
    }
    for reason, (index, map_, peak_) in cases.items():
        result, line = outcome(ex.second_class, second_class_index=index,
                               second_class_map=map_, second_class_peak=peak_)
        assert result is Outcome.NOT_YET, reason
        assert reason in line, (reason, line)


def test_second_class_not_attempted():
    result, line = outcome(ex.second_class, second_class_index=3)
    assert result is Outcome.NOT_ATTEMPTED and "`second_class_map`" in line


# -- exercise 1: the tutorial's transposition ------------------------------------------------------


@pytest.fixture(scope="module")
def chelsea(request):
    features, logits, fc = photo_features(request.getfixturevalue("bundled"), ex.PHOTO)
    return features, fc.weight[int(logits.argmax())].detach()


def test_transposition_right_answer_passes(chelsea):
    features, weights = chelsea
    tutorial = (features.permute(2, 1, 0) * weights).sum(2)
    assert outcome(ex.transposition, tutorial_map=tutorial,
                   identity_catches_it=False)[0] is Outcome.CORRECT


def test_transposition_wrong_answers_say_why(chelsea):
    features, weights = chelsea
    tutorial = (features.permute(2, 1, 0) * weights).sum(2)
    right = torch.einsum("k,khw->hw", weights, features)
    h, w = right.shape
    cases = {
        "transposing moves values": (tutorial, True),
        "that is the correct map": (right, False),
        f"is {w}x{h} (columns x rows)": (right + 1, False),
        "not the tutorial's map": (tutorial * 2, False),
        "True or False": (tutorial, "no"),
        "has shape": (tutorial[None], False),
    }
    for reason, (map_, caught) in cases.items():
        result, line = outcome(ex.transposition, tutorial_map=map_, identity_catches_it=caught)
        assert result is Outcome.NOT_YET, reason
        assert reason in line, (reason, line)


def test_transposition_not_attempted():
    assert outcome(ex.transposition)[0] is Outcome.NOT_ATTEMPTED


# -- exercise 3: a torchvision ResNet-18 with random weights ---------------------------------------


def identity_error(layer: str) -> float:
    """What a learner computes: seeded random ResNet-18, hook the layer's output, einsum."""
    torch.manual_seed(ex.SEED)
    net = torchvision.models.resnet18(weights=None).eval()
    store = {}
    handle = net.get_submodule(layer).register_forward_hook(
        lambda module, inputs, output: store.update(features=output[0]))
    try:
        with torch.no_grad():
            logits = net(torch.randn(1, 3, 160, 224))[0]
    finally:
        handle.remove()
    assert hook_count(net) == 0
    cams = torch.einsum("ck,khw->chw", net.fc.weight.detach(), store["features"])
    return float((cams.mean(dim=(1, 2)) + net.fc.bias.detach() - logits).abs().max())


def test_random_resnet_right_answers_pass():
    error = identity_error("layer4")
    assert error < 1e-4
    for layer in ("layer4", "layer4.1"):  # the block and its last unit give the same tensor
        answer = dict(random_resnet_layer=layer, random_resnet_identity_error=error)
        assert outcome(ex.random_resnet, **answer)[0] is Outcome.CORRECT, layer


def test_random_resnet_wrong_answers_say_why():
    wrong_error = identity_error("layer4.1.conv2")
    assert wrong_error > 1e-2  # the tutorial's layer breaks the identity
    cases = {
        "tutorial's layer": ("layer4.1.conv2", wrong_error),
        "pooling itself": ("avgpool", 0.0),
        "is not what avgpool averages": ("layer3", 0.0),
        "no module of that name": ("layer5", 0.0),
        "layer's name": (4, 0.0),
        "should be ~1e-6": ("layer4", wrong_error),
        "not an error size": ("layer4", float("nan")),
        "should be a number": ("layer4", "small"),
    }
    for reason, (layer, error) in cases.items():
        result, line = outcome(ex.random_resnet, random_resnet_layer=layer,
                               random_resnet_identity_error=error)
        assert result is Outcome.NOT_YET, reason
        assert reason in line, (reason, line)


def test_random_resnet_checker_leaves_the_global_seed_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ex._random_resnet.cache_clear()
    ex.random_resnet.evaluate({"random_resnet_layer": "layer4", "random_resnet_identity_error": 0})
    assert torch.equal(torch.rand(3), expected)
