"""Lesson 04's package for any model and photo, within Binder's memory: the lesson's class
(:func:`top_class`), scenes of any two photos, CAM of many scenes in small batches, and the
figures' colours (uniform for magnitudes, diverging and centred on 0 for signed maps)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hand_built import TinyNet
from PIL import Image

from xai_tutorial import Classifier
from xai_tutorial import evaluation as ev
from xai_tutorial.cam import class_activation_maps
from xai_tutorial.core.heatmap import DEFAULT_CMAP, DIVERGING_CMAP
from xai_tutorial.errors import InputError


@pytest.fixture
def tiny() -> Classifier:
    return Classifier("hand-built", TinyNet(), ["zero", "one", "two"], resize=8, crop=8,
                      mean=(0, 0, 0), std=(1, 1, 1))


def input_favouring(first: float, second: float) -> torch.Tensor:
    """(1, 3, 4, 6): TinyNet's logits are (mean relu x0 + 0.5, 2 mean relu x1 - 1, x0 - x1)."""
    x = torch.zeros(1, 3, 4, 6)
    x[0, 0], x[0, 1] = first, second
    return x


# ----------------------------------------------------------------------------------------------
# The lesson's classes


def test_top_class_is_the_models_most_probable_class_but_the_excluded(tiny):
    x = input_favouring(3.0, 0.0)  # logits (3.5, -1, 3): "zero"
    assert ev.top_class(tiny, x) == 0
    assert ev.top_class(tiny, x, exclude=[0]) == 2
    assert ev.top_class(tiny, x, exclude="zero") == 2  # a name, or one index, works too
    assert ev.top_class(tiny, x, exclude=np.int64(0)) == 2
    assert ev.top_class(tiny, x, exclude=None) == 0
    assert ev.top_class(tiny, x, exclude=[0, "two"]) == 1
    with pytest.raises(InputError, match="all 3 classes excluded"):
        ev.top_class(tiny, x, exclude=[0, 1, 2])
    with pytest.raises(InputError):
        ev.top_class(tiny, x, exclude=["cat"])
    assert not tiny.model.training


# ----------------------------------------------------------------------------------------------
# Scenes of any two pictures


def test_scene_object_crops_the_bundled_samples_and_keeps_other_photos_whole(tmp_path):
    cat = ev.scene_object("chelsea")
    assert cat.size == (ev.CAT_CROP[2] - ev.CAT_CROP[0], ev.CAT_CROP[3] - ev.CAT_CROP[1])
    cup = ev.scene_object("coffee")
    assert cup.size == (ev.CUP_CROP[2] - ev.CUP_CROP[0], ev.CUP_CROP[3] - ev.CUP_CROP[1])
    photo = Image.new("RGB", (90, 40), "red")
    assert ev.scene_object(photo).size == (90, 40)
    path = tmp_path / "mine.png"
    photo.save(path)
    assert ev.scene_object(str(path)).size == (90, 40)


def test_scenes_paste_the_given_objects_under_their_names():
    red, blue = Image.new("RGB", (60, 30), "red"), Image.new("RGB", (20, 40), "blue")
    scenes = ev.pointing_scenes(5, seed=3, size=96, objects={"first": red, "second": blue})
    for scene in scenes:
        assert scene.image.size == (96, 96) and set(scene.boxes) == {"first", "second"}
        pixels = np.asarray(scene.image)
        for key, colour in (("first", (255, 0, 0)), ("second", (0, 0, 255))):
            left, top, right, bottom = scene.boxes[key]
            assert 0 <= left < right <= 96 and 0 <= top < bottom <= 96
            middle = pixels[(top + bottom) // 2, (left + right) // 2]
            assert np.abs(middle.astype(int) - colour).max() <= 8
            assert max(right - left, bottom - top) >= 0.3 * 96 - 1  # 30-55% of the scene
    again = ev.make_scene(5, size=96, objects={"first": red, "second": blue})
    assert again.boxes == scenes[2].boxes  # seeds 3, 4, 5
    default = ev.make_scene(0)
    assert set(default.boxes) == {"cat", "cup"} and default.image.size == (224, 224)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: ev.pointing_scenes(0), "n 0"),
    (lambda: ev.pointing_scenes(2.5), "n 2.5"),
    (lambda: ev.pointing_scenes(3000), "n 3000"),
    (lambda: ev.pointing_scenes(2, size=8), "size 8"),
    (lambda: ev.make_scene(0, size=True), "size True"),
    (lambda: ev.pointing_scenes(2, objects={}), "objects"),
    (lambda: ev.pointing_scenes(2, objects={"a": "chelsea"}), "objects"),
    (lambda: ev.pointing_scenes(2, objects=[Image.new("RGB", (4, 4))]), "objects"),
    (lambda: ev.make_scene(0, objects={str(i): Image.new("RGB", (4, 4)) for i in range(5)}),
     "at most 4"),
])
def test_scenes_refuse_bad_arguments(call, match):
    with pytest.raises(InputError, match=match):
        call()


# ----------------------------------------------------------------------------------------------
# Memory: small batches


def test_batched_cam_runs_a_few_images_at_a_time_and_equals_cam(tiny):
    torch.manual_seed(0)
    side = 224
    batch = torch.rand(7, 3, side, side) - 0.5
    sizes: list[int] = []
    handle = tiny.model.register_forward_hook(lambda m, i, o: sizes.append(int(i[0].shape[0])))
    try:
        maps = ev.batched_cam(tiny, batch, [2, "one"])
    finally:
        handle.remove()
    assert maps.shape == (7, 2, side, side)
    assert max(sizes) * side * side <= ev.BATCH_PIXELS and sum(sizes) == 7 and len(sizes) > 1
    for i in range(7):
        reference = class_activation_maps(tiny, batch[i : i + 1], [2, 1]).maps
        torch.testing.assert_close(maps[i], reference, rtol=0, atol=1e-6)


def test_occlusion_batches_stay_within_the_pixel_budget(tiny):
    x = torch.rand(1, 3, 224, 336)
    sizes: list[int] = []
    handle = tiny.model.register_forward_hook(lambda m, i, o: sizes.append(int(i[0].shape[0])))
    try:
        ev.occlusion(tiny, x, 0, window=56, stride=56)
    finally:
        handle.remove()
    assert max(sizes) * 224 * 336 <= ev.BATCH_PIXELS
    assert sum(sizes) == ev.occlusion_passes((224, 336), 56, 56)


# ----------------------------------------------------------------------------------------------
# Colours


def test_maps_default_to_the_uniform_colour_map_and_signed_maps_are_centred_on_zero():
    from xai_tutorial import evaluation_view as view

    assert DEFAULT_CMAP not in ("jet", "hsv", "rainbow", "turbo")
    white = Image.new("RGB", (50, 10), "white")
    magnitude = view.plot_maps(white, {"m": torch.rand(2, 3)})
    bar = magnitude.axes[-1]._colorbar  # the colour bar's axes keeps its Colorbar
    assert bar.cmap.name == DEFAULT_CMAP and bar.norm.vmin == 0 and bar.norm.vmax == 1
    signed_map = torch.tensor([[-1.0, 0.0, 0.0, 0.0, 2.0]])
    signed = view.plot_maps(white, {"s": signed_map}, scale="signed")
    bar = signed.axes[-1]._colorbar
    assert bar.cmap.name == DIVERGING_CMAP and (bar.norm.vmin, bar.norm.vmax) == (-1, 1)
    drawn = signed.axes[0].images[0].get_array()
    assert drawn.shape == (10, 50, 3)
    # the middle cells are 0: (near) white over a white photo, whatever the alpha
    assert np.abs(np.asarray(drawn[5, 25], dtype=int) - 255).max() <= 8
    assert drawn[5, 49][0] > drawn[5, 49][2]  # positive: red
    assert drawn[5, 0][2] > drawn[5, 0][0]  # negative: blue
    jet = view.plot_maps(white, {"m": torch.rand(2, 3)}, cmap="jet")  # still offered
    assert jet.axes[-1]._colorbar.cmap.name == "jet"
