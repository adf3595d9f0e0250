"""The core pieces that make lessons portable: an instructor's model by ``module:function``,
layers found from the structure, checkers that read the lesson's own objects, signed colours."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from xai_tutorial import Classifier, InputError, load_classifier
from xai_tutorial.core.heatmap import DEFAULT_CMAP, DIVERGING_CMAP, scale_maps
from xai_tutorial.core.hooks import block_at_stride, hook_count, spatial_layers
from xai_tutorial.exercises import Exercise, Outcome


@pytest.fixture
def instructor_module(monkeypatch: pytest.MonkeyPatch) -> str:
    module = types.ModuleType("my_course_models")
    module.tiny = lambda: Classifier("tiny", nn.Sequential(nn.Flatten(), nn.LazyLinear(3)),
                                     ["a", "b", "c"])
    module.not_a_classifier = lambda: nn.Linear(2, 2)
    module.value = 3
    monkeypatch.setitem(sys.modules, "my_course_models", module)
    return "my_course_models"


def test_load_classifier_takes_module_colon_function(instructor_module: str) -> None:
    classifier = load_classifier(f"{instructor_module}:tiny")
    assert isinstance(classifier, Classifier) and classifier.categories == ["a", "b", "c"]


@pytest.mark.parametrize(("spec", "says"), [
    ("my_course_models:not_a_classifier", "returned Linear, not a Classifier"),
    ("my_course_models:value", "has no function 'value'"),
    ("my_course_models:nothing", "has no function 'nothing'"),
    ("no_such_package_xyz.models:build", "cannot import 'no_such_package_xyz.models'"),
    (":build", 'give "package.module:function"'),
    ("my_course_models:", 'give "package.module:function"'),
])
def test_a_bad_module_function_is_one_clear_error(instructor_module: str, spec: str,
                                                  says: str) -> None:
    with pytest.raises(InputError) as error:
        load_classifier(spec)
    assert says in str(error.value) and "\n" not in str(error.value)


def test_registered_names_still_work_and_unknown_ones_are_named() -> None:
    with pytest.raises(Exception, match="nosuchmodel"):
        load_classifier("nosuchmodel")


def test_spatial_layers_find_the_last_convolution_and_a_block_at_stride_16() -> None:
    torch.manual_seed(0)
    model = resnet18(weights=None).train()
    x = torch.randn(1, 3, 64, 96)  # not square
    layers = spatial_layers(model, x)
    assert model.training and hook_count(model) == 0  # modes restored, hooks removed
    convs = [layer for layer in layers if layer.kind == "Conv2d"]
    assert convs[-1].name == "layer4.1.conv2"  # the 2020 tutorial's (wrong) layer
    block = block_at_stride(layers, 16)
    assert block.name == "layer3" and (block.height, block.width) == (4, 6)
    assert block_at_stride(layers, 32).name == "layer4"
    assert "avgpool" not in [layer.name for layer in layers]  # pooled to 1 x 1: not a map
    with pytest.raises(InputError, match="no layer has stride 64"):
        block_at_stride(layers, 64)
    assert [layer.name for layer in layers].count("layer4.1.conv2") == 1


def _needs_context(answer: int, *, classifier: int, image: int) -> str | None:
    return None if answer == classifier * image else f"{answer} is not {classifier * image}"


CONTEXT_EXERCISE = Exercise("Product", ("answer",), _needs_context, "", "",
                            context=("classifier", "image"))


def test_a_checker_gets_the_lessons_own_objects(capsys: pytest.CaptureFixture[str]) -> None:
    assert CONTEXT_EXERCISE.check({"answer": 6, "classifier": 2, "image": 3})
    # the same answer is wrong for another model: the truth follows the namespace's objects
    result = CONTEXT_EXERCISE.check({"answer": 6, "classifier": 5, "image": 3})
    assert result.outcome is Outcome.NOT_YET and "6 is not 15" in result.line
    capsys.readouterr()


def test_a_missing_lesson_object_is_not_attempted_not_an_error() -> None:
    result = CONTEXT_EXERCISE.evaluate({"answer": 6, "image": 3})
    assert result.outcome is Outcome.NOT_ATTEMPTED
    assert "`classifier` not defined" in result.line and "cells above" in result.line


def test_defaults_are_not_rainbows_and_signed_maps_are_centred_on_zero() -> None:
    assert DEFAULT_CMAP not in {"jet", "hsv", "rainbow", "turbo", "nipy_spectral"}
    assert DIVERGING_CMAP in {"RdBu_r", "RdBu", "coolwarm", "PuOr", "BrBG", "PiYG"}
    signed = torch.tensor([[-2.0, 0.0, 1.0], [0.5, -1.0, 2.0]])
    scaled = scale_maps(signed, "signed")
    assert float(scaled[0, 1]) == 0.5  # zero is the middle colour
    assert float(scaled[0, 0]) == 0.0 and float(scaled[1, 2]) == 1.0  # symmetric range
    assert float(scaled[0, 2]) == 0.75
    only_positive = scale_maps(torch.tensor([[0.0, 1.0]]), "signed")
    assert only_positive.tolist() == [[0.5, 1.0]]  # not stretched to the full range
