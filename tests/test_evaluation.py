"""Lesson 04's methods and metrics: exact values on hand-built nets, then the bundled model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hand_built import TinyNet
from torch import nn

from xai_tutorial import Classifier
from xai_tutorial import evaluation as ev
from xai_tutorial.cam import class_activation_maps, hook_count
from xai_tutorial.errors import InputError
from xai_tutorial.evaluation.randomization import _cascade_groups
from xai_tutorial.evaluation.scenes import _overlap


def classifier_of(model: nn.Module, classes: int) -> Classifier:
    return Classifier("hand-built", model, [str(i) for i in range(classes)], resize=2, crop=2,
                      mean=(0, 0, 0), std=(1, 1, 1), pooling_layer="pool", fc_layer="fc")


@pytest.fixture
def tiny() -> Classifier:
    return classifier_of(TinyNet(), 3)


def non_square_input() -> torch.Tensor:
    """(1, 3, 2, 3): two rows, three columns."""
    x = torch.zeros(1, 3, 2, 3)
    x[0, 0] = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x[0, 1] = torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 2.0]])
    return x


# ----------------------------------------------------------------------------------------------
# Grad-CAM = ReLU(CAM) / (h w) at the pooling input


def test_grad_cam_equals_relu_cam_over_hw_exactly(tiny):
    x = non_square_input()
    f0 = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    f1 = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])  # ReLU cut the -1
    for c, cam_by_hand in ((0, f0), (1, 2 * f1), (2, f0 - f1)):
        expected = cam_by_hand.clamp_min(0) / 6
        got = ev.grad_cam(tiny, x, c)
        assert got.shape == (2, 3)  # rows stay rows: not transposed
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-7)
        torch.testing.assert_close(ev.cam(tiny, x, c), cam_by_hand, rtol=0, atol=1e-7)


def test_grad_cam_relu_cuts_negative_cam(tiny):
    x = non_square_input()
    x[0, 1] = 10.0  # F_1 = 10 everywhere, so CAM_2 = F_0 - 10 < 0 in every cell but none
    cam2 = ev.cam(tiny, x, 2)
    assert (cam2 < 0).all()
    assert torch.equal(ev.grad_cam(tiny, x, 2), torch.zeros(2, 3))


def test_grad_cam_of_a_batch_and_a_named_layer(tiny):
    x = torch.cat([non_square_input(), 2 * non_square_input()])
    maps = ev.batched_grad_cam(tiny, x, [0, 1])
    assert maps.shape == (2, 2, 3)
    torch.testing.assert_close(maps[1], ev.grad_cam(tiny, x[1:], 1))
    torch.testing.assert_close(ev.batched_grad_cam(tiny, x, 2)[0], ev.grad_cam(tiny, x[:1], 2))
    # at the ReLU's output (= the pooling input here) Grad-CAM is the same map
    torch.testing.assert_close(ev.grad_cam(tiny, x[:1], 0, layer="relu"), maps[0])
    with pytest.raises(InputError, match="'nope'"):
        ev.grad_cam(tiny, x[:1], 0, layer="nope")
    with pytest.raises(InputError, match="class 3: out of range"):
        ev.grad_cam(tiny, x[:1], 3)
    with pytest.raises(InputError, match=r"\(1, 3, H, W\)"):  # one image: a batch has its own
        ev.grad_cam(tiny, x, 0)
    with pytest.raises(InputError, match="3 classes for 2 inputs"):
        ev.batched_grad_cam(tiny, x, [0, 1, 2])


def test_grad_cam_leaves_no_hooks_no_gradients_and_keeps_modes(tiny):
    tiny.model.train()
    tiny.model.fc.eval()
    ev.grad_cam(tiny, non_square_input(), 0)
    assert hook_count(tiny.model) == 0
    assert all(p.grad is None for p in tiny.model.parameters())
    assert tiny.model.training and tiny.model.conv.training and not tiny.model.fc.training


class MaxPooled(nn.Module):
    """conv -> ReLU -> AdaptiveMaxPool2d(2) -> Linear: no global average pooling, so no CAM."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveMaxPool2d(2)
        self.fc = nn.Linear(4 * 2 * 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(torch.relu(self.conv(x))).flatten(1))


class TwoLayerHead(nn.Module):
    """conv -> ReLU -> GAP -> Linear -> ReLU -> Linear (MobileNet-V3's kind of head)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.hidden = nn.Linear(4, 5)
        self.fc = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(torch.relu(self.conv(x))).flatten(1)
        return self.fc(torch.relu(self.hidden(pooled)))


class NoFeatureMap(nn.Module):
    """Flatten -> Linear: no layer gives a spatial output."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 8 * 12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def plain_classifier(model: nn.Module) -> Classifier:
    torch.manual_seed(0)
    for parameter in model.parameters():
        nn.init.normal_(parameter)
    return Classifier("no-gap", model, [str(i) for i in range(3)], resize=8, crop=8,
                      mean=(0, 0, 0), std=(1, 1, 1))


def test_grad_cam_without_global_average_pooling_uses_the_last_spatial_layer():
    """No GAP + linear head: Grad-CAM still works (that is its point), at the output of the last
    layer with a spatial output, and never points the user to Grad-CAM."""
    torch.manual_seed(1)
    x = torch.rand(2, 3, 8, 12)
    for model, last in ((MaxPooled(), "pool"), (TwoLayerHead(), "conv")):
        classifier = plain_classifier(model)
        assert ev.default_grad_cam_layer(classifier, x) == (last, False)
        for c in range(3):
            named = ev.grad_cam(classifier, x[:1], c, layer=last)
            torch.testing.assert_close(ev.grad_cam(classifier, x[:1], c), named)
            result = ev.saliency_map(classifier, x[:1], c, method="grad_cam")
            torch.testing.assert_close(result.values, named)  # the registry's map, the same
            assert (named >= 0).all() and named.shape == ((2, 2) if last == "pool" else (8, 12))
        torch.testing.assert_close(ev.batched_grad_cam(classifier, x, [0, 2])[1],
                                   ev.grad_cam(classifier, x[1:], 2, layer=last))
        assert hook_count(classifier.model) == 0
        with pytest.raises(InputError, match="Grad-CAM") as refused:  # CAM itself still refuses
            ev.cam(classifier, x[:1], 0)
        assert "use Grad-CAM" in str(refused.value)
    flat = plain_classifier(NoFeatureMap())
    with pytest.raises(InputError, match="no layer gives a feature map") as refused:
        ev.grad_cam(flat, x[:1], 0)
    assert "use Grad-CAM" not in str(refused.value)


def test_grad_cam_default_layer_is_the_pooling_input_where_there_is_one(tiny):
    assert ev.default_grad_cam_layer(tiny, non_square_input()) == ("pool", True)
    unnamed = Classifier("tiny", tiny.model, tiny.categories, resize=2, crop=2,
                         mean=(0, 0, 0), std=(1, 1, 1))  # found from the structure
    assert ev.default_grad_cam_layer(unnamed, non_square_input()) == ("pool", True)
    torch.testing.assert_close(ev.grad_cam(unnamed, non_square_input(), 1),
                               ev.grad_cam(tiny, non_square_input(), 1))


# ----------------------------------------------------------------------------------------------
# Deletion and insertion


class LinearScore(nn.Module):
    """logit_0 = sum(W * x), logit_1 = 0: p_0 = sigmoid(sum of per-pixel contributions)."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x * self.weight).flatten(1).sum(1)
        return torch.stack([score, torch.zeros_like(score)], dim=1)


@pytest.fixture
def linear_case() -> tuple[Classifier, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    weight = torch.randn(1, 3, 4, 5, generator=generator) * 0.5  # non-square: 4 rows, 5 columns
    x = torch.randn(1, 3, 4, 5, generator=generator)
    contribution = (weight * x)[0].sum(0)  # (4, 5): what each pixel adds to logit_0
    return classifier_of(LinearScore(weight), 2), x, contribution


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def expected_curve(contribution: torch.Tensor, steps: int, kind: str) -> np.ndarray:
    values = np.sort(contribution.flatten().numpy().astype(np.float64))[::-1]
    n = values.size
    out = []
    for k in range(steps + 1):
        top = values[: round(k * n / steps)].sum()
        out.append(sigmoid(values.sum() - top) if kind == "deletion" else sigmoid(top))
    return np.array(out)


@pytest.mark.parametrize("steps", [4, 5, 20])
def test_optimal_order_gives_the_exact_curves(linear_case, steps):
    classifier, x, contribution = linear_case
    zero = torch.zeros(1)
    deletion = ev.deletion_curve(classifier, x, contribution, 0, steps=steps, substrate=zero)
    insertion = ev.insertion_curve(classifier, x, contribution, 0, steps=steps, substrate=zero)
    np.testing.assert_allclose(deletion.probabilities, expected_curve(contribution, steps,
                                                                      "deletion"), atol=1e-6)
    np.testing.assert_allclose(insertion.probabilities, expected_curve(contribution, steps,
                                                                       "insertion"), atol=1e-6)
    np.testing.assert_allclose(deletion.fractions, [round(k * 20 / steps) / 20
                                                    for k in range(steps + 1)])
    p, f = deletion.probabilities, deletion.fractions
    assert deletion.auc == pytest.approx(float(np.sum((p[1:] + p[:-1]) / 2 * np.diff(f))))


def test_no_map_beats_the_optimal_order(linear_case):
    classifier, x, contribution = linear_case
    zero = torch.zeros(1)
    best_deletion = ev.deletion_curve(classifier, x, contribution, 0, steps=20, substrate=zero)
    best_insertion = ev.insertion_curve(classifier, x, contribution, 0, steps=20, substrate=zero)
    worst = ev.deletion_auc(classifier, x, -contribution, 0, steps=20, substrate=zero)
    assert worst > best_deletion.auc + 0.1
    for seed in range(20):
        other = ev.random_map(classifier, x, 0, seed=seed)
        d = ev.deletion_curve(classifier, x, other, 0, steps=20, substrate=zero)
        i = ev.insertion_curve(classifier, x, other, 0, steps=20, substrate=zero)
        assert (d.probabilities >= best_deletion.probabilities - 1e-7).all()
        assert (i.probabilities <= best_insertion.probabilities + 1e-7).all()


def test_constant_map_removes_pixels_in_row_major_order(linear_case):
    classifier, x, _ = linear_case
    constant = torch.full((2, 3), 0.25)  # any resolution; upsampled to 4 x 5, still constant
    raster = -torch.arange(20.0).view(4, 5)  # explicit row-major order
    for run in (ev.deletion_curve, ev.insertion_curve):
        a = run(classifier, x, constant, 0, steps=10)
        b = run(classifier, x, raster, 0, steps=10)
        np.testing.assert_array_equal(a.probabilities, b.probabilities)
        assert 0.0 <= a.auc <= 1.0 and math.isfinite(a.auc)


def test_curve_ends_are_the_input_and_the_substrate(linear_case):
    classifier, x, contribution = linear_case
    blurred = ev.blurred(x)
    p = lambda t: float(classifier.model(t).softmax(1)[0, 0])  # noqa: E731
    d = ev.deletion_curve(classifier, x, contribution, 0, steps=3)
    i = ev.insertion_curve(classifier, x, contribution, 0, steps=3)
    with torch.no_grad():
        assert d.probabilities[0] == pytest.approx(p(x)) == i.probabilities[-1]
        assert d.probabilities[-1] == pytest.approx(p(blurred)) == i.probabilities[0]


def test_curve_costs_s_plus_one_images_in_batches(linear_case):
    classifier, x, contribution = linear_case
    sizes: list[int] = []
    handle = classifier.model.register_forward_pre_hook(lambda _, a: sizes.append(a[0].shape[0]))
    try:
        ev.deletion_curve(classifier, x, contribution, 0, steps=20, batch_size=8)
    finally:
        handle.remove()
    assert sizes == [8, 8, 5]


def test_bad_maps_and_options_are_input_errors(linear_case):
    classifier, x, contribution = linear_case
    with pytest.raises(InputError, match="saliency: expected a 2-D"):
        ev.deletion_auc(classifier, x, contribution[None], 0)
    with pytest.raises(InputError, match="NaN"):
        ev.insertion_auc(classifier, x, torch.full((4, 5), float("nan")), 0)
    with pytest.raises(InputError, match="steps 0"):
        ev.deletion_auc(classifier, x, contribution, 0, steps=0)
    with pytest.raises(InputError, match="class 2: out of range"):
        ev.deletion_auc(classifier, x, contribution, 2)


# ----------------------------------------------------------------------------------------------
# Cascading randomization


class SmallConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
            for _ in range(2)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.uniform_(0.5, 1.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.fc(torch.flatten(self.pool(x), 1))


@pytest.fixture
def small() -> Classifier:
    return classifier_of(SmallConvNet(), 4)


def test_cascade_blocks_top_first(small):
    assert ev.cascade_blocks(small.model) == ["fc", "blocks.1", "blocks.0", "stem"]
    from torchvision.models import resnet18

    blocks = ev.cascade_blocks(resnet18(weights=None))
    assert blocks == ["fc", "layer4.1", "layer4.0", "layer3.1", "layer3.0", "layer2.1",
                      "layer2.0", "layer1.1", "layer1.0", "conv1"]
    groups = dict(_cascade_groups(resnet18(weights=None)))
    assert [type(m).__name__ for m in groups["conv1"]] == ["Conv2d", "BatchNorm2d"]


def test_randomization_leaves_the_callers_model_untouched(small):
    x = torch.randn(1, 3, 6, 9, generator=torch.Generator().manual_seed(1))
    model = small.model
    model.train()
    model.blocks[0].eval()
    modes = [m.training for m in model.modules()]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.random.get_rng_state()
    for method in (ev.cam, ev.grad_cam):
        for batch_norm in ("keep", "reset"):
            steps = ev.randomization_check(small, x, 1, method=method, batch_norm=batch_norm)
            assert [s.block for s in steps] == ["fc", "blocks.1", "blocks.0", "stem"]
            assert all(s.rho is None or math.isfinite(s.rho) for s in steps)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert hook_count(model) == 0
    assert [m.training for m in model.modules()] == modes
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.random.get_rng_state(), state)  # the global seed is not consumed


def test_randomization_is_seeded_and_depends_on_the_seed(small):
    x = torch.randn(1, 3, 6, 9, generator=torch.Generator().manual_seed(1))
    a = ev.randomization_check(small, x, 1, seed=0)
    assert a == ev.randomization_check(small, x, 1, seed=0)
    assert a != ev.randomization_check(small, x, 1, seed=1)


def test_an_edge_map_ignores_the_model_and_fails_the_check(small):
    x = torch.randn(1, 3, 6, 9, generator=torch.Generator().manual_seed(1))
    steps = ev.randomization_check(small, x, 1, method=ev.edge_map)
    assert [s.rho for s in steps] == pytest.approx([1.0] * 4)


def test_constant_maps_are_reported_not_nan(small):
    x = torch.randn(1, 3, 6, 9)
    flat = lambda classifier, inputs, c: torch.ones(3, 3)  # noqa: E731
    steps = ev.randomization_check(small, x, 1, method=flat)
    assert all(s.rho is None and s.constant for s in steps)
    assert ev.rank_correlation(torch.ones(2, 2), torch.rand(2, 2)) is None
    assert ev.rank_correlation(torch.zeros(2, 2), torch.rand(2, 2)) is None
    assert ev.rank_correlation(1 + 1e-9 * torch.rand(2, 2), torch.rand(2, 2)) is None  # rounding
    tiny = 1e-9 * torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # small, but it ranks its locations
    assert ev.rank_correlation(tiny, tiny * 1e9) == pytest.approx(1)
    rho = ev.rank_correlation(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 5.0]]))
    assert rho == pytest.approx(1)
    with pytest.raises(InputError, match="batch_norm 'drop'"):
        ev.randomization_check(small, x, 1, batch_norm="drop")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="'head'"):
        ev.randomization_check(small, x, 1, blocks=["head"])


def test_absolute_values_compare_magnitudes(small):
    x = torch.randn(1, 3, 6, 9, generator=torch.Generator().manual_seed(2))
    negate = lambda classifier, inputs, c: -ev.cam(classifier, inputs, c)  # noqa: E731
    plain = ev.randomization_check(small, x, 1, method=ev.cam, blocks=["fc"])
    signed = ev.randomization_check(small, x, 1, method=negate, blocks=["fc"])
    absolute = ev.randomization_check(small, x, 1, method=negate, blocks=["fc"], absolute=True)
    assert signed[0].rho == pytest.approx(plain[0].rho)  # negating both maps keeps the ranks
    assert absolute[0].rho is not None and math.isfinite(absolute[0].rho)


# ----------------------------------------------------------------------------------------------
# The pointing game


def test_pointing_hits_misses_and_the_15_pixel_tolerance():
    map_ = torch.zeros(60, 80)
    map_[30, 50] = 1.0  # row 30, column 50
    assert ev.pointing_hit(map_, (40, 20, 60, 40))
    assert not ev.pointing_hit(map_, (0, 0, 20, 20))
    # the box's right edge is column 34 (right is exclusive): 16 pixels away, then 15
    assert not ev.pointing_hit(map_, (0, 25, 35, 35))
    assert ev.pointing_hit(map_, (0, 25, 36, 35))
    assert ev.pointing_hit(map_, (0, 25, 35, 35), tolerance=16)
    # diagonal: 9 and 12 pixels away = 15 (a hit), 9 and 13 = 15.8 (a miss)
    assert ev.pointing_hit(map_, (0, 0, 42, 19))
    assert not ev.pointing_hit(map_, (0, 0, 42, 18))
    assert ev.pointing_hit(map_, [(0, 0, 10, 10), (45, 25, 55, 35)])  # any instance counts
    assert ev.POINTING_TOLERANCE == 15


def test_pointing_game_is_a_hit_rate_and_keeps_rows_and_columns():
    wide = torch.zeros(3, 5)
    wide[0, 4] = 1.0  # top right
    tall = wide.T.contiguous()  # (5, 3): bottom left
    right = (150, 0, 250, 60)  # in a 150 x 250 picture (rows x columns)
    assert ev.pointing_game([wide], [right], size=(150, 250), tolerance=0) == 1.0
    assert ev.pointing_game([wide, tall], [right, right], size=(150, 250), tolerance=0) == 0.5
    with pytest.raises(InputError, match="2 maps but 1 boxes"):
        ev.pointing_game([wide, tall], [right])
    with pytest.raises(InputError, match="give size="):  # a box in pixels, a 3 x 5 map
        ev.pointing_game([wide], [right])


def test_scenes_are_seeded_inside_and_apart():
    scenes = ev.pointing_scenes(12, seed=5)
    again = ev.make_scene(7)
    assert np.array_equal(np.asarray(scenes[2].image), np.asarray(again.image))
    assert scenes[2].boxes == again.boxes
    for scene in scenes:
        assert scene.image.size == (224, 224)
        cat, cup = scene.boxes["cat"], scene.boxes["cup"]
        for left, top, right, bottom in (cat, cup):
            assert 0 <= left < right <= 224 and 0 <= top < bottom <= 224
        assert _overlap(cat, cup) == 0
    assert len({s.boxes["cat"] for s in scenes}) == 12


# ----------------------------------------------------------------------------------------------
# Occlusion and the controls


class CornerScore(nn.Module):
    """logit_0 = 10 * mean of the top-left 2x2 pixels of channel 0, logit_1 = 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = 10 * x[:, 0, :2, :2].mean((1, 2))
        return torch.stack([score, torch.zeros_like(score)], dim=1)


def test_occlusion_finds_the_pixels_the_model_reads():
    classifier = classifier_of(CornerScore(), 2)
    x = torch.ones(1, 3, 6, 8)
    sizes: list[int] = []
    handle = classifier.model.register_forward_pre_hook(lambda _, a: sizes.append(a[0].shape[0]))
    try:
        attribution = ev.occlusion(classifier, x, 0, window=2, stride=2, batch_size=5)
    finally:
        handle.remove()
    assert attribution.shape == (6, 8)
    assert sum(sizes) == ev.occlusion_passes((6, 8), 2, 2) == 13
    drop = sigmoid(10.0) - sigmoid(0.0)
    assert torch.allclose(attribution[:2, :2], torch.full((2, 2), drop))
    assert attribution[2:].abs().max() == 0 and attribution[:, 2:].abs().max() == 0


class BottomRightScore(nn.Module):
    """logit_0 = 10 * the bottom-right pixel of channel 0, logit_1 = 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = 10 * x[:, 0, -1, -1]
        return torch.stack([score, torch.zeros_like(score)], dim=1)


def test_occlusion_clips_the_last_window_and_counts_it():
    """On 5 x 7 with windows of 2 at stride 2 the last row and column of windows stick out:
    ceil(3 / 2) + 1 = 3 rows and ceil(5 / 2) + 1 = 4 columns of them, and the corner is seen."""
    classifier = classifier_of(BottomRightScore(), 2)
    sizes: list[int] = []
    handle = classifier.model.register_forward_pre_hook(lambda _, a: sizes.append(a[0].shape[0]))
    try:
        attribution = ev.occlusion(classifier, torch.ones(1, 3, 5, 7), 0, window=2, stride=2)
    finally:
        handle.remove()
    assert sum(sizes) == ev.occlusion_passes((5, 7), 2, 2) == 3 * 4 + 1
    assert float(attribution[-1, -1]) == pytest.approx(sigmoid(10.0) - sigmoid(0.0))
    assert ev.occlusion_passes((224, 336), 56, 56) == 4 * 6 + 1  # the lesson's grid


def test_controls_ignore_the_model(tiny):
    x = non_square_input()
    assert ev.edge_map(tiny, x, 0).shape == (2, 3)
    assert torch.equal(ev.random_map(tiny, x, 0, seed=4), ev.random_map(tiny, x, 2, seed=4))
    assert ev.random_map(tiny, x, 0, size=(7, 9)).shape == (7, 9)
    center = ev.center_map(tiny, torch.zeros(1, 3, 9, 13), 0)
    assert ev.pointing_hit(center, (6, 4, 7, 5), tolerance=0)


# ----------------------------------------------------------------------------------------------
# The bundled model


@pytest.mark.slow
def test_grad_cam_is_cam_on_the_bundled_model(bundled):
    x = ev.model_input(bundled, "chelsea")
    assert x.shape[2] != x.shape[3]  # a non-square input
    for c in (285, 967):
        raw = ev.cam(bundled, x, c)
        h, w = raw.shape
        grad = ev.grad_cam(bundled, x, c)
        assert grad.shape == raw.shape
        assert float((grad - raw.clamp_min(0) / (h * w)).abs().max()) <= 1e-4 * float(grad.max())
    assert hook_count(bundled.model) == 0


@pytest.mark.slow
def test_batched_cam_is_cam(bundled):
    scenes = ev.pointing_scenes(2)
    batch = ev.scene_batch(bundled, scenes)
    maps = ev.batched_cam(bundled, batch, [285, 967])
    assert maps.shape == (2, 2, 7, 7)
    reference = class_activation_maps(bundled, batch[1:], [285, 967]).maps
    torch.testing.assert_close(maps[1], reference, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_randomization_on_the_bundled_model_drops_from_the_first_step(bundled):
    x = ev.model_input(bundled, "coffee")
    assert ev.cascade_blocks(bundled.model)[:3] == ["_fc", "_conv_head", "_blocks.15"]
    assert ev.cascade_blocks(bundled.model)[-1] == "_conv_stem"
    steps = ev.randomization_check(bundled, x, 967, blocks=["_fc", "_conv_head"])
    assert [s.block for s in steps] == ["_fc", "_conv_head"]
    assert all(s.rho is not None and math.isfinite(s.rho) and s.rho < 0.95 for s in steps)
    assert hook_count(bundled.model) == 0 and not bundled.model.training


@pytest.mark.slow
def test_cam_beats_a_random_map_on_generated_scenes(bundled):
    scenes = ev.pointing_scenes(4, seed=100)
    batch = ev.scene_batch(bundled, scenes)
    maps = ev.batched_cam(bundled, batch, [285, 967])
    scores: dict[str, list[tuple[float, float]]] = {"cam": [], "random": []}
    for i in range(len(scenes)):
        x = batch[i : i + 1]
        for k, c in enumerate((285, 967)):
            noise = ev.random_map(bundled, x, c, size=(7, 7), seed=2 * i + k)
            for name, map_ in (("cam", maps[i, k]), ("random", noise)):
                scores[name].append((ev.deletion_auc(bundled, x, map_, c, steps=8),
                                     ev.insertion_auc(bundled, x, map_, c, steps=8)))
    cam_mean, random_mean = np.mean(scores["cam"], 0), np.mean(scores["random"], 0)
    assert cam_mean[0] < random_mean[0] and cam_mean[1] > random_mean[1]


# ----------------------------------------------------------------------------------------------
# The figures (a view module: it draws, computes nothing)


def test_figures_draw_what_they_are_given():
    from PIL import Image

    from xai_tutorial import evaluation_view as view

    photo = Image.new("RGB", (30, 20), "white")
    figure = view.plot_maps(photo, {"a": torch.rand(2, 3), "b": torch.rand(4, 6)})
    assert [ax.get_title() for ax in figure.axes[:2]] == ["a (2x3)", "b (4x6)"]
    curve = ev.Curve("deletion", np.array([0.0, 1.0]), np.array([0.8, 0.2]), 0.5, 0)
    figure = view.plot_curves({"m": curve})
    assert figure.axes[0].get_legend().get_texts()[0].get_text() == "m: 0.500"
    steps = [ev.RandomizationStep("fc", 0.5), ev.RandomizationStep("conv", None)]
    figure = view.plot_randomization({"CAM": steps})
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert labels == ["CAM", "CAM: constant map (rho undefined)"]
    scenes = ev.pointing_scenes(2)
    figure = view.plot_scenes(scenes, {"r": [torch.rand(7, 7), torch.rand(7, 7)]}, "cup")
    assert len(figure.axes) == 2


# ----------------------------------------------------------------------------------------------
# One check of class indices, one eval mode, one identity


def named_tiny() -> Classifier:
    return Classifier("hand-built", TinyNet(), ["cat", "cup", "dog"], resize=2, crop=2,
                      mean=(0, 0, 0), std=(1, 1, 1), pooling_layer="pool", fc_layer="fc")


@pytest.mark.parametrize("method", [ev.cam, ev.grad_cam, ev.edge_map, ev.random_map,
                                    ev.center_map])
def test_class_indices_numpy_labels_and_no_booleans(method):
    classifier = named_tiny()
    x = non_square_input()
    expected = method(classifier, x, 2)
    for same in (np.int64(2), torch.tensor(2), "dog", " Dog "):
        torch.testing.assert_close(method(classifier, x, same), expected, rtol=0, atol=0)
    with pytest.raises(InputError, match="give a class index"):
        method(classifier, x, True)
    with pytest.raises(InputError, match="close matches: 'cat'"):
        method(classifier, x, "cats")
    with pytest.raises(InputError, match="give a class index"):
        method(classifier, x, 1.0)


def test_judges_check_classes_the_same_way(linear_case, small):
    classifier, x, contribution = linear_case
    zero = torch.zeros(1)
    auc = ev.deletion_auc(classifier, x, contribution, 0, steps=4, substrate=zero)
    assert ev.deletion_auc(classifier, x, contribution, np.int64(0), steps=4,
                           substrate=zero) == auc
    assert ev.insertion_curve(classifier, x, contribution, "0", steps=4).class_index == 0
    for judge in (ev.deletion_auc, ev.insertion_curve):
        with pytest.raises(InputError, match="give a class index"):
            judge(classifier, x, contribution, True)
    y = torch.randn(1, 3, 6, 9, generator=torch.Generator().manual_seed(1))
    steps = ev.randomization_check(small, y, np.int64(1), blocks=["fc"])
    assert steps == ev.randomization_check(small, y, 1, blocks=["fc"])
    with pytest.raises(InputError, match="give a class index"):
        ev.randomization_check(small, y, True)
    with pytest.raises(InputError, match="steps 2.5"):
        ev.deletion_auc(classifier, x, contribution, 0, steps=2.5)  # type: ignore[arg-type]


def test_occlusion_and_curves_run_in_eval_mode_and_restore_modes(small):
    x = torch.randn(1, 3, 6, 9, generator=torch.Generator().manual_seed(4))
    model = small.model
    expected = ev.occlusion(small, x, 1, window=3, stride=3)
    saliency = ev.cam(small, x, 1)
    curve = ev.deletion_curve(small, x, saliency, 1, steps=4)
    model.train()
    model.stem.eval()
    modes = [m.training for m in model.modules()]
    torch.testing.assert_close(ev.occlusion(small, x, 1, window=3, stride=3), expected)
    again = ev.deletion_curve(small, x, saliency, 1, steps=4)
    np.testing.assert_allclose(again.probabilities, curve.probabilities, rtol=1e-6)
    assert [m.training for m in model.modules()] == modes
    assert hook_count(model) == 0
    for bad in (0, True, 2.0):
        with pytest.raises(InputError, match="window"):
            ev.occlusion(small, x, 1, window=bad, stride=3)


class Doubled(TinyNet):
    """TinyNet's logits times 2: the pooling and the linear layer are there, but the CAM
    identity mean(CAM) + b = logit fails."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * super().forward(x)


def test_batched_cam_is_cam_per_image_with_one_identity_check(tiny):
    x = torch.cat([non_square_input(), 3 * non_square_input(), -non_square_input()])
    maps = ev.batched_cam(tiny, x, [2, np.int64(0)])
    assert maps.shape == (3, 2, 2, 3)
    for i in range(3):
        for k, c in enumerate((2, 0)):
            torch.testing.assert_close(maps[i, k], ev.cam(tiny, x[i : i + 1], c), rtol=0,
                                       atol=1e-6)
    one_class = torch.stack([ev.cam(tiny, x[i : i + 1], 1) for i in range(3)])
    torch.testing.assert_close(ev.batched_cam(tiny, x, 1)[:, 0], one_class, rtol=0, atol=1e-6)
    with pytest.raises(InputError, match="give a class index"):
        ev.batched_cam(tiny, x, [True])
    doubled = classifier_of(Doubled(), 3)
    for run in (lambda: ev.batched_cam(doubled, x, [0]), lambda: ev.cam(doubled, x[:1], 0)):
        with pytest.raises(InputError, match="differs from the logit.*Grad-CAM"):
            run()
    assert hook_count(doubled.model) == 0
