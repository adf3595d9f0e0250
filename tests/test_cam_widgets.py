"""The CAM explorer's model object (no browser) and its widget view."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xai_tutorial import InputError
from xai_tutorial.cam import hook_count
from xai_tutorial.cam_widgets import CAMExplorer, cam_explorer
from xai_tutorial.heatmap_view import heatmap_overlay


@pytest.fixture
def counted(bundled):
    """The bundled classifier with a counter of model forward calls."""
    calls = []
    handle = bundled.model.register_forward_pre_hook(lambda *_: calls.append(1))
    yield bundled, calls
    handle.remove()


def test_one_model_call_then_only_reblending(counted):
    classifier, calls = counted
    explorer = CAMExplorer(classifier, "cat_and_coffee")
    assert len(calls) == 1
    first = explorer.render()
    assert first.shape == (300, 901, 3)
    explorer.set_alpha(0.9)
    second = explorer.render()
    assert not np.array_equal(first, second)
    explorer.set_class("espresso")
    explorer.set_cmap("viridis")
    explorer.set_scale("shared")
    for alpha in np.linspace(0, 1, 11):
        explorer.set_alpha(float(alpha))
        explorer.render()
    explorer.set_class(285)
    explorer.render_png()
    assert len(calls) == 1  # every change re-blended cached arrays


def test_defaults_and_labels(bundled):
    explorer = CAMExplorer(bundled, "chelsea", k=3)  # the whole photo, not the centre crop
    assert [p.label for p in explorer.top] == ["Egyptian cat", "tiger cat", "tabby"]
    assert explorer.class_index == 285 and explorer.alpha == 0.5
    assert explorer.label.startswith("Egyptian cat (") and "rank 1 of 1000" in explorer.label
    explorer.set_class("espresso")
    assert explorer.label.startswith("espresso (")


def test_renders_what_the_shared_chain_renders(bundled):
    explorer = CAMExplorer(bundled, "cat_and_coffee", class_index="espresso", alpha=0.3,
                           cmap="viridis", scale="shared")
    _, expected = heatmap_overlay(explorer.image, explorer.result.maps[967], scale="shared",
                                  reference=explorer.result.maps, alpha=0.3, cmap="viridis")
    assert np.array_equal(explorer.render(), expected)


def test_options_are_checked_when_the_explorer_is_built(counted):
    classifier, calls = counted
    for options, words in [({"alpha": 2.0}, "alpha"), ({"k": 0}, "between 1 and 1000"),
                           ({"cmap": "nope"}, "colormap"), ({"scale": "log"}, "scale"),
                           ({"class_index": 1000}, "out of range"),
                           ({"class_index": "cat"}, "'tiger cat'"),
                           ({"class_index": 2.5}, "not a float")]:
        with pytest.raises(InputError, match=words):
            CAMExplorer(classifier, "chelsea", **options)
    assert calls == []  # refused before the model ran
    for choice in (np.int64(967), torch.tensor(967), "espresso"):
        assert CAMExplorer(classifier, "chelsea", class_index=choice).class_index == 967


def test_follows_the_shared_photo_protocol(bundled, tmp_path):
    explorer = CAMExplorer(bundled, "chelsea")
    explorer.classify("cat_over_coffee")
    assert explorer.image.size == (451, 601) and explorer.class_index == 285
    assert explorer.headline.startswith("Class Activation Map of Egyptian cat")
    assert explorer.figure().size == (451, 601)
    explorer.classify(str(tmp_path / "nope.png"))
    assert "no such file" in explorer.headline and explorer.image.size == (451, 601)


def test_alpha_extremes(bundled):
    explorer = CAMExplorer(bundled, "chelsea")
    explorer.set_alpha(0.0)
    assert np.array_equal(explorer.render(), np.asarray(explorer.image))
    explorer.set_alpha(1.0)
    assert np.array_equal(explorer.render(), explorer.heat())


def test_shared_scale_shows_weaker_evidence_weaker(bundled):
    explorer = CAMExplorer(bundled, "chelsea")
    explorer.set_scale("shared")
    explorer.set_class(285)
    strong = float(explorer.map01().max())
    explorer.set_class("golf ball")
    weak = float(explorer.map01().max())
    assert weak < strong
    explorer.set_scale("minmax")
    assert float(explorer.map01().max()) == pytest.approx(1.0, abs=0.01)  # bilinear softens


def test_bad_choices_raise(bundled):
    explorer = CAMExplorer(bundled, "chelsea")
    with pytest.raises(InputError, match="close matches"):
        explorer.set_class("espreso")
    with pytest.raises(InputError, match="out of range"):
        explorer.set_class(1000)
    with pytest.raises(InputError):
        explorer.set_alpha(1.5)
    with pytest.raises(InputError):
        explorer.set_cmap("nope")
    with pytest.raises(InputError):
        explorer.set_scale("log")
    assert explorer.class_index == 285 and explorer.alpha == 0.5


def test_view_updates_on_widget_changes(counted):
    classifier, calls = counted
    view = cam_explorer(classifier, "cat_and_coffee")
    top_choice, search = view.children[0].children
    alpha, cmap = view.children[1].children
    caption, picture = view.children[3], view.children[4]
    before = picture.value
    alpha.value = 0.8
    assert picture.value != before
    after_alpha = picture.value
    top_choice.value = top_choice.options[1][1]
    assert picture.value != after_alpha
    assert classifier.categories[top_choice.value] in caption.value
    search.value = "espresso"
    assert "espresso" in caption.value
    assert len(calls) == 1 and hook_count(classifier.model) == 1  # only the counter's own hook


def test_view_explains_an_uploaded_photo(counted):
    import datetime
    import io

    from PIL import Image

    from xai_tutorial import sample_image

    classifier, calls = counted
    view = cam_explorer(classifier, "chelsea", upload=True)
    upload_row = view.children[0]
    upload = upload_row.children[0].children[0]
    top_choice = view.children[1].children[0]
    caption, picture = view.children[4], view.children[5]
    buffer = io.BytesIO()
    sample_image("coffee").save(buffer, "PNG")
    upload.value = ({"name": "c.png", "type": "image/png", "size": 1,
                     "content": memoryview(buffer.getvalue()),
                     "last_modified": datetime.datetime.now(datetime.timezone.utc)},)
    assert len(calls) == 2  # one model call per photo
    assert view.explorer.class_index == 967 and top_choice.value == 967
    assert "espresso" in caption.value and "espresso" in top_choice.options[0][0]
    assert Image.open(io.BytesIO(picture.value)).size == sample_image("coffee").size
    upload.value = ({"name": "bad.png", "type": "image/png", "size": 1,
                     "content": memoryview(b"not a picture"),
                     "last_modified": datetime.datetime.now(datetime.timezone.utc)},)
    assert "Could not use that photo" in upload_row.children[1].value
    assert view.explorer.class_index == 967 and len(calls) == 2


def test_the_explorer_shows_any_registered_method(counted):
    """A toy method registered here: one model call per (method, class), then re-blending."""
    from xai_tutorial.core.saliency import register_method, unregister_method

    classifier, calls = counted

    def brightness(classifier, x, class_index):
        with torch.no_grad():
            classifier.model(x)
        return x[0].mean(0) * (1 + class_index % 2)

    register_method("brightness", brightness)
    try:
        view = cam_explorer(classifier, "chelsea")
        explorer = view.explorer
        scale, method = view.children[2].children
        assert "brightness" in method.options and "grad_cam" in method.options
        assert len(calls) == 1
        method.value = "brightness"
        assert len(calls) == 2 and explorer.model_calls == 2
        assert "brightness map of Egyptian cat" in view.children[3].value
        raw = explorer.raw_map()
        assert raw.shape == (224, 336)  # the model input's size: 300x451 resized to 224 high
        picture = view.children[4].value
        explorer.set_alpha(0.9)
        explorer.render()
        assert len(calls) == 2  # cached
        scale.value = "shared"  # the top-5 classes' maps fix the range: 5 more calls at most
        assert view.children[4].value != picture and len(calls) <= 7
        method.value = "cam"
        assert "Class Activation Map of" in view.children[3].value
        with pytest.raises(InputError, match="no such saliency method"):
            explorer.set_method("nope")
    finally:
        unregister_method("brightness")


def test_the_upload_rows_headline_follows_the_method(bundled):
    view = cam_explorer(bundled, "chelsea", upload=True)
    headline = view.children[0].children[1]
    method = view.children[3].children[1]
    assert "Class Activation Map of" in headline.value
    method.value = "edge"
    assert "edge map of Egyptian cat" in headline.value


@pytest.fixture
def recorded(monkeypatch):
    """Every ``saliency_map`` call the explorer makes: (method, options, images through the
    network forward and backward)."""
    from xai_tutorial import cam_widgets

    calls = []
    real = cam_widgets.saliency_map

    def record(classifier, image, class_index, method="cam", **options):
        result = real(classifier, image, class_index, method, **options)
        calls.append((method, options, result.forward_passes + result.backward_passes))
        return result

    monkeypatch.setattr(cam_widgets, "saliency_map", record)
    return calls


def test_every_registered_method_renders_with_its_interactive_options(bundled, recorded):
    """Each method of the picker draws a map, with its interactive options (the title says
    which), in at most 40 images through the network (about 4 CPU-s on the lesson's photo)."""
    from xai_tutorial.cam_widgets import INTERACTIVE_OPTIONS
    from xai_tutorial.core.saliency import saliency_methods

    explorer = CAMExplorer(bundled, "chelsea")
    photo = np.asarray(explorer.image)
    assert set(INTERACTIVE_OPTIONS) <= set(saliency_methods())
    for name in saliency_methods():
        explorer.set_method(name)
        picture = explorer.render()
        assert picture.shape == photo.shape and picture.dtype == np.uint8, name
        assert not np.array_equal(picture, photo), name  # a heatmap is blended in
        assert explorer.options() == dict(INTERACTIVE_OPTIONS.get(name, {}))
        if name == "cam":
            assert explorer.title.startswith("Class Activation Map of Egyptian cat")
            continue
        method, options, images = recorded[-1]
        assert (method, options) == (name, dict(INTERACTIVE_OPTIONS.get(name, {})))
        assert images <= 40, (name, images)
        settings = ", ".join(f"{k}={v!r}" for k, v in options.items())
        title = f"{name} map ({settings}) of " if settings else f"{name} map of "
        assert explorer.title.startswith(title + "Egyptian cat"), explorer.title
    assert [m for m, _, _ in recorded] == [m for m in saliency_methods() if m != "cam"]
    assert explorer.options("rise") == {"masks": 32}


def test_interactive_occlusion_fits_the_lessons_wide_photo():
    """At its defaults occlusion refuses lesson 02's 224 x 672 input (over its pixel budget)."""
    from xai_tutorial.cam_widgets import INTERACTIVE_OPTIONS
    from xai_tutorial.evaluation.methods import MAX_OCCLUSION_PIXELS, occlusion_passes

    size = (224, 672)
    assert occlusion_passes(size) * 224 * 672 > MAX_OCCLUSION_PIXELS
    passes = occlusion_passes(size, **INTERACTIVE_OPTIONS["occlusion"])
    assert passes <= 40 and passes * 224 * 672 <= MAX_OCCLUSION_PIXELS


def test_method_options_replace_the_interactive_ones(bundled, recorded):
    explorer = CAMExplorer(bundled, "chelsea", method="rise",
                           method_options={"rise": {"masks": 4, "seed": 1}, "lime": {}})
    assert explorer.title.startswith("rise map (masks=4, seed=1) of Egyptian cat")
    explorer.render()
    assert recorded == [("rise", {"masks": 4, "seed": 1}, 4)]
    assert explorer.options("lime") == {}  # its own defaults
    assert explorer.options("integrated_gradients") == {"steps": 8}  # the others stay
    explorer.set_method("lime")
    assert explorer.settings == "" and explorer.title.startswith("lime map of")
    for given, words in [({"nope": {}}, "no such saliency method"), ({"cam": {"a": 1}}, "'cam'"),
                         ({"rise": 32}, "mapping of option name"), ("rise", "a mapping")]:
        with pytest.raises(InputError, match=words):
            CAMExplorer(bundled, "chelsea", method_options=given)


def test_maps_to_compute(bundled):
    explorer = CAMExplorer(bundled, "chelsea", k=3, method_options={"rise": {"masks": 2}})
    assert explorer.maps_to_compute() == []  # CAM: all from the one pass
    explorer.set_method("rise")
    assert explorer.maps_to_compute() == [285]
    explorer.render()
    assert explorer.maps_to_compute() == []
    explorer.set_scale("shared")
    assert explorer.maps_to_compute() == [p.index for p in explorer.top if p.index != 285]
    explorer.render()
    assert explorer.maps_to_compute() == []


def test_the_view_names_the_settings_and_says_while_it_computes(bundled, recorded):
    view = cam_explorer(bundled, "chelsea", method_options={"rise": {"masks": 3}})
    scale, method = view.children[2].children
    caption, picture, error = view.children[3:6]
    notes = []
    error.observe(lambda change: notes.append(change["new"]), names="value")
    before = picture.value
    method.value = "rise"
    assert "rise map (masks=3) of Egyptian cat" in caption.value
    assert picture.value != before and error.value == ""
    assert "Computing the rise map (masks=3)" in notes[0]  # shown before the map was made
    scale.value = "shared"
    assert any("Computing 4 rise maps (masks=3) for the shared scale" in n for n in notes)
    assert [m for m, _, _ in recorded] == ["rise"] * 5 and error.value == ""


def test_a_map_that_cannot_be_made_is_said_and_the_last_one_stays(bundled):
    view = cam_explorer(bundled, "chelsea", method_options={"rise": {"mask": 3}})
    method = view.children[2].children[1]
    caption, picture, error = view.children[3:6]
    before, title = picture.value, caption.value
    method.value = "rise"  # a misspelt option: the method refuses it
    assert "mask" in error.value and "still showing the cam map" in error.value
    assert picture.value == before and caption.value == title
    assert view.explorer.method == "cam"
    method.value = "edge"
    assert error.value == "" and "edge map of" in caption.value
