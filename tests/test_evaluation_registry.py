"""Lesson 04's judges take a saliency method by name; every built-in method keeps the contract.

A toy method registered here (and removed again) goes through deletion, insertion and the
randomization check by name, with values worked out by hand on small hand-built networks.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from hand_built import TinyNet
from torch import nn

from xai_tutorial import Classifier
from xai_tutorial import evaluation as ev
from xai_tutorial.cam import hook_count
from xai_tutorial.core.errors import InputError, UnknownNameError
from xai_tutorial.core.saliency import (
    SaliencyMap,
    register_method,
    saliency_map,
    saliency_methods,
    unregister_method,
)

#: The methods lesson 04 relies on (the registry may hold more).
BUILT_IN = ("cam", "grad_cam", "occlusion", "edge", "random", "center")


def classifier_of(model: nn.Module, classes: int) -> Classifier:
    return Classifier("hand-built", model, [str(i) for i in range(classes)], resize=2, crop=2,
                      mean=(0, 0, 0), std=(1, 1, 1), pooling_layer="pool", fc_layer="fc")


def channel_mean(classifier: Classifier, x: torch.Tensor, class_index: int) -> torch.Tensor:
    """The toy method: the input's mean over its channels, ``(H, W)`` (it ignores the model)."""
    assert isinstance(class_index, int) and not isinstance(class_index, bool)
    assert x.shape[0] == 1 and x.dtype == torch.float32  # the checked input of the contract
    return x[0].mean(0)


RAMP = torch.arange(6.0).view(2, 3)


def fc_sign_ramp(classifier: Classifier, x: torch.Tensor, class_index: int) -> torch.Tensor:
    """A toy method that reads one weight: ``sign(w_c0) * ramp`` on a 2 x 3 grid."""
    return torch.sign(classifier.model.fc.weight[class_index, 0].detach()) * RAMP


@pytest.fixture
def toy_methods() -> Iterator[None]:
    register_method("toy_channel_mean", channel_mean)
    register_method("toy_fc_sign_ramp", fc_sign_ramp)
    try:
        yield
    finally:
        unregister_method("toy_channel_mean")
        unregister_method("toy_fc_sign_ramp")
    assert "toy_channel_mean" not in saliency_methods()


class LinearScore(nn.Module):
    """logit_0 = sum(x) over channels and pixels, logit_1 = 0: p_0 = sigmoid(sum_ij 3 m_ij)
    with ``m`` the channel mean, so the channel mean is the optimal deletion order."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = self.scale * x.flatten(1).sum(1)
        return torch.stack([score, torch.zeros_like(score)], dim=1)


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def by_hand(x: torch.Tensor, steps: int, kind: str) -> np.ndarray:
    """p_k of the curve whose order is the channel mean, with a zero substrate."""
    contribution = x[0].sum(0).flatten().double().numpy()  # what each pixel adds to logit_0
    values = np.sort(contribution)[::-1]  # distinct values: no ties to break
    out = []
    for k in range(steps + 1):
        top = values[: round(k * values.size / steps)].sum()
        out.append(sigmoid(values.sum() - top) if kind == "deletion" else sigmoid(top))
    return np.array(out)


def test_a_registered_method_is_judged_by_name(toy_methods):
    classifier = classifier_of(LinearScore(), 2)
    x = torch.randn(1, 3, 4, 5, generator=torch.Generator().manual_seed(7))  # 4 rows, 5 columns
    zero = torch.zeros(1)
    for kind, curve_of, auc_of in (("deletion", ev.deletion_curve, ev.deletion_auc),
                                   ("insertion", ev.insertion_curve, ev.insertion_auc)):
        curve = curve_of(classifier, x, "toy_channel_mean", 0, steps=5, substrate=zero)
        np.testing.assert_allclose(curve.probabilities, by_hand(x, 5, kind), atol=1e-6)
        p, f = curve.probabilities, curve.fractions
        assert curve.auc == pytest.approx(float(np.sum((p[1:] + p[:-1]) / 2 * np.diff(f))))
        assert auc_of(classifier, x, "toy_channel_mean", 0, steps=5, substrate=zero) == curve.auc
        # the same map given as a tensor or as a SaliencyMap is judged the same
        assert auc_of(classifier, x, x[0].mean(0), 0, steps=5, substrate=zero) == curve.auc
        computed = saliency_map(classifier, x, 0, method="toy_channel_mean")
        assert auc_of(classifier, x, computed, 0, steps=5, substrate=zero) == curve.auc
    assert ev.deletion_auc(classifier, x, "toy_channel_mean", 0, steps=5, substrate=zero) < (
        ev.insertion_auc(classifier, x, "toy_channel_mean", 0, steps=5, substrate=zero))


def test_a_saliency_map_must_be_of_the_input_and_class_it_judges(toy_methods):
    classifier = classifier_of(LinearScore(), 2)
    x = torch.randn(1, 3, 4, 5, generator=torch.Generator().manual_seed(7))
    other_class = saliency_map(classifier, x, 1, method="toy_channel_mean")
    with pytest.raises(InputError, match="of class 1 .* judged for class 0.*saliency.values"):
        ev.deletion_auc(classifier, x, other_class, 0)
    other_input = saliency_map(classifier, torch.zeros(1, 3, 4, 4), 0, method="toy_channel_mean")
    with pytest.raises(InputError, match=r"\(4, 4\)"):
        ev.insertion_auc(classifier, x, other_input, 0)
    assert 0 <= ev.deletion_auc(classifier, x, other_class.values, 0) <= 1  # values: anyway
    with pytest.raises(UnknownNameError, match="'nope'.*toy_channel_mean"):
        ev.deletion_auc(classifier, x, "nope", 0)


def test_randomization_check_by_name(toy_methods):
    tiny = classifier_of(TinyNet(), 3)
    x = torch.randn(1, 3, 2, 3, generator=torch.Generator().manual_seed(1))
    blocks = ev.cascade_blocks(tiny.model)
    assert blocks == ["fc", "conv"]
    # a map that ignores the model never changes: rho = 1 after every step
    ignoring = ev.randomization_check(tiny, x, 0, method="toy_channel_mean")
    assert [s.block for s in ignoring] == blocks
    assert [s.rho for s in ignoring] == pytest.approx([1.0, 1.0])
    # sign(w_00) * ramp: rho is the sign of the re-initialized weight (fc is reset first, with
    # seed 0), +1 or -1; resetting conv afterwards leaves fc, so the second step repeats it
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        replica = copy.deepcopy(tiny.model.fc)
        replica.reset_parameters()
    sign = float(torch.sign(replica.weight[0, 0].detach()))
    reading = ev.randomization_check(tiny, x, 0, method="toy_fc_sign_ramp")
    assert [s.rho for s in reading] == pytest.approx([sign, sign])
    # a callable of the contract still works, and a name equals its function
    assert ev.randomization_check(tiny, x, 0, method=fc_sign_ramp) == reading
    assert ev.randomization_check(tiny, x, 0, method="cam") == ev.randomization_check(
        tiny, x, 0, method=ev.cam)
    assert ev.randomization_check(tiny, x, 0) == ev.randomization_check(tiny, x, 0, method="cam")
    with_layer = ev.randomization_check(tiny, x, 0, method="grad_cam", options={"layer": "relu"})
    assert with_layer == ev.randomization_check(
        tiny, x, 0, method=lambda c, inputs, i: ev.grad_cam(c, inputs, i, layer="relu"))
    with pytest.raises(UnknownNameError, match="'nope'"):
        ev.randomization_check(tiny, x, 0, method="nope")
    with pytest.raises(InputError, match="method 3"):
        ev.randomization_check(tiny, x, 0, method=3)  # type: ignore[arg-type]
    assert hook_count(tiny.model) == 0


def test_a_method_breaking_the_contract_is_refused_by_name():
    register_method("toy_batched", lambda classifier, x, c: torch.zeros(1, 2, 3))
    try:
        tiny = classifier_of(TinyNet(), 3)
        with pytest.raises(InputError, match=r"returned \(1, 2, 3\), not an \(h, w\) map"):
            ev.randomization_check(tiny, torch.zeros(1, 3, 2, 3), 0, method="toy_batched")
    finally:
        unregister_method("toy_batched")


@pytest.fixture
def wide() -> tuple[Classifier, torch.Tensor]:
    """TinyNet (1 x 1 convolution: maps at the input's resolution) on a 60 x 90 input."""
    x = torch.randn(1, 3, 60, 90, generator=torch.Generator().manual_seed(5))
    return classifier_of(TinyNet(), 3), x


def test_every_built_in_method_keeps_the_contract(wide):
    classifier, x = wide
    assert set(BUILT_IN) <= set(saliency_methods())
    passes = {"cam": (1, 0), "grad_cam": (1, 1),
              "occlusion": (ev.occlusion_passes((60, 90)), 0),
              "edge": (0, 0), "random": (0, 0), "center": (0, 0)}
    # windows of 56 at stride 28 on 60 x 90: rows start at 0, 28 (clipped), columns at 0, 28, 56
    assert passes["occlusion"] == (2 * 3 + 1, 0)
    for name in saliency_methods():
        result = saliency_map(classifier, x, np.int64(1), method=name)
        assert isinstance(result, SaliencyMap) and result.method == name
        assert result.values.ndim == 2 and result.values.dtype == torch.float32, name
        assert torch.isfinite(result.values).all(), name
        assert result.class_index == 1 and result.input_size == (60, 90)
        if name in passes:
            assert result.values.shape == (60, 90), name
            assert (result.forward_passes, result.backward_passes) == passes[name], name
    assert hook_count(classifier.model) == 0
    assert all(p.grad is None for p in classifier.model.parameters())


def test_the_registered_methods_are_the_lessons_functions(wide):
    classifier, x = wide
    functions = {"cam": ev.cam, "grad_cam": ev.grad_cam, "occlusion": ev.occlusion,
                 "edge": ev.edge_map, "random": ev.random_map, "center": ev.center_map}
    for name, function in functions.items():
        by_name = saliency_map(classifier, x, 2, method=name).values
        torch.testing.assert_close(by_name, function(classifier, x, 2), rtol=0, atol=0)
    cam = ev.cam(classifier, x, 2)
    torch.testing.assert_close(ev.grad_cam(classifier, x, 2),
                               cam.clamp_min(0) / cam.numel(), rtol=0, atol=1e-7)
    options = saliency_map(classifier, x, 0, method="occlusion", window=30, stride=30)
    assert options.forward_passes == ev.occlusion_passes((60, 90), 30, 30) == 7
    with pytest.raises(InputError, match="'occlusion'.*unexpected keyword"):
        saliency_map(classifier, x, 0, method="occlusion", radius=3)
    with pytest.raises(InputError, match="give a class index"):
        saliency_map(classifier, x, True, method="grad_cam")
