"""Lesson 05's methods, each checked against the identity it promises on hand-built networks.

* a linear model: the vanilla gradient is its weights, gradient x input and every IG rule are
  exact (``sum = f(x) - f(b)``), SmoothGrad is the gradient;
* a ReLU network ``y = V relu(W x + c) + d``, whose path integral is known in closed form: IG of
  every quadrature rule is within the rule's error bound of the exact IG (per pixel and in sum);
  guided backprop is ``sum_j W_j relu(V_cj) 1[z_j > 0]`` (ReLU6: ``1[0 < z_j < 6]``), and
  leaves no hook, mode or ``requires_grad`` changed;
* RISE is ``sum_i p_i M_i / (N p)`` over its own masks, and its expectation on a model whose
  probability is the mean of a known pixel region is the closed form of the mask distribution;
* KernelSHAP's efficiency: the map sums to ``f_c(x) - f_c(black)`` (logit or probability);
* every new name goes through ``saliency_map`` with its passes counted; non-square inputs.

The bundled model appears only where the acceptance is about it (IG's completeness on
``cat_and_coffee``, guided backprop on its ReLU6 activations), on small inputs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hand_built import TinyNet
from torch import nn

from xai_tutorial import Classifier
from xai_tutorial import attribution as at
from xai_tutorial.core.errors import InputError
from xai_tutorial.core.saliency import saliency_map, saliency_methods

NEW = ("gradient", "gradient_x_input", "smoothgrad", "integrated_gradients", "guided_backprop",
       "rise", "lime", "kernel_shap")
MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
SHAPE = (1, 3, 5, 7)  # non-square: 5 rows, 7 columns


def classifier_of(model: nn.Module, classes: int) -> Classifier:
    return Classifier("hand-built", model, [str(i) for i in range(classes)], resize=2, crop=2,
                      mean=MEAN, std=STD)


def black(shape: tuple[int, ...] = SHAPE) -> torch.Tensor:
    """The black photo by hand: ``(0 - mean) / std`` per channel."""
    channels = [torch.full(shape[2:], -m / s) for m, s in zip(MEAN, STD, strict=True)]
    return torch.stack(channels)[None]


def random_input(seed: int, shape: tuple[int, ...] = SHAPE) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def picture(seed: int, height: int, width: int) -> torch.Tensor:
    """A normalized picture of 3 x 4 flat colour patches (noise gives SLIC one superpixel)."""
    coarse = torch.rand((1, 3, 3, 4), generator=torch.Generator().manual_seed(seed))
    photo = F.interpolate(coarse, size=(height, width), mode="nearest")
    return (photo - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


class Linear(nn.Module):
    """``y = W flatten(x) + b``: 2 classes on a 3 x 5 x 7 input."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 5 * 7, 2)
        with torch.no_grad():
            self.fc.weight.copy_(random_input(1, (2, 3 * 5 * 7)))
            self.fc.bias.copy_(torch.tensor([0.3, -0.2]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


class ReluNet(nn.Module):
    """``y = V relu(W flatten(x) + c) + d``, 8 hidden units, 2 classes."""

    def __init__(self, activation: nn.Module | None = None) -> None:
        super().__init__()
        self.hidden = nn.Linear(3 * 5 * 7, 8)
        self.relu = activation or nn.ReLU()
        self.out = nn.Linear(8, 2)
        with torch.no_grad():
            self.hidden.weight.copy_(random_input(2, (8, 3 * 5 * 7)) / 4)
            self.hidden.bias.copy_(random_input(3, (8,)))
            self.out.weight.copy_(random_input(4, (2, 8)))
            self.out.bias.copy_(torch.tensor([0.1, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.relu(self.hidden(x.flatten(1))))


# ----------------------------------------------------------------------------------------------
# Gradients of a linear model


def test_the_gradient_of_a_linear_model_is_its_weights():
    model = Linear()
    classifier, x = classifier_of(model, 2), random_input(5)
    weights = model.fc.weight.detach()[1].view(3, 5, 7)
    torch.testing.assert_close(at.gradient(classifier, x, 1), weights.sum(0))
    times_input = at.gradient_x_input(classifier, x, 1)
    torch.testing.assert_close(times_input, (weights * x[0]).sum(0))
    with torch.no_grad():  # measured from x = 0
        logit = model(x)[0, 1] - model(torch.zeros_like(x))[0, 1]
    assert float(times_input.sum()) == pytest.approx(logit.item(), abs=1e-5)
    # noise does not move a constant gradient: SmoothGrad is the gradient, at any seed
    torch.testing.assert_close(at.smoothgrad(classifier, x, 1, samples=3, seed=9),
                               weights.sum(0))


@pytest.mark.parametrize("rule", at.RULES)
def test_integrated_gradients_of_a_linear_model_is_exact_for_every_rule(rule):
    model = Linear()
    classifier, x = classifier_of(model, 2), random_input(6)
    weights = model.fc.weight.detach()[0].view(3, 5, 7)
    ones = torch.ones(SHAPE)
    for baseline, b in ((None, black()), ("black", black()), (ones, ones)):
        values = at.integrated_gradients(classifier, x, 0, steps=3, baseline=baseline, rule=rule)
        torch.testing.assert_close(values, (weights * (x - b)[0]).sum(0), atol=1e-5, rtol=1e-5)
        check = at.completeness(classifier, x, 0, values, baseline)
        assert check.expected == pytest.approx((model(x)[0, 0] - model(b)[0, 0]).item(), abs=1e-5)
        assert check.error < 1e-4 and check.gap < 1e-4
    torch.testing.assert_close(at.baseline_input(classifier, x, None), black())


# ----------------------------------------------------------------------------------------------
# Integrated Gradients of a ReLU network, in closed form


def exact_ig(model: ReluNet, x: torch.Tensor, b: torch.Tensor, c: int
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(IG, jumps)``: the exact IG ``(3, 5, 7)`` and the path derivative's jumps ``|V_cj d_j|``
    at the units whose pre-activation changes sign on the path (``d_j = W_j (x - b)``).

    On the path ``b + a (x - b)`` unit ``j``'s pre-activation is ``z_j(a) = z_j(0) + a d_j``, so
    ``IG_i = (x - b)_i sum_j V_cj W_ji L_j``, ``L_j`` the length of ``{a in [0, 1]: z_j(a) > 0}``.
    """
    w, bias = model.hidden.weight.detach().double(), model.hidden.bias.detach().double()
    v = model.out.weight.detach().double()[c]
    delta = (x - b).flatten().double()
    start, d = w @ b.flatten().double() + bias, w @ delta
    end = start + d
    lengths, jumps = torch.zeros(8, dtype=torch.float64), torch.zeros(8, dtype=torch.float64)
    for j in range(8):
        if start[j] > 0 and end[j] > 0:
            lengths[j] = 1.0
        elif (start[j] > 0) != (end[j] > 0):
            crossing = float(-start[j] / d[j])
            lengths[j] = crossing if start[j] > 0 else 1.0 - crossing
            jumps[j] = abs(v[j] * d[j])
    return (delta * (w.T @ (v * lengths))).view(3, 5, 7), jumps


def largest_weight(rule: str, steps: int) -> float:
    """The largest weight of the rule's ``steps`` points on [0, 1] (captum's rules)."""
    if rule == "gausslegendre":
        return float(np.polynomial.legendre.leggauss(steps)[1].max() / 2)
    return 1.0 / (steps - 1) if rule == "riemann_trapezoid" else 1.0 / steps


@pytest.mark.parametrize("rule", at.RULES)
@pytest.mark.parametrize("steps", [8, 32])
def test_ig_of_a_relu_net_is_within_the_rules_error_bound(rule, steps):
    """The path derivative is a step function: a rule with positive weights (at most ``w``)
    misses each jump's integral by at most ``|jump| w`` (for Gauss-Legendre by the separation
    theorem of Chebyshev, Markov and Stieltjes); nowhere else."""
    model = ReluNet()
    classifier, x = classifier_of(model, 2), random_input(7)
    b = black()
    ig, jumps = exact_ig(model, x, b, 1)
    assert (jumps > 0).sum() >= 2  # the path crosses some kinks: the test has teeth
    with torch.no_grad():
        expected = model(x)[0, 1] - model(b)[0, 1]
    assert float(ig.sum()) == pytest.approx(expected.item(), abs=1e-5)  # completeness, exact
    values = at.integrated_gradients(classifier, x, 1, steps=steps, rule=rule)
    bound = float(jumps.sum()) * largest_weight(rule, steps)
    check = at.completeness(classifier, x, 1, values)
    assert check.error <= bound + 1e-4, (check, bound)
    # per pixel too: each jump moves pixel i by |V_cj W_ji (x - b)_i| at most
    w, v = model.hidden.weight.detach().double(), model.out.weight.detach().double()[1]
    crossing = (jumps > 0).double()
    per_input = ((x - b).flatten().double().abs() * ((v * crossing).abs() @ w.abs()))
    per_pixel = per_input.view(3, 5, 7).sum(0) * largest_weight(rule, steps)
    assert ((values.double() - ig.sum(0)).abs() <= per_pixel + 1e-5).all()


def test_ig_options_are_checked():
    classifier, x = classifier_of(Linear(), 2), random_input(0)
    for options, message in (({"steps": 0}, "steps 0"), ({"rule": "simpson"}, "rule 'simpson'"),
                             ({"baseline": "grey"}, "baseline 'grey'"),
                             ({"baseline": torch.zeros(1, 3, 5, 6)}, "the input has shape"),
                             ({"steps": 1, "rule": "riemann_trapezoid"}, "steps 1")):
        with pytest.raises(InputError, match=message):
            at.integrated_gradients(classifier, x, 0, **options)
    with pytest.raises(InputError, match="expected a finite"):
        at.completeness(classifier, x, 0, torch.zeros(3))


# ----------------------------------------------------------------------------------------------
# Guided backprop


def model_state(model: nn.Module) -> tuple[object, ...]:
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) +
                len(getattr(m, "_backward_pre_hooks", {})) for m in model.modules())
    return (hooks, [m.training for m in model.modules()],
            [p.requires_grad for p in model.parameters()], [p.grad for p in model.parameters()])


@pytest.mark.parametrize("activation", [nn.ReLU(), nn.ReLU(inplace=True), nn.ReLU6()],
                         ids=["relu", "relu_inplace", "relu6"])
def test_guided_backprop_by_hand_and_the_model_left_as_it_was(activation):
    model = ReluNet(activation)
    classifier = classifier_of(model, 2)  # (which puts the model in eval mode)
    model.train()
    model.out.eval()  # a mix of modes, which must come back as it was
    model.hidden.bias.requires_grad_(False)
    before = model_state(model)
    x = random_input(8) * 2  # units 1, 4, 5 active; unit 4 above 6 (ReLU6 stops it)
    w, v = model.hidden.weight.detach(), model.out.weight.detach()[0]
    z = w @ x.flatten() + model.hidden.bias.detach()
    top = 6.0 if isinstance(activation, nn.ReLU6) else math.inf
    passing = ((z > 0) & (z < top)).float()
    expected = (w.T @ (v.clamp_min(0) * passing)).view(3, 5, 7).sum(0)
    guided = at.guided_backprop(classifier, x, 0)
    torch.testing.assert_close(guided, expected, atol=1e-5, rtol=1e-5)
    plain = (w.T @ (v * passing)).view(3, 5, 7).sum(0)
    assert (v * passing < 0).any() and not torch.allclose(guided, plain)  # it is not the gradient
    assert model_state(model) == before and before[0] == 0
    assert [m.training for m in model.modules()] == [True, True, True, False]


def test_guided_backprop_needs_relu_modules():
    with pytest.raises(InputError, match="no nn.ReLU or nn.ReLU6 module"):
        at.guided_backprop(classifier_of(Linear(), 2), random_input(0), 0)


# ----------------------------------------------------------------------------------------------
# SmoothGrad


def test_smoothgrad_is_the_mean_gradient_at_its_seeded_noise():
    model = ReluNet()
    classifier, x = classifier_of(model, 2), random_input(9)
    generator = torch.Generator().manual_seed(4)
    scale = 0.2 * float(x.max() - x.min())
    noisy = x + torch.stack([torch.randn((3, 5, 7), generator=generator) for _ in range(5)]
                            ) * scale  # one draw a copy, whatever the batches
    w, v = model.hidden.weight.detach(), model.out.weight.detach()[1]
    z = noisy.flatten(1) @ w.T + model.hidden.bias.detach()
    expected = ((z > 0).float() * v) @ w  # (5, 105): each copy's gradient
    by_hand = expected.mean(0).view(3, 5, 7).sum(0)
    for size in (None, 1, 2):
        values = at.smoothgrad(classifier, x, 1, samples=5, sigma=0.2, seed=4, batch_size=size)
        torch.testing.assert_close(values, by_hand, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(at.smoothgrad(classifier, x, 1, samples=5, sigma=0.2, seed=5),
                              by_hand)
    for options, message in (({"samples": 0}, "samples 0"), ({"sigma": 0}, "sigma 0"),
                             ({"seed": -1}, "seed -1"), ({"batch_size": 0}, "batch_size 0")):
        with pytest.raises(InputError, match=message):
            at.smoothgrad(classifier, x, 1, **options)


# ----------------------------------------------------------------------------------------------
# RISE


class RegionMean(nn.Module):
    """``p_0 = mean of channel 0 over rows 1..2, columns 2..4`` of the input (logits
    ``log p_0`` and ``log (1 - p_0)``), for inputs in [0, 1]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x[:, 0, 1:3, 2:5].mean((1, 2))
        return torch.stack([m.clamp_min(1e-30).log(), (1 - m).clamp_min(1e-30).log()], 1)


def test_rise_is_its_formula_over_its_own_masks():
    classifier, x = classifier_of(RegionMean(), 2), torch.rand(SHAPE)
    masks = at.rise_masks(5, 7, 40, grid=3, p=0.3, seed=2)
    assert masks.shape == (40, 5, 7) and 0 <= masks.min() and masks.max() <= 1
    probabilities = torch.stack([(x[0, 0, 1:3, 2:5] * m[1:3, 2:5]).mean() for m in masks])
    by_hand = (probabilities[:, None, None] * masks).sum(0) / (40 * 0.3)
    for size in (None, 1, 7):
        values = at.rise(classifier, x, 0, masks=40, grid=3, p=0.3, seed=2, batch_size=size)
        torch.testing.assert_close(values, by_hand, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(at.rise(classifier, x, 0, masks=40, grid=3, p=0.3, seed=3), by_hand)


def mask_moments(height: int, width: int, grid: int, p: float) -> torch.Tensor:
    """``E[M(u) M(v)]`` for RISE's masks, ``(H W, H W)``, in closed form.

    A mask is linear in its grid, ``M = A_o B`` (``A_o`` the bilinear upsampling cropped at the
    offset ``o``), ``B`` independent Bernoulli(p) cells: ``E[M M^T | o] = p (1 - p) A_o A_o^T +
    p^2 (A_o 1)(A_o 1)^T``, averaged over the ``C x C`` equally likely offsets.
    """
    cell = math.ceil(min(height, width) / grid)
    rows, columns = math.ceil(height / cell), math.ceil(width / cell)
    basis = torch.eye(rows * columns, dtype=torch.float64).view(-1, 1, rows, columns)
    big = F.interpolate(basis, size=((rows + 1) * cell, (columns + 1) * cell), mode="bilinear",
                        align_corners=False)[:, 0]
    moments = torch.zeros(height * width, height * width, dtype=torch.float64)
    for dy in range(cell):
        for dx in range(cell):
            a = big[:, dy:dy + height, dx:dx + width].reshape(rows * columns, -1).T
            ones = a.sum(1, keepdim=True)
            moments += p * (1 - p) * a @ a.T + p * p * ones @ ones.T
    return moments / cell**2


def test_rise_converges_to_its_expectation_on_a_region_mean_model():
    """With ``p_0(x * M) = mean_{u in R} M(u)`` (``x = 1``), ``E[map(v)] = mean_{u in R}
    E[M(u) M(v)] / p``: high on the region R, ``p`` far from it."""
    classifier, x = classifier_of(RegionMean(), 2), torch.ones(SHAPE)
    region = torch.zeros(5, 7, dtype=torch.bool)
    region[1:3, 2:5] = True
    expected = (mask_moments(5, 7, 2, 0.5)[region.flatten()].mean(0) / 0.5).view(5, 7)
    assert float(expected[region].mean()) > float(expected[~region].mean()) + 0.05
    values = at.rise(classifier, x, 0, masks=20_000, grid=2, p=0.5, seed=0)
    # each term p_i M_i / p is in [0, 2]: the standard error of a mean of 20,000 is below 0.015
    assert float((values.double() - expected).abs().max()) < 0.04
    assert float(values[region].mean() - values[~region].mean()) > 0.5 * float(
        expected[region].mean() - expected[~region].mean())


def test_rise_options_are_checked():
    classifier, x = classifier_of(RegionMean(), 2), torch.rand(SHAPE)
    for options, message in (({"masks": 0}, "masks 0"), ({"p": 0}, "p 0"), ({"p": 1.5}, "p 1.5"),
                             ({"grid": 0}, "grid 0"), ({"seed": 1.5}, "seed 1.5")):
        with pytest.raises(InputError, match=message):
            at.rise(classifier, x, 0, **options)


# ----------------------------------------------------------------------------------------------
# LIME and KernelSHAP on superpixels


class Bumpy(nn.Module):
    """A small nonlinear classifier of 3 classes (any pixel matters)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4, 3)
        with torch.no_grad():
            for parameter, seed in zip(self.parameters(), range(10, 14), strict=True):
                parameter.copy_(random_input(seed, tuple(parameter.shape)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu(self.conv(x)).mean((2, 3)))


def test_kernel_shap_efficiency_and_superpixel_maps():
    classifier = classifier_of(Bumpy(), 3)
    x = picture(11, 24, 40)
    labels = at.superpixels(classifier, x, segments=12)
    segments = int(labels.max()) + 1
    assert segments >= 8
    assert labels.shape == (24, 40) and set(labels.unique().tolist()) == set(range(segments))
    for method in (at.kernel_shap, at.lime):
        values = method(classifier, x, 2, samples=3 * segments, segments=12, seed=1)
        assert values.shape == (24, 40)
        for s in range(segments):  # one value a superpixel, spread evenly over its pixels
            inside = values[labels == s]
            assert torch.allclose(inside, inside[0].expand_as(inside))
        torch.testing.assert_close(method(classifier, x, 2, samples=3 * segments, segments=12,
                                          seed=1, batch_size=1), values)
    with torch.no_grad():
        logits = classifier.model(torch.cat([x, black((1, 3, 24, 40))]))
    for output, scores in (("logit", logits), ("probability", logits.softmax(1))):
        shap = at.kernel_shap(classifier, x, 2, samples=3 * segments, segments=12, seed=1,
                              output=output)
        check = at.completeness(classifier, x, 2, shap, output=output)
        assert check.expected == pytest.approx((scores[0, 2] - scores[1, 2]).item(), abs=1e-5)
        assert abs(check.expected) > 0.01 and check.gap < 1e-3, (output, check)
    assert at.lime(classifier, x, 2, samples=3 * segments, segments=12).abs().sum() > 0
    with pytest.raises(InputError, match="output 'odds'"):
        at.lime(classifier, x, 2, output="odds")
    # noise: SLIC merges it into one superpixel, so a grid of square cells stands in
    noise = random_input(0, (1, 3, 24, 40))
    grid = at.superpixels(classifier, noise, segments=12)
    side = math.ceil(math.sqrt(24 * 40 / 12))  # 9: 3 x 5 cells, the last row and column cut
    assert int(grid.max()) + 1 == 15 and bool((grid[:side, :side] == 0).all())
    assert int((grid == 0).sum()) == side * side and int((grid == 14).sum()) == 6 * 4
    with pytest.raises(InputError, match="kernel_shap: SLIC found only one superpixel"):
        at.kernel_shap(classifier, random_input(0, (1, 3, 1, 1)), 0)
    with pytest.raises(InputError, match="segments 1"):
        at.lime(classifier, x, 0, segments=1)


# ----------------------------------------------------------------------------------------------
# The registry: every new name, its passes counted


def test_every_new_method_goes_through_the_registry_with_its_passes():
    classifier, x = classifier_of(TinyNet(), 3), picture(12, 12, 20)
    assert set(NEW) <= set(saliency_methods())
    options = {"smoothgrad": {"samples": 3}, "integrated_gradients": {"steps": 5},
               "rise": {"masks": 7}, "lime": {"samples": 9, "segments": 4},
               "kernel_shap": {"samples": 9, "segments": 4}}
    passes = {"gradient": (1, 1), "gradient_x_input": (1, 1), "smoothgrad": (3, 3),
              "integrated_gradients": (5, 5), "guided_backprop": (1, 1), "rise": (7, 0),
              "lime": (9, 0), "kernel_shap": (9, 0)}
    for name in NEW:
        result = saliency_map(classifier, x, 1, method=name, **options.get(name, {}))
        assert result.values.shape == (12, 20) and result.input_size == (12, 20), name
        assert (result.forward_passes, result.backward_passes) == passes[name], name
        function = getattr(at, name)
        torch.testing.assert_close(result.values, function(classifier, x, 1,
                                                           **options.get(name, {})))
    assert model_state(classifier.model)[0] == 0
    assert all(p.grad is None and p.requires_grad for p in classifier.model.parameters())
    with pytest.raises(InputError, match="'rise'.*unexpected keyword"):
        saliency_map(classifier, x, 1, method="rise", steps=3)


# ----------------------------------------------------------------------------------------------
# The bundled model


@pytest.fixture(scope="module")
def bundled() -> Classifier:
    from xai_tutorial import load_classifier

    return load_classifier("efficientnet_lite0")


def test_guided_backprop_rectifies_the_bundled_models_relu6(bundled):
    x = random_input(13, (1, 3, 64, 96))
    before = model_state(bundled.model)
    guided = at.guided_backprop(bundled, x, 285)
    assert not torch.allclose(guided, at.gradient(bundled, x, 285))
    assert model_state(bundled.model) == before and before[0] == 0


def test_ig_completeness_and_shap_efficiency_on_the_bundled_model(bundled):
    """The acceptance: below 1% at 64 Gauss-Legendre steps on ``cat_and_coffee`` (the 224 x 224
    centre crop, class 285, black baseline; measured 0.13%, where the midpoint rule misses by
    2.5%). On the whole 224 x 672 picture the same call misses by 26%: see the benchmark."""
    from xai_tutorial import sample_image

    x = bundled.preprocess(sample_image("cat_and_coffee"))
    assert tuple(x.shape) == (1, 3, 224, 224)
    values = at.integrated_gradients(bundled, x, 285, steps=64)
    check = at.completeness(bundled, x, 285, values)
    assert check.expected > 1 and check.gap < 0.01, check
    # KernelSHAP with the same black baseline promises the very same sum
    shap = at.kernel_shap(bundled, x, 285, samples=48)
    assert at.completeness(bundled, x, 285, shap).gap < 1e-4


# ----------------------------------------------------------------------------------------------
# The path profile and the quadrature rules read off it


@pytest.mark.parametrize("rule", [r for r in at.RULES if r != "gausslegendre"])
def test_quadrature_on_a_path_grid_equals_the_rule_run_by_captum(rule):
    """Every Riemann rule's completeness total is a weighted sum of g(a) = d logit / d a at its
    points, so reading it off a grid gives what captum's run gives (ReLU net: g is piecewise
    constant, the rules differ from each other and from the exact integral)."""
    model = ReluNet()
    classifier, x = classifier_of(model, 2), random_input(7)
    profile = at.path_profile(classifier, x, 1, torch.linspace(0, 1, 17))
    with torch.no_grad():
        ends = model(torch.cat([black(), x]))[:, 1].double()
    torch.testing.assert_close(profile.logits[[0, -1]], ends, atol=1e-5, rtol=1e-5)
    # g(a) is the derivative of the logit along the path (a finite difference of the profile)
    h = 1e-3
    near = at.path_profile(classifier, x, 1, [0.25 + h, 0.25 - h])
    slope = float((near.logits[0] - near.logits[1]) / (2 * h))
    assert float(profile.slopes[4]) == pytest.approx(slope, rel=1e-2, abs=1e-3)
    for steps in ((2, 4, 8) if rule == "riemann_middle" else (2, 4, 8, 16)):
        steps_ = steps + 1 if rule == "riemann_trapezoid" else steps
        run = at.integrated_gradients(classifier, x, 1, steps=steps_, rule=rule)
        assert at.quadrature(profile, rule, steps_) == pytest.approx(float(run.double().sum()),
                                                                     rel=1e-5, abs=1e-6)


def test_rule_points_and_off_grid_rules_are_refused():
    alphas, weights = at.rule_points("riemann_trapezoid", 5)
    torch.testing.assert_close(alphas, torch.tensor([0, 0.25, 0.5, 0.75, 1], dtype=torch.float64))
    assert float(weights.sum()) == pytest.approx(1.0) and float(weights[0]) == pytest.approx(0.125)
    alphas, weights = at.rule_points("riemann_middle", 4)
    torch.testing.assert_close(alphas, torch.tensor([1, 3, 5, 7], dtype=torch.float64) / 8)
    classifier = classifier_of(Linear(), 2)
    profile = at.path_profile(classifier, random_input(8), 0, torch.linspace(0, 1, 5))
    with pytest.raises(InputError, match="not all on the profile"):
        at.quadrature(profile, "riemann_middle", 4)  # needs a / 8
    with pytest.raises(InputError, match="choose riemann"):
        at.quadrature(profile, "gausslegendre", 4)
    for bad in ([], [0.5, 1.5], [[0.1]], "0.5", [float("nan")]):
        with pytest.raises(InputError, match="alphas"):
            at.path_profile(classifier, random_input(8), 0, bad)


# ----------------------------------------------------------------------------------------------
# Hostile inputs (a hostile review of lesson 05's surface)


def test_memory_is_bounded_and_named():
    classifier = classifier_of(Linear(), 2)
    x = random_input(9)
    with pytest.raises(InputError, match="batch_size"):  # 4 x what fits in the budget, at most
        at.smoothgrad(classifier, x, 0, samples=2, batch_size=10**7)
    with pytest.raises(InputError, match="steps"):  # captum's Gauss-Legendre is n x n
        at.integrated_gradients(classifier, x, 0, steps=at.MAX_STEPS + 1)
    big = torch.zeros((1, 3, 224, 224 * 8 + 1))
    for method in (at.gradient, at.guided_backprop, at.integrated_gradients):
        with pytest.raises(InputError, match="resize"):
            method(classifier_of(ReluNet(), 2), big, 0)


def test_quadrature_reads_float32_grids_and_refuses_bad_profiles():
    classifier = classifier_of(Linear(), 2)
    profile = at.path_profile(classifier, random_input(8), 0, torch.linspace(0, 1, 31))
    assert at.quadrature(profile, "riemann_trapezoid", 31) == pytest.approx(
        float(profile.logits[-1] - profile.logits[0]), rel=1e-5)
    for bad in (None, "profile"):
        with pytest.raises(InputError, match="profile"):
            at.quadrature(bad, "riemann_middle", 2)
    for steps in (0, -1, 2.5, True, 10**10):
        with pytest.raises(InputError, match="steps"):
            at.rule_points("riemann_left", steps)
    with pytest.raises(InputError, match="alphas"):
        at.path_profile(classifier, random_input(8), 0, [True, False])


def test_options_and_maps_of_the_wrong_kind_are_named():
    classifier = classifier_of(Linear(), 2)
    x = random_input(10)
    with pytest.raises(InputError, match="output"):
        at.output_difference(classifier, x, 0, output=np.array(["logit"]))
    with pytest.raises(InputError, match="baseline"):
        at.integrated_gradients(classifier, x, 0, baseline=torch.full(SHAPE, float("nan")))
    with pytest.raises(InputError, match="resolution"):
        at.completeness(classifier, x, 0, torch.zeros(2, 2))
    with pytest.raises(InputError, match="float map"):
        at.completeness(classifier, x, 0, torch.zeros(5, 7, dtype=torch.int64))


def test_lime_leaves_numpys_global_random_state_alone():
    classifier = classifier_of(Bumpy(), 2)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    at.lime(classifier, picture(3, 24, 32), 0, samples=8, segments=6)
    assert (np.random.get_state()[1] == before).all()


def test_input_picture_refuses_what_is_not_one_model_input():
    from xai_tutorial.attribution_view import input_picture

    classifier = classifier_of(Linear(), 2)
    assert input_picture(classifier, random_input(1)).size == (7, 5)
    for bad in (torch.zeros(3, 5, 7), torch.zeros(2, 3, 5, 7), np.zeros((1, 3, 5, 7)),
                torch.full(SHAPE, float("nan"))):
        with pytest.raises(InputError):
            input_picture(classifier, bad)
