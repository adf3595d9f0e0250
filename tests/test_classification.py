"""The classifier object: exact values on a hand-built net, and the bundled ImageNet model."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from xai_tutorial import (
    CacheError,
    Classifier,
    InputError,
    UnknownNameError,
    imagenet_categories,
    load_classifier,
)
from xai_tutorial.classification import MODELS, model_status, show_steps

CAT_CLASSES = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def mean_colour_net() -> nn.Module:
    """logits = per-channel mean of the input (identity weights, zero bias)."""
    fc = nn.Linear(3, 3)
    with torch.no_grad():
        fc.weight.copy_(torch.eye(3))
        fc.bias.zero_()
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc)


@pytest.fixture
def tiny() -> Classifier:
    return Classifier("tiny", mean_colour_net(), ["red", "green", "blue"], resize=8, crop=8,
                      mean=(0, 0, 0), std=(1, 1, 1))


def test_exact_probabilities_on_a_hand_built_net(tiny):
    picture = Image.new("RGB", (20, 10), (255, 0, 0))
    predictions = tiny.predict(picture, k=3)
    assert [p.label for p in predictions][0] == "red"
    expected = torch.tensor([1.0, 0.0, 0.0]).softmax(0)
    assert predictions[0].probability == pytest.approx(float(expected[0]), abs=1e-6)
    assert predictions[1].probability == pytest.approx(float(expected[1]), abs=1e-6)
    assert str(predictions[0]) == f"red ({float(expected[0]):.2%})"


def test_preprocess_shapes_crop_and_whole(tiny):
    picture = Image.new("RGB", (30, 12))
    assert tiny.preprocess(picture).shape == (1, 3, 8, 8)
    assert tiny.preprocess(picture, crop=False).shape == (1, 3, 8, 20)  # keeps the aspect


def test_model_is_in_eval_mode(tiny):
    assert not tiny.model.training


def test_k_is_checked(tiny):
    for k in (0, 4, 1.5, "2"):
        with pytest.raises(InputError, match="between 1 and 3"):
            tiny.predict(Image.new("RGB", (8, 8)), k=k)
    assert len(tiny.predict(Image.new("RGB", (8, 8)), k=np.int64(2))) == 2


def test_class_index_and_close_matches(tiny):
    assert tiny.class_index("Green") == 1
    with pytest.raises(InputError, match="'blue'"):
        tiny.class_index("bleu")
    assert tiny.class_index(np.int64(2)) == 2 and tiny.class_index(torch.tensor(0)) == 0


def test_label_suggestions_share_a_word_or_a_spelling():
    net = Classifier("r", mean_colour_net(), imagenet_categories())
    with pytest.raises(InputError) as caught:
        net.class_index("cat")
    message = str(caught.value)
    for cat in ("tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"):
        assert repr(cat) in message
    assert "crate" not in message and "oxcart" not in message
    with pytest.raises(InputError, match="close matches: 'espresso'"):
        net.class_index("espreso")
    assert net.class_index(" Tiger Cat ") == 282


def test_unknown_model():
    with pytest.raises(UnknownNameError, match="choose one of efficientnet_lite0, resnet18"):
        load_classifier("vgg")


def test_each_model_carries_its_own_preprocessing():
    lite0, resnet = MODELS["efficientnet_lite0"], MODELS["resnet18"]
    assert (lite0.resize, lite0.crop) == (256, 224)
    assert lite0.mean == (127 / 255,) * 3 and lite0.std == (128 / 255,) * 3
    assert resnet.mean == (0.485, 0.456, 0.406) and resnet.std == (0.229, 0.224, 0.225)


def test_lite0_maps_mid_grey_to_zero_and_white_to_one(bundled):
    grey = bundled.preprocess(Image.new("RGB", (300, 260), (127, 127, 127)))
    white = bundled.preprocess(Image.new("RGB", (300, 260), (255, 255, 255)))
    black = bundled.preprocess(Image.new("RGB", (300, 260), (0, 0, 0)))
    assert grey.shape == (1, 3, 224, 224)
    assert torch.equal(grey, torch.zeros_like(grey))
    assert torch.allclose(white, torch.ones_like(white), atol=1e-6)
    assert torch.allclose(black, torch.full_like(black, -127 / 128), atol=1e-6)


def test_the_numbers_rebuild_the_same_transform(bundled):
    from torchvision import transforms

    mine = transforms.Compose([
        transforms.Resize(bundled.resize), transforms.CenterCrop(bundled.crop),
        transforms.ToTensor(), transforms.Normalize(bundled.mean, bundled.std),
    ])
    from xai_tutorial import sample_image

    photo = sample_image("chelsea")
    assert torch.equal(mine(photo).unsqueeze(0), bundled.preprocess(photo))
    whole = bundled.preprocess(photo, crop=False)
    assert whole.shape == (1, 3, 224, 336)  # 451x300, shorter side = crop (torchvision floors)


def test_chelsea_and_coffee_with_the_models_own_preprocessing(bundled):
    chelsea = bundled.predict("chelsea", k=3)
    assert [p.label for p in chelsea] == ["tiger cat", "Egyptian cat", "tabby"]
    assert chelsea[0].probability == pytest.approx(0.379, abs=0.01)
    coffee = bundled.predict("coffee", k=1)[0]
    assert coffee.label == "espresso" and coffee.probability == pytest.approx(0.957, abs=0.01)


def _corrupt_resnet18() -> None:
    from xai_tutorial.downloads import get_download

    path = get_download("resnet18").path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not the weights")


def test_a_corrupt_resnet18_is_said_and_skipped(capsys):
    _corrupt_resnet18()
    assert model_status()["resnet18"] == "corrupt"
    classifier = load_classifier()
    assert classifier.name == "efficientnet_lite0"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "corrupt" in err and "fetch resnet18" in err
    with pytest.raises(CacheError):
        load_classifier("resnet18")


def test_categories_offline():
    names = imagenet_categories()
    assert len(names) == 1000 and names[285] == "Egyptian cat" and names[967] == "espresso"


def test_status_offline():
    assert model_status() == {"efficientnet_lite0": "bundled", "resnet18": "not downloaded"}


def test_default_is_the_bundled_model_offline(capsys):
    classifier = load_classifier()
    assert classifier.name == "efficientnet_lite0"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not cached" in err


def test_show_steps(bundled):
    steps = show_steps(bundled, "chelsea")
    assert steps["original"].size == (451, 300)
    assert min(steps["resized"].size) == 256 and steps["cropped"].size == (224, 224)


def _encodings() -> dict[str, bytes]:
    from xai_tutorial import sample_image

    cat = sample_image("chelsea")
    out: dict[str, bytes] = {}

    def save(name: str, image: Image.Image, fmt: str, **kw: object) -> None:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **kw)
        out[name] = buffer.getvalue()

    save("png", cat, "PNG")
    save("jpeg", cat, "JPEG", quality=90)
    save("webp", cat, "WEBP")
    save("gif-palette", cat.convert("P"), "GIF")
    save("rgba", cat.convert("RGBA"), "PNG")
    save("cmyk", cat.convert("CMYK"), "JPEG", quality=95)
    save("gray", cat.convert("L"), "PNG")
    wide = np.asarray(cat).astype(np.uint16) * 257
    save("16-bit-gray", Image.fromarray(wide[..., 1]), "PNG")
    exif = Image.Exif()
    exif[0x0112] = 8  # stored rotated; displayed upright
    save("exif-rotated", cat.rotate(-90, expand=True), "JPEG", exif=exif, quality=90)
    return out


@pytest.mark.parametrize("encoding", list(_encodings()))
def test_bundled_model_sees_a_cat_in_every_encoding(bundled, encoding):
    top = bundled.predict(_encodings()[encoding], k=1)[0]
    assert top.index in CAT_CLASSES, (encoding, top)


def test_try_your_photo_model_without_a_browser(tiny, tmp_path):
    from xai_tutorial.classification_widgets import TryYourPhoto

    state = TryYourPhoto(tiny, k=2)
    assert "Upload" in state.headline
    state.classify(Image.new("RGB", (9, 9), (0, 0, 255)))
    assert state.headline == "Prediction: blue" and len(state.predictions) == 2
    state.classify(str(tmp_path / "nope.png"))
    assert state.predictions == [] and "no such file" in state.headline


def test_try_your_photo_view_classifies_an_upload(tiny):
    import datetime
    import io as _io

    from xai_tutorial.classification_widgets import try_your_photo

    view = try_your_photo(tiny, k=2)
    upload = view.children[0].children[0]
    buffer = _io.BytesIO()
    Image.new("RGB", (9, 9), (0, 255, 0)).save(buffer, "PNG")
    upload.value = ({"name": "g.png", "type": "image/png", "size": 1,
                     "content": memoryview(buffer.getvalue()),
                     "last_modified": datetime.datetime.now(datetime.timezone.utc)},)
    assert view.state.headline == "Prediction: green"
    assert "green" in view.children[1].value


def test_logits_take_a_batch_predict_one_image(tiny):
    batch = torch.zeros(4, 3, 5, 7)
    batch[2, 1] = 1.0
    logits = tiny.logits(batch)
    assert logits.shape == (4, 3) and int(logits[2].argmax()) == 1
    with pytest.raises(InputError, match=r"expected a \(1, 3, H, W\) tensor"):
        tiny.predict(batch, k=1)
    with pytest.raises(InputError, match=r"expected a \(N, 3, H, W\) tensor"):
        tiny.logits(torch.zeros(4, 1, 5, 7))


def test_lesson_figures_use_no_font_below_7_points(tiny):
    """Saved at 100 dpi, 7 pt is about 10 px: every label of lesson 01's figures is readable."""
    from matplotlib.text import Text

    from xai_tutorial.classification_view import plot_predictions, plot_steps

    picture = Image.new("RGB", (30, 20), (200, 100, 50))
    for figure in (plot_predictions(tiny.predict(picture, k=3)), plot_steps(tiny, picture)):
        figure.canvas.draw()
        sizes = [t.get_fontsize() for t in figure.findobj(Text) if t.get_text()]
        assert sizes and min(sizes) >= 7, sizes
