"""Lesson 04's judges and methods under hostile arguments: one InputError line each, quickly."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from xai_tutorial import evaluation as ev
from xai_tutorial.core.errors import InputError


@pytest.fixture(scope="module")
def x(bundled):
    return ev.model_input(bundled, "chelsea")


def refused(match, function, *args, seconds=1.0, **kwargs):
    start = time.perf_counter()
    with pytest.raises(InputError, match=match) as info:
        function(*args, **kwargs)
    assert time.perf_counter() - start < seconds
    assert "\n" not in str(info.value)
    return str(info.value)


MAP = torch.rand(7, 7)


# ---------------------------------------------------------------- 1, 2: deletion and insertion
@pytest.mark.parametrize("judge", [ev.deletion_auc, ev.insertion_auc, ev.deletion_curve,
                                   ev.insertion_curve])
@pytest.mark.parametrize("steps", [1001, 10**6, 3 * 10**7])
def test_steps_are_bounded(bundled, x, judge, steps):
    refused(r"steps .*at most 1000.*RISE", judge, bundled, x, MAP, 281, steps=steps)


def test_steps_at_most_the_pixels(bundled):
    small = torch.zeros(1, 3, 20, 20)
    refused(r"at most 400 .*pixels", ev.deletion_auc, bundled, small, MAP, 281, steps=401)


@pytest.mark.parametrize("steps", [0, -1, 2.5, "8", True, None])
def test_steps_must_be_whole(bundled, x, steps):
    refused(r"steps .*whole number", ev.deletion_auc, bundled, x, MAP, 281, steps=steps)


def test_batches_stay_within_the_pixel_budget(bundled, x):
    sizes = []
    handle = bundled.model.register_forward_hook(lambda m, i, o: sizes.append(i[0].shape[0]))
    try:
        big = ev.deletion_curve(bundled, x, MAP, 281, steps=16, batch_size=10**9)
    finally:
        handle.remove()
    pixels = int(x.shape[2]) * int(x.shape[3])
    assert max(sizes) * pixels <= ev.BATCH_PIXELS and sum(sizes) == 17
    small = ev.deletion_curve(bundled, x, MAP, 281, steps=16, batch_size=1)
    np.testing.assert_allclose(big.probabilities, small.probabilities, atol=1e-5)


@pytest.mark.parametrize("substrate", [0.0, 0, np.float32(0.0), np.zeros((1, 3, 1, 1)),
                                       torch.zeros(3, 1, 1), torch.zeros((), dtype=torch.float64)])
def test_substrates_of_numbers_arrays_and_tensors(bundled, x, substrate):
    reference = ev.deletion_auc(bundled, x, MAP, 281, steps=4, substrate=torch.zeros(1))
    assert ev.deletion_auc(bundled, x, MAP, 281, steps=4, substrate=substrate) == reference


@pytest.mark.parametrize(("substrate", "match"), [
    (torch.zeros(5, 5), "not broadcastable"),
    (np.zeros((2, 3, 1, 1)), "not broadcastable"),
    (torch.tensor(float("nan")), "NaN or infinite"),
    (np.array([np.inf]), "NaN or infinite"),
    ("grey", "give a number"),
    (True, "give a number"),
    (object(), "give a number"),
    (torch.zeros(1, dtype=torch.complex64), "real numbers"),
    (torch.zeros(1, device="meta"), "meta"),
])
def test_bad_substrates(bundled, x, substrate, match):
    refused(f"substrate.*{match}", ev.deletion_auc, bundled, x, MAP, 281, steps=4,
            substrate=substrate)


def test_a_saliency_map_on_the_meta_device(bundled, x):
    refused("saliency.*meta", ev.insertion_auc, bundled, x, torch.zeros(7, 7, device="meta"),
            281, steps=4)


# ---------------------------------------------------------------- 3: the pointing game
BOX = (0, 0, 3, 3)


@pytest.mark.parametrize("box", [None, 5, (0, 0, 3), "abcd", (0, 0, "3", 3),
                                 (0, 0, float("nan"), 3), [], [(0, 0, 3)]])
def test_bad_boxes(box):
    refused(r"box.*\(left, top, right, bottom\)", ev.pointing_hit, torch.rand(5, 5), box)
    refused(r"boxes\[0\].*\(left, top, right, bottom\)", ev.pointing_game,
            [torch.rand(5, 5)], [box])


@pytest.mark.parametrize("tolerance", ["x", None, float("nan"), float("inf"), -1, True])
def test_bad_tolerance(tolerance):
    refused("tolerance", ev.pointing_game, [torch.rand(5, 5)], [BOX], tolerance=tolerance)
    refused("tolerance", ev.pointing_hit, torch.rand(5, 5), BOX, tolerance=tolerance)


@pytest.mark.parametrize(("maps", "boxes"), [
    ((m for m in [torch.rand(5, 5)]), [BOX]),
    (None, None),
    (torch.rand(2, 5, 5), [BOX, BOX]),
    ([torch.rand(5, 5)], BOX[0]),
])
def test_maps_and_boxes_must_be_lists(maps, boxes):
    refused(r"(saliencies|boxes): expected a list", ev.pointing_game, maps, boxes)


@pytest.mark.parametrize("size", [(0, 0), (-5, 5), "ab", 3, (2.5, 3), (True, 3), (5, 5, 5),
                                  (10**6, 10**6)])
def test_bad_sizes(size):
    refused("size", ev.pointing_game, [torch.rand(5, 5)], [BOX], size=size)
    refused("size", ev.pointing_hit, torch.rand(5, 5), BOX, size=size)


def test_too_many_upsampled_pixels():
    maps = [torch.rand(5, 5)] * 2_000
    refused("budget", ev.pointing_game, maps, [BOX] * 2_000, size=(300, 300))


def test_good_boxes_still_count():
    peak = torch.zeros(5, 5)
    peak[1, 1] = 1.0
    assert ev.pointing_hit(peak, [(0, 0, 1, 1), (1, 1, 2, 2)], tolerance=0)
    assert ev.pointing_hit(peak, np.array([1, 1, 2, 2]), tolerance=0)
    assert ev.pointing_hit(peak, torch.tensor([[3, 3, 5, 5], [1, 1, 2, 2]]), tolerance=0)
    assert ev.pointing_game([peak, peak], [(3, 3, 5, 5), BOX], tolerance=0) == 0.5


# ---------------------------------------------------------------- 4, 5: occlusion, Grad-CAM
@pytest.mark.parametrize("stride", [60, 10**30])
def test_occlusion_stride_above_the_window(bundled, x, stride):
    refused(r"stride .*larger than the window 56", ev.occlusion, bundled, x, 281, window=56,
            stride=stride, seconds=5)
    refused(r"stride .*larger than the window", ev.saliency_map, bundled, x, 281,
            method="occlusion", window=56, stride=stride, seconds=5)


def test_grad_cam_at_a_container(bundled, x):
    message = refused(r"layer '_blocks': did not run in the forward pass \(a container\?",
                      ev.grad_cam, bundled, x, 281, layer="_blocks", seconds=5)
    assert "'_blocks.0'" in message


@pytest.mark.parametrize("layer", ["_fc", "_dropout"])
def test_grad_cam_at_a_layer_without_spatial_size(bundled, x, layer):
    refused(r"Grad-CAM needs a layer whose output has spatial size .*\(N, C, h, w\)",
            ev.grad_cam, bundled, x, 281, layer=layer, seconds=5)
    refused(r"spatial size", ev.saliency_map, bundled, x, 281, method="grad_cam", layer=layer,
            seconds=5)
    refused(r"spatial size", ev.batched_grad_cam, bundled, x, 281, layer=layer, seconds=5)


# ---------------------------------------------------------------- 6: the random map
@pytest.mark.parametrize("seed", [2**70, 2**63, -1, "x", 1.5, None, True])
def test_random_map_seed(bundled, x, seed):
    refused("seed", ev.random_map, bundled, x, 281, seed=seed)
    refused("seed", ev.saliency_map, bundled, x, 281, method="random", seed=seed)


@pytest.mark.parametrize("size", [5, (0, 3), "ab", (7, 11, 1), (2.0, 3), (10**6, 10**6)])
def test_random_map_size(bundled, x, size):
    refused("size", ev.random_map, bundled, x, 281, size=size)
    refused("size", ev.saliency_map, bundled, x, 281, method="random", size=size)


def test_random_map_good_arguments(bundled, x):
    assert ev.random_map(bundled, x, 281, size=[7, 11], seed=np.int64(3)).shape == (7, 11)
    assert ev.random_map(bundled, x, 281, seed=2**63 - 1).shape == x.shape[2:]


# ---------------------------------------------------------------- 7: the randomization check
@pytest.mark.parametrize(("options", "match"), [
    ({"seed": "x"}, "seed"), ({"seed": 2**70}, "seed"), ({"seed": None}, "seed"),
    ({"options": [1]}, "options"), ({"options": "layer"}, "options"),
    ({"method": lambda: None}, r"cannot be called as method\(classifier, x, class_index"),
    ({"method": lambda c, x, i: x, "options": {"layer": "_fc"}}, "cannot be called"),
    ({"method": 5}, "method"),
    ({"blocks": "_fc"}, r"pass a list, e.g. \['_fc'\]"),
    ({"blocks": [1]}, "blocks"), ({"blocks": ["_fc", "_fc"]}, "twice"),
    ({"blocks": (b for b in ["_fc"])}, "blocks"),
    ({"batch_norm": np.array([1, 2])}, "batch_norm"),
    ({"absolute": torch.ones(3)}, "absolute"),
])
def test_randomization_check_arguments(bundled, x, options, match):
    refused(match, ev.randomization_check, bundled, x, 281, **options)


def test_randomization_check_takes_a_function_with_options(bundled, x):
    def method(classifier, x, class_index, *, size=(3, 3)):
        return ev.random_map(classifier, x, class_index, size=size)

    steps = ev.randomization_check(bundled, x, 281, method=method, options={"size": (4, 4)},
                                   blocks=["_fc"])
    assert [s.block for s in steps] == ["_fc"]
