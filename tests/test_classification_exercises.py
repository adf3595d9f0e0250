"""Lesson 01's exercises: right answers pass, wrong ones fail with their reason, missing ones are
"not attempted". The answers are built the way a learner would, with torchvision and a softmax
written out, not with the checker's own code."""

from __future__ import annotations

import pytest
import torch
from PIL import ImageOps
from torchvision import transforms

from xai_tutorial import classification_exercises as ex
from xai_tutorial import load_image
from xai_tutorial.exercises import Outcome

IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}


def compose(resize=342, crop=299, mean=IMAGENET["mean"], std=IMAGENET["std"], normalize=True):
    steps = [transforms.Resize(resize), transforms.CenterCrop(crop), transforms.ToTensor()]
    if normalize:
        steps.append(transforms.Normalize(mean, std))
    return transforms.Compose(steps)


def softmax(logits: torch.Tensor) -> torch.Tensor:
    shifted = torch.exp(logits - logits.max())
    return shifted / shifted.sum()


def outcome(exercise, **answers):
    result = exercise.evaluate(answers)
    return result.outcome, result.line


# -- 1. Inception-v3's preprocessing, read from its weights entry ----------------------------------


def test_inception_preprocessing_right_answer_passes():
    assert outcome(ex.inception_preprocessing, inception_preprocess=compose())[0] is Outcome.CORRECT
    # a (1, 3, 299, 299) batch is fine too
    batched = transforms.Compose([compose(), transforms.Lambda(lambda t: t.unsqueeze(0))])
    assert outcome(ex.inception_preprocessing, inception_preprocess=batched)[0] is Outcome.CORRECT


def test_inception_preprocessing_the_weights_entry_itself_passes():
    from torchvision.models import Inception_V3_Weights

    answer = Inception_V3_Weights.IMAGENET1K_V1.transforms()
    assert outcome(ex.inception_preprocessing, inception_preprocess=answer)[0] is Outcome.CORRECT


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (compose(mean=(127 / 255,) * 3, std=(128 / 255,) * 3), "EfficientNet-Lite0's numbers"),
        (compose(normalize=False), "add Normalize"),
        (compose(resize=299), "Resize(299) keeps more"),
        (compose(mean=IMAGENET["std"], std=IMAGENET["mean"]), "swapped"),
        (compose(resize=256, crop=224), "ResNet-18's"),
        (compose(crop=200), "200x200"),
        (compose(resize=(342, 342)), "squashes the photo"),
        (compose(resize=(299, 299)), "squashes the photo"),
        (transforms.Compose([transforms.Resize(342), transforms.ToTensor()]), "CenterCrop(299)"),
        (transforms.Compose([transforms.ToTensor(), transforms.Resize(342),
                             transforms.CenterCrop(299), transforms.Normalize(**IMAGENET)]),
         "before ToTensor()"),
        (lambda photo: photo, "torch tensor, not Image"),
        ("Resize(342)", "transform you can call"),
    ],
)
def test_inception_preprocessing_wrong_answers_say_why(answer, reason):
    result, line = outcome(ex.inception_preprocessing, inception_preprocess=answer)
    assert result is Outcome.NOT_YET
    assert reason in line


def test_inception_preprocessing_not_attempted():
    assert outcome(ex.inception_preprocessing)[0] is Outcome.NOT_ATTEMPTED


# -- 2. the top 3 by hand ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def coffee(request):
    bundled = request.getfixturevalue("bundled")
    with torch.no_grad():
        logits = bundled.model(bundled.preprocess(load_image("coffee")))[0]
        whole = bundled.model(bundled.preprocess(load_image("coffee"), crop=False))[0]
    return bundled.categories, logits, whole


def top3(categories, logits, values=None):
    values = softmax(logits) if values is None else values
    order = torch.argsort(softmax(logits), descending=True)[:3]
    return [(categories[i], float(values[i])) for i in order]


def test_top3_right_answer_passes(coffee):
    categories, logits, _ = coffee
    answer = top3(categories, logits)
    assert outcome(ex.top3_by_hand, coffee_top3=answer)[0] is Outcome.CORRECT
    assert outcome(ex.top3_by_hand, coffee_top3=tuple(answer))[0] is Outcome.CORRECT


def test_top3_wrong_answers_say_why(coffee):
    categories, logits, whole = coffee
    right = top3(categories, logits)
    cases = {
        "least probable first": right[::-1],
        "logits": top3(categories, logits, values=logits),
        "percentages": [(label, 100 * p) for label, p in right],
        "whole photo": top3(categories, whole),
        "for 3": right[:2],
        "should be": [(label, p + 0.01) for label, p in right],
        "(label, probability) pair": [label for label, _ in right],
        "three most probable classes are not": [("tabby", 0.5)] + right[1:],
        "list of (label, probability)": "espresso",
    }
    for reason, answer in cases.items():
        result, line = outcome(ex.top3_by_hand, coffee_top3=answer)
        assert result is Outcome.NOT_YET, reason
        assert reason in line, (reason, line)


def test_top3_not_attempted():
    assert outcome(ex.top3_by_hand)[0] is Outcome.NOT_ATTEMPTED


# -- 3. the mirrored photo -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def flips(request):
    bundled = request.getfixturevalue("bundled")
    photo = load_image("chelsea")

    def probabilities(picture):
        with torch.no_grad():
            return softmax(bundled.model(bundled.preprocess(picture))[0])

    original = probabilities(photo)
    top = int(original.argmax())
    return (bundled.categories[top], top, original, probabilities(ImageOps.mirror(photo)),
            probabilities(ImageOps.flip(photo)))


def test_flip_right_answer_passes(flips):
    label, top, _, mirrored, _ = flips
    answer = {"flip_label": label, "flip_probability": float(mirrored[top])}
    assert outcome(ex.flip_probability, **answer)[0] is Outcome.CORRECT
    answer["flip_probability"] = mirrored[top]  # a 0-d tensor is a number too
    assert outcome(ex.flip_probability, **answer)[0] is Outcome.CORRECT


def test_flip_wrong_answers_say_why(flips):
    label, top, original, mirrored, upside_down = flips
    cases = {
        "on the original photo": (label, float(original[top])),
        "upside down": (label, float(upside_down[top])),
        "not a probability": (label, 37.5),
        "is not the top class": ("golf ball", float(mirrored[top])),
        "a class name": (top, float(mirrored[top])),
        "should be a number": (label, "0.4"),
        "is not the probability": (label, float(mirrored[top]) + 0.05),
    }
    if int(mirrored.argmax()) != top:
        cases["own top class"] = (label, float(mirrored.max()))
    for reason, (flip_label, value) in cases.items():
        result, line = outcome(ex.flip_probability, flip_label=flip_label, flip_probability=value)
        assert result is Outcome.NOT_YET, reason
        assert reason in line, (reason, line)


def test_flip_half_attempted_names_the_missing_variable():
    result, line = outcome(ex.flip_probability, flip_label="tabby")
    assert result is Outcome.NOT_ATTEMPTED and "`flip_probability`" in line
