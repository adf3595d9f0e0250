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
def instructor_module(monkeypatch: pytest.MonkeyPatch, tmp_path) -> str:
    module = types.ModuleType("my_course_models")
    module.tiny = lambda: Classifier("tiny", nn.Sequential(nn.Flatten(), nn.LazyLinear(3)),
                                     ["a", "b", "c"])
    module.not_a_classifier = lambda: nn.Linear(2, 2)
    module.value = 3

    def needs_args(path):
        return module.tiny()

    def raises():
        raise RuntimeError("weights file missing")

    def leaves():
        raise SystemExit(3)

    def two_outputs():
        return Classifier("pair", nn.Sequential(nn.Flatten(), nn.LazyLinear(3)), ["a", "b"])

    def returns_tuple():
        class Pair(nn.Module):
            def forward(self, x):
                return x.mean(), x.mean()
        return Classifier("pair", Pair(), ["a"])

    module.needs_args, module.raises, module.leaves = needs_args, raises, leaves
    module.two_outputs, module.returns_tuple = two_outputs, returns_tuple
    monkeypatch.setitem(sys.modules, "my_course_models", module)
    folder = tmp_path / "course"
    folder.mkdir()
    (folder / "broken_course.py").write_text("raise RuntimeError('boom at import')\n")
    (folder / "needs_timm.py").write_text("import timm_not_installed_xyz\n")
    monkeypatch.syspath_prepend(str(folder))
    return "my_course_models"


def test_load_classifier_takes_module_colon_function(instructor_module: str) -> None:
    classifier = load_classifier(f"{instructor_module}:tiny")
    assert isinstance(classifier, Classifier) and classifier.categories == ["a", "b", "c"]


@pytest.mark.parametrize(("spec", "says"), [
    ("my_course_models:not_a_classifier", "returned Linear, not a Classifier"),
    ("my_course_models:value", "has no Python function 'value'"),
    ("my_course_models:nothing", "has no Python function 'nothing'"),
    ("no_such_package_xyz.models:build", "no module named 'no_such_package_xyz'"),
    (":build", 'give "package.module:function"'),
    (".relative:build", 'give "package.module:function"'),
    ("my_course_models:", 'give "package.module:function"'),
    ("my_course_models:needs_args", "needs_args() must take no arguments"),
    ("my_course_models:raises", "raises() raised RuntimeError: weights file missing"),
    ("my_course_models:leaves", "leaves() raised SystemExit"),
    ("my_course_models:two_outputs", "returns (1, 3); a lesson needs logits of shape (1, 2)"),
    ("my_course_models:returns_tuple", "returns tuple; a lesson needs logits"),
    ("builtins:exit", "has no Python function 'exit'"),
    ("builtins:breakpoint", "has no Python function 'breakpoint'"),
    ("os:system", "has no Python function 'system'"),
    ("broken_course:build",
     "importing 'broken_course' raised RuntimeError: boom at import"),
    ("needs_timm:build", "no module named 'timm_not_installed_xyz' (imported by 'needs_timm'"),
    ("xai_tutorial.__main__:main", "main() raised SystemExit"),
])
def test_a_bad_module_function_is_one_clear_error(instructor_module: str, spec: str,
                                                  says: str) -> None:
    with pytest.raises(InputError) as error:
        load_classifier(spec)
    assert says in str(error.value) and "\n" not in str(error.value)
    assert len(str(error.value)) < 500


def test_a_huge_spec_is_capped() -> None:
    with pytest.raises(InputError) as error:
        load_classifier("x" * 100_000 + ".y:f")
    assert len(str(error.value)) < 500


@pytest.mark.parametrize(("fields", "says"), [
    ({"model": "resnet"}, "model should be a torch.nn.Module, not str"),
    ({"categories": "abc"}, "categories should be a list of class names"),
    ({"categories": [1, 2]}, "categories should be a list of class names"),
    ({"resize": -1}, "resize -1: should be a whole number of pixels"),
    ({"crop": 2.5}, "crop 2.5: should be a whole number of pixels"),
    ({"std": (0, 0, 0)}, "std (0, 0, 0) should be three finite numbers above 0"),
    ({"mean": (0.5, 0.5)}, "mean (0.5, 0.5) should be three finite numbers"),
    ({"mean": (float("nan"), 0, 0)}, "should be three finite numbers"),
])
def test_a_classifier_checks_its_fields(fields: dict, says: str) -> None:
    arguments = {"model": nn.Identity(), "categories": ["a"]} | fields
    with pytest.raises(InputError, match="Classifier 'mine'") as error:
        Classifier("mine", arguments.pop("model"), arguments.pop("categories"), **arguments)
    assert says in str(error.value)


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


def test_spatial_layers_name_a_model_that_needs_more_than_a_batch() -> None:
    class NeedsMask(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x, mask):
            return self.conv(x) * mask

    with pytest.raises(InputError, match="NeedsMask: cannot run on a batch alone"):
        spatial_layers(NeedsMask(), torch.zeros(1, 3, 8, 8))
    with pytest.raises(InputError, match="has no feature maps"):
        block_at_stride(spatial_layers(nn.Sequential(nn.Flatten()), torch.zeros(1, 3, 4, 4)), 16)


def test_a_signed_style_picks_the_diverging_map_unless_told() -> None:
    from xai_tutorial.core.heatmap import HeatmapStyle

    assert HeatmapStyle().cmap == DEFAULT_CMAP
    assert HeatmapStyle(scale="signed").cmap == DIVERGING_CMAP
    assert HeatmapStyle(scale="signed", cmap="PuOr").cmap == "PuOr"
    assert HeatmapStyle.of(HeatmapStyle(scale="signed"), alpha=0.2).cmap == DIVERGING_CMAP
