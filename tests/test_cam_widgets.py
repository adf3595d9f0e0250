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
