"""Class Activation Maps: exact values on hand-built nets, the identity, hooks, the real model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hand_built import TinyNet
from PIL import Image
from torch import nn

from xai_tutorial import Classifier, InputError
from xai_tutorial.cam import (
    cam_layers,
    capture,
    class_activation_maps,
    find_cam_layers,
    hook_count,
    peak,
    tutorial_transposed_cam,
)
from xai_tutorial.cam_view import save_cam
from xai_tutorial.heatmap_view import (
    DEFAULT_CMAP,
    blend,
    colorize,
    heatmap_overlay,
    overlay,
    scale_maps,
    upsample,
)


@pytest.fixture
def tiny() -> Classifier:
    return Classifier("tiny", TinyNet(), ["a", "b", "c"], resize=2, crop=2,
                      mean=(0, 0, 0), std=(1, 1, 1))


def non_square_input() -> torch.Tensor:
    """(1, 3, 2, 3): two rows, three columns."""
    x = torch.zeros(1, 3, 2, 3)
    x[0, 0] = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x[0, 1] = torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 2.0]])  # the -1 is cut by the ReLU
    return x


def test_exact_maps_on_a_hand_built_net(tiny):
    result = class_activation_maps(tiny, non_square_input())
    f0 = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    f1 = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    assert result.maps.shape == (3, 2, 3)  # rows x columns, as in the input
    assert torch.equal(result.maps[0], f0)
    assert torch.equal(result.maps[1], 2 * f1)
    assert torch.equal(result.maps[2], f0 - f1)
    assert result.classes == [0, 1, 2]


def test_identity_on_the_hand_built_net(tiny):
    result = class_activation_maps(tiny, non_square_input())
    expected_logits = torch.tensor([3.5 + 0.5, 2 * 0.5 - 1.0, 3.5 - 0.5])
    assert torch.allclose(result.logits, expected_logits)
    assert result.identity_error() < 1e-6


def test_class_order_follows_the_request(tiny):
    result = class_activation_maps(tiny, non_square_input(), classes=[2, 0])
    assert result.classes == [2, 0]
    full = class_activation_maps(tiny, non_square_input())
    assert torch.equal(result.maps[0], full.maps[2]) and torch.equal(result.maps[1], full.maps[0])
    assert torch.equal(result.bias, torch.tensor([0.0, 0.5]))


def test_the_tutorial_transposes_non_square_maps(tiny):
    result = class_activation_maps(tiny, non_square_input(), classes=[0])
    buggy = tutorial_transposed_cam(result.features, result.weights[0])
    assert buggy.shape == (3, 2)  # columns x rows: transposed
    assert torch.equal(buggy, result.maps[0].T)


def test_hooks_are_removed_and_mode_restored(tiny):
    tiny.model.train()
    class_activation_maps(tiny, non_square_input())
    assert hook_count(tiny.model) == 0 and tiny.model.training
    def broken(_: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("fails inside the forward pass")

    tiny.model.relu.forward = broken
    with pytest.raises(InputError, match="cannot run on them \\(fails inside"):
        class_activation_maps(tiny, non_square_input())
    del tiny.model.relu.forward
    assert hook_count(tiny.model) == 0 and tiny.model.training
    with pytest.raises(KeyError), capture(tiny.model, "pool"):
        raise KeyError("anything")
    assert hook_count(tiny.model) == 0
    assert not any(k.startswith("features") for k in dict(tiny.model.named_parameters()))


def test_mixed_training_modes_are_restored_exactly(tiny):
    tiny.model.eval()
    tiny.model.conv.train()  # a model in mixed modes, e.g. while fine-tuning one layer
    class_activation_maps(tiny, non_square_input())
    assert [m.training for m in tiny.model.modules()] == [False, True, False, False, False]


def test_layer_discovery_and_overrides():
    from torchvision.models import resnet18

    assert find_cam_layers(resnet18(weights=None)) == ("avgpool", "fc")
    with pytest.raises(InputError, match="pass pooling_layer"):
        find_cam_layers(nn.Sequential(nn.Conv2d(3, 3, 1)))
    net = Classifier("tiny", TinyNet(), ["a", "b", "c"])
    with pytest.raises(InputError, match="'nope'"):
        class_activation_maps(net, non_square_input(), pooling_layer="nope")
    with pytest.raises(InputError, match="not a linear layer"):
        class_activation_maps(net, non_square_input(), fc_layer="conv")
    with pytest.raises(InputError, match="out of range"):
        class_activation_maps(net, non_square_input(), classes=[3])


def test_torchvision_resnet_identity():
    from torchvision.models import resnet18

    torch.manual_seed(0)
    net = Classifier("r18", resnet18(weights=None), [str(i) for i in range(1000)])
    result = class_activation_maps(net, torch.randn(1, 3, 96, 160))
    assert result.maps.shape == (1000, 3, 5)
    assert result.identity_error() < 1e-4


def test_upsample_keeps_rows_and_columns():
    small = torch.zeros(2, 4)
    small[0, 3] = 1.0  # top-right cell
    big = upsample(small, (20, 40))
    assert big.shape == (20, 40)
    row, col = peak(big)
    assert row < 5 and col >= 30


def test_scales():
    maps = torch.stack([torch.tensor([[0.0, 4.0]]), torch.tensor([[1.0, 2.0]])])
    minmax = scale_maps(maps, "minmax")
    assert torch.equal(minmax, torch.tensor([[[0.0, 1.0]], [[0.0, 1.0]]]))
    shared = scale_maps(maps, "shared")
    assert torch.equal(shared, torch.tensor([[[0.0, 1.0]], [[0.25, 0.5]]]))  # weaker looks weaker
    with pytest.raises(InputError, match="choose one of"):
        scale_maps(maps, "log")


def test_colormap_is_matplotlibs_in_rgb():
    import matplotlib

    jet = colorize(torch.tensor([[0.0, 1.0]]), "jet")
    expected = (np.array(matplotlib.colormaps["jet"]([0.0, 1.0]))[:, :3] * 255).round()
    assert np.array_equal(jet[0], expected.astype(np.uint8))
    assert jet[0, 1].tolist() == [128, 0, 0]  # jet's top is dark red, in RGB order
    with pytest.raises(InputError, match="not a matplotlib colormap"):
        colorize(torch.zeros(1, 1), "nope")


def test_alpha_is_heatmap_opacity():
    photo = np.full((2, 2, 3), 200, np.uint8)
    heat = np.zeros((2, 2, 3), np.uint8)
    assert np.array_equal(blend(photo, heat, 0.0), photo)
    assert np.array_equal(blend(photo, heat, 1.0), heat)
    assert blend(photo, heat, 0.25)[0, 0, 0] == 150
    with pytest.raises(InputError, match="between 0"):
        blend(photo, heat, 1.5)
    picture = Image.new("RGB", (6, 4), (10, 20, 30))
    assert overlay(picture, torch.zeros(2, 3), alpha=0.0).size == (6, 4)


def test_heatmap_overlay_runs_the_whole_chain():
    picture = Image.new("RGB", (40, 20), (200, 100, 0))
    raw = torch.tensor([[0.0, 0.0], [0.0, 8.0]])  # bottom-right cell hot
    heat, blended = heatmap_overlay(picture, raw, alpha=0.25, cmap="jet")
    assert heat.shape == blended.shape == (20, 40, 3) and heat.dtype == np.uint8
    expected = colorize(upsample(scale_maps(raw, "minmax"), (20, 40)), "jet")
    assert np.array_equal(heat, expected)
    assert np.array_equal(blended, blend(np.asarray(picture), expected, 0.25))
    weak = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    shared_heat, _ = heatmap_overlay(picture, weak, scale="shared",
                                     reference=torch.tensor([0.0, 8.0]))
    # the default colormap is the package's perceptually uniform one, not the tutorial's jet
    assert np.array_equal(shared_heat, colorize(upsample(weak / 8, (20, 40)), DEFAULT_CMAP))
    for options, words in [({"alpha": 2}, "alpha"), ({"scale": "log"}, "scale"),
                           ({"cmap": "nope"}, "colormap")]:
        with pytest.raises(InputError, match=words):
            heatmap_overlay(picture, raw, **options)


def test_every_default_colormap_is_magma_never_a_rainbow(tmp_path):
    """The chain, the figures, the colour bars and the files default to ``DEFAULT_CMAP``; jet
    stays available when asked for."""
    import inspect

    from xai_tutorial import cam_view, heatmap_view

    assert DEFAULT_CMAP == "magma"
    for function in (cam_view.plot_raw_map, cam_view.plot_overlays, heatmap_view.add_colorbar,
                     colorize):
        default = inspect.signature(function).parameters["cmap"].default
        assert default == DEFAULT_CMAP, function.__name__
    picture = Image.new("RGB", (40, 20), (200, 100, 0))
    raw = torch.tensor([[0.0, 1.0], [2.0, 8.0]])
    heat, _ = heatmap_overlay(picture, raw)
    assert np.array_equal(heat, colorize(upsample(scale_maps(raw), (20, 40)), "magma"))
    paths = save_cam(picture, raw, tmp_path)
    assert np.abs(np.asarray(Image.open(paths[0])).astype(int) - heat).mean() < 4  # a JPEG
    jet, _ = heatmap_overlay(picture, raw, cmap="jet")
    assert not np.array_equal(jet, heat)
    figure = cam_view.plot_overlays(picture, {"a": raw})
    assert figure.axes[0].images[0].get_array()[0, 0].tolist() == list(
        blend(np.asarray(picture), heat, 0.5)[0, 0])


def test_save_cam_writes_both_files_at_image_size(tmp_path):
    picture = Image.new("RGB", (50, 30), (0, 128, 255))
    heat_path, combined_path = save_cam(picture, torch.rand(3, 5), tmp_path / "out", alpha=0.4)
    assert [p.name for p in (heat_path, combined_path)] == ["heatmap.jpg", "combined.jpg"]
    assert Image.open(heat_path).size == (50, 30) and Image.open(combined_path).size == (50, 30)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["combined.jpg", "heatmap.jpg"]


def test_save_cam_bad_input_writes_nothing(tmp_path):
    picture = Image.new("RGB", (50, 30))
    with pytest.raises(InputError, match="alpha"):
        save_cam(picture, torch.rand(3, 5), tmp_path / "out", alpha=-1)
    assert not (tmp_path / "out").exists()
    (tmp_path / "file").write_text("keep me")
    with pytest.raises(InputError, match="is a file"):
        save_cam(picture, torch.rand(3, 5), tmp_path / "file")
    assert (tmp_path / "file").read_text() == "keep me"


def test_save_cam_writes_both_or_neither(tmp_path, monkeypatch):
    picture = Image.new("RGB", (50, 30))
    out = tmp_path / "out"
    (out / "combined.jpg").mkdir(parents=True)  # the second target cannot become a file
    with pytest.raises(InputError, match="combined.jpg"):
        save_cam(picture, torch.rand(3, 5), out)
    assert sorted(p.name for p in out.iterdir()) == ["combined.jpg"]  # no heatmap.jpg, no .part
    (out / "combined.jpg").rmdir()

    import os

    real_replace, calls = os.replace, []

    def fail_second(src, dst):  # the second move fails (e.g. the disk is full)
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_second)
    with pytest.raises(OSError, match="No space"):
        save_cam(picture, torch.rand(3, 5), out)
    assert list(out.iterdir()) == []  # the first file was moved, then removed again


# ----------------------------------------------------------------------------------------------
# The bundled, really pretrained model


def test_identity_for_all_1000_classes(bundled):
    result = class_activation_maps(bundled, "chelsea")
    assert result.maps.shape[0] == 1000
    assert result.features.shape[0] == 1280
    assert result.identity_error() < 1e-4
    assert hook_count(bundled.model) == 0


def test_whole_image_is_covered(bundled):
    result = class_activation_maps(bundled, "cat_and_coffee")
    assert result.image.size == (901, 300)
    height, width = result.input_size
    assert height == 224 and abs(width / height - 901 / 300) < 0.02  # no crop
    assert result.maps.shape[1:] == (7, 21)


CAT = 285  # Egyptian cat, the model's top class for cat_and_coffee
ESPRESSO = 967


@pytest.mark.parametrize(
    "sample, cat_side, cup_side",
    [("cat_and_coffee", lambda r, c: c < 451, lambda r, c: c >= 451),
     ("cat_over_coffee", lambda r, c: r < 300, lambda r, c: r >= 300)],
)
def test_cat_lights_up_the_cat_and_espresso_the_cup(bundled, sample, cat_side, cup_side):
    result = class_activation_maps(bundled, sample, [CAT, ESPRESSO])
    size = (result.image.height, result.image.width)
    cat_peak = peak(upsample(result.maps[0], size))
    cup_peak = peak(upsample(result.maps[1], size))
    assert cat_side(*cat_peak), cat_peak
    assert cup_side(*cup_peak), cup_peak


def test_matches_torchcam(bundled):
    from torchcam.methods import CAM

    x = bundled.preprocess("cat_and_coffee", crop=False)
    ours = class_activation_maps(bundled, x, [CAT, ESPRESSO])
    model = bundled.model
    theirs = []
    with CAM(model, target_layer="_swish", fc_layer="_fc") as extractor:
        for index in (CAT, ESPRESSO):  # torchcam takes one class per batch item
            scores = model(x)
            theirs.append(extractor(index, scores, normalized=False)[0][0])
    assert torch.allclose(torch.stack(theirs), ours.maps, atol=1e-4)
    assert hook_count(model) == 0


# ----------------------------------------------------------------------------------------------
# CAM only where CAM is exact: torchvision models with random weights (no download)


def _random_classifier(builder_name: str) -> Classifier:
    import torchvision.models as models

    torch.manual_seed(0)
    model = getattr(models, builder_name)(weights=None)
    return Classifier(builder_name, model, [str(i) for i in range(1000)])


@pytest.mark.parametrize("builder_name", ["resnet18", "efficientnet_b0", "regnet_y_400mf"])
def test_gap_and_linear_models_hold_the_identity(builder_name):
    classifier = _random_classifier(builder_name)
    result = class_activation_maps(classifier, torch.randn(1, 3, 64, 96), classes=[0, 7, 999])
    assert result.maps.shape[1:] == (2, 3)  # stride 32: rows x columns of a 64x96 input
    scale = float(result.logits[result.classes].abs().max()) + 1.0
    assert result.identity_error() <= 1e-4 * scale
    assert hook_count(classifier.model) == 0


@pytest.mark.parametrize(
    "builder_name, why", [("convnext_tiny", "LayerNorm"), ("mobilenet_v3_small", "Linear")]
)
def test_other_heads_are_refused_with_a_pointer_to_grad_cam(builder_name, why):
    classifier = _random_classifier(builder_name)
    with pytest.raises(InputError, match="Grad-CAM") as caught:
        class_activation_maps(classifier, torch.randn(1, 3, 64, 96))
    message = str(caught.value)
    assert builder_name in message and why in message and "\n" not in message
    assert hook_count(classifier.model) == 0


def test_explicit_layers_that_break_the_identity_are_refused():
    """Right names forced onto ConvNeXt: the identity check against the logits refuses."""
    classifier = _random_classifier("convnext_tiny")
    with torch.no_grad():
        classifier.model.classifier[0].weight.uniform_(0.5, 2.0)  # a LayerNorm that matters
        classifier.model.classifier[2].weight.normal_(0, 1)
    with pytest.raises(InputError, match=r"mean\(CAM\) \+ bias differs"):
        class_activation_maps(classifier, torch.randn(1, 3, 64, 96),
                              pooling_layer="avgpool", fc_layer="classifier.2")


class WideResNetLike(nn.Module):
    """A WRN-shaped net: the pooling sits inside ``features``, the classifier is ``output``."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.output = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.features(x))


def test_wide_resnet_like_layers_are_found_not_guessed():
    torch.manual_seed(0)
    net = Classifier("wrn-like", WideResNetLike(), [str(i) for i in range(10)])
    assert find_cam_layers(net.model) == ("features.6", "output")
    result = class_activation_maps(net, torch.randn(1, 3, 6, 10))
    assert result.maps.shape == (10, 3, 5)
    assert result.identity_error() < 1e-5


def test_class_arguments_accept_integers_of_every_kind_and_labels(tiny):
    x = non_square_input()
    expected = class_activation_maps(tiny, x, [1]).maps
    for choice in (1, np.int64(1), np.int32(1), torch.tensor(1), "b", " B "):
        result = class_activation_maps(tiny, x, choice)
        assert result.classes == [1] and torch.equal(result.maps, expected), choice
    assert class_activation_maps(tiny, x, [np.int64(2), torch.tensor(0)]).classes == [2, 0]
    for bad, words in [(1.0, "not a float"), (True, "not a bool"), (torch.tensor(1.0), "Tensor"),
                       ("d", "no class of tiny"), (-1, "out of range"), ([], "at least one")]:
        with pytest.raises(InputError, match=words):
            class_activation_maps(tiny, x, bad)


def test_a_tensor_of_the_wrong_shape_is_one_clear_error(tiny):
    for shape in [(1, 1, 224, 224), (3, 224, 224), (2, 3, 8, 8), (1, 3, 0, 4)]:
        with pytest.raises(InputError, match=r"expected a \(1, 3, H, W\) tensor"):
            class_activation_maps(tiny, torch.zeros(shape))
        with pytest.raises(InputError, match=r"expected a \(1, 3, H, W\) tensor"):
            tiny.predict(torch.zeros(shape), k=1)
    assert hook_count(tiny.model) == 0


# ----------------------------------------------------------------------------------------------
# The tutorial's wrong layer (lesson 02's "Bug 1"), on networks where it exists and where not


def _googlenet() -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True).eval()


def _resnet18() -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


@pytest.mark.parametrize("build, expected", [
    (_resnet18, "layer4.1.conv2"),  # the 2020 tutorial's own layer
    (_googlenet, None),  # the last block concatenates four branches: no conv gives 1024 channels
])
def test_tutorial_layer_is_the_last_convolution_or_none(build, expected):
    from xai_tutorial.cam import tutorial_layer
    from xai_tutorial.core.hooks import spatial_layers

    net = build()
    x = torch.rand(1, 3, 64, 96)
    classifier = Classifier("net", net, [str(i) for i in range(1000)], resize=64, crop=64)
    _, fc = cam_layers(classifier)
    layer = tutorial_layer(net, spatial_layers(net, x), fc)
    assert (layer.name if layer else None) == expected
    if layer:
        assert layer.channels == fc.in_features and layer.kind == "Conv2d"


def test_tutorial_layer_of_a_hand_built_concatenating_net():
    from xai_tutorial.cam import tutorial_layer
    from xai_tutorial.core.hooks import spatial_layers

    class Branches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 2, 1), nn.Conv2d(3, 2, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.a(x), self.b(x)], 1)

    net = nn.Sequential(Branches(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    layers = spatial_layers(net, torch.rand(1, 3, 4, 5))
    assert [layer.name for layer in layers] == ["0.a", "0.b", "0"]
    assert tutorial_layer(net, layers, net[3]) is None
    net = nn.Sequential(Branches(), nn.Conv2d(4, 4, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 3))
    layer = tutorial_layer(net, spatial_layers(net, torch.rand(1, 3, 4, 5)), net[4])
    assert layer is not None and layer.name == "1"


def _lesson_cells(start: str, end: str) -> list[str]:
    """The code cells of lesson 02 between two markers of its text, as the learner runs them."""
    from pathlib import Path

    import jupytext

    book = jupytext.read(Path(__file__).parents[1] / "notebooks" / "02_class_activation_maps.md")
    text = list(book.cells)
    first = next(i for i, cell in enumerate(text) if start in cell.source)
    last = next(i for i, cell in enumerate(text) if i > first and end in cell.source)
    return [cell.source for cell in text[first:last] if cell.cell_type == "code"]


@pytest.mark.parametrize("build, shown", [(_googlenet, 0), (_resnet18, 1)],
                         ids=["googlenet", "resnet18"])
def test_lessons_bug_1_runs_or_skips_cleanly(build, shown, capsys):
    """Lesson 02's "Bug 1" cells on a CAM network without the tutorial's layer (GoogLeNet) say
    why in one sentence and draw nothing, without an error; on ResNet-18 they show the demo."""
    from xai_tutorial import capture, plot_overlays
    from xai_tutorial.cam import tutorial_layer
    from xai_tutorial.core.hooks import spatial_layers

    cells = _lesson_cells("**Bug 1: the wrong layer.**", "**Bug 2: the transposed map.**")
    assert len(cells) == 3
    net = build()
    classifier = Classifier("net", net, [str(i) for i in range(1000)], resize=64, crop=64)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 96, 3), np.uint8))
    x = classifier.preprocess(image, crop=False)
    result = class_activation_maps(classifier, x)
    c = int(result.logits.argmax())
    _, fc = cam_layers(classifier)
    drawn = []
    namespace = dict(
        torch=torch, model=net, x=x, fc=fc, image=image, c=c, logits=result.logits,
        cam=result.maps[c], weights=fc.weight[c], b=fc.bias[c], capture=capture, peak=peak,
        spatial_layers=spatial_layers, tutorial_layer=tutorial_layer,
        plot_overlays=plot_overlays, display=drawn.append)
    with torch.no_grad():
        for cell in cells:
            exec(cell, namespace)
    out = capsys.readouterr().out
    assert len(drawn) == shown
    if shown:
        assert "layer4.1.conv2" in out and "misses the logit by" in out
    else:
        assert out.count("\n") == 1 and "concatenates" in out and "1024 channels" in out
