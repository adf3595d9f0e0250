"""Lesson 01's exercises: preprocessing, softmax and top-k, written by the learner and checked.

Every checker recomputes the right answer with the package (the one source of truth), on the
bundled EfficientNet-Lite0 and the sample photos, and says *why* an answer is not right yet when
it can tell: another model's sizes or normalization numbers, logits instead of probabilities, the
un-flipped photo, ...

In a notebook::

    from xai_tutorial import classification_exercises as ex
    ex.inception_preprocessing.check()   # .hint(), .solution()

Exercises:

* :data:`inception_preprocessing`: a ``transforms.Compose`` for torchvision's Inception-v3, its
  numbers read from the weights entry (resize 342, crop 299, ImageNet's mean and std).
* :data:`top3_by_hand`: the three most probable classes of the espresso photo from the logits.
* :data:`flip_probability`: the probability of chelsea's top class once the photo is mirrored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import torch
from PIL import Image, ImageOps
from torch import nn
from torchvision import transforms

from .classification import IMAGENET_MEAN, IMAGENET_STD, Classifier, load_classifier
from .core.images import load_image
from .exercises import Exercise, expect

#: The bundled model every lesson-01 exercise is checked against.
MODEL = "efficientnet_lite0"
#: Inception-style normalization of the bundled EfficientNet-Lite0: 127 and 128 on 0-255 pixels.
LITE0_MEAN = (127 / 255,) * 3
LITE0_STD = (128 / 255,) * 3
#: torchvision's Inception-v3 (``Inception_V3_Weights.IMAGENET1K_V1``): resize 342, crop 299.
INCEPTION_RESIZE, INCEPTION_CROP = 342, 299


@cache
def _classifier() -> Classifier:
    return load_classifier(MODEL, quiet=True)


def _as_batch(value: Any, what: str, size: int) -> torch.Tensor:
    expect(isinstance(value, torch.Tensor),
           f"{what} should give a torch tensor, not {type(value).__name__}")
    if value.ndim == 3:
        value = value.unsqueeze(0)
    expect(value.ndim == 4 and value.shape[:2] == (1, 3),
           f"{what} gave shape {tuple(value.shape)}; expected (3, {size}, {size}) or "
           f"(1, 3, {size}, {size})")
    return value.float()


def _compose(resize: int, mean: Sequence[float], std: Sequence[float]) -> Callable:
    return transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(INCEPTION_CROP),
                               transforms.ToTensor(), transforms.Normalize(mean, std)])


# ----------------------------------------------------------------------------------------------
# 1. The preprocessing of another model, read from its weights entry

def _inception_reference() -> Classifier:
    """A Classifier with Inception-v3's preprocessing (no weights needed to preprocess)."""
    return Classifier("inception-v3-numbers", nn.Identity(), [], resize=INCEPTION_RESIZE,
                      crop=INCEPTION_CROP, mean=IMAGENET_MEAN, std=IMAGENET_STD)


def _check_inception_preprocessing(inception_preprocess: Any) -> str | None:
    expect(callable(inception_preprocess),
           "`inception_preprocess` should be a transform you can call on a photo, "
           "e.g. transforms.Compose([...])")
    size = INCEPTION_CROP
    for sample in ("chelsea", "cat_over_coffee"):  # a wide photo and a tall one
        photo = load_image(sample)
        got = _as_batch(inception_preprocess(photo), f"inception_preprocess({sample!r})", size)
        want = _inception_reference().preprocess(photo)
        if got.shape != want.shape:
            if got.shape[2:] == (224, 224):
                return ("that is ResNet-18's and EfficientNet-Lite0's 224x224; Inception-v3's "
                        "weights entry says crop_size 299 (after resize_size 342)")
            return (f"on {sample!r} it gives a {got.shape[2]}x{got.shape[3]} picture; "
                    f"Resize({INCEPTION_RESIZE}) then CenterCrop({size}) gives {size}x{size}")
        if torch.allclose(got, want, atol=1e-5):
            continue
        suspects = {
            "it uses EfficientNet-Lite0's numbers (mean 127/255, std 128/255); Inception-v3 was "
            "trained with ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)":
                _compose(INCEPTION_RESIZE, LITE0_MEAN, LITE0_STD),
            "its values lie in [0, 1]: add Normalize(mean, std) after ToTensor()":
                transforms.Compose([transforms.Resize(INCEPTION_RESIZE),
                                    transforms.CenterCrop(size), transforms.ToTensor()]),
            f"Resize({size}) keeps more of the photo than this model was evaluated on: the "
            f"weights entry resizes the shorter side to {INCEPTION_RESIZE}, then crops the "
            f"central {size}x{size}":
                _compose(size, IMAGENET_MEAN, IMAGENET_STD),
            "mean and std are swapped: Normalize(mean, std) computes (x - mean) / std":
                _compose(INCEPTION_RESIZE, IMAGENET_STD, IMAGENET_MEAN),
        }
        squashed = ("Resize with two numbers squashes the photo into a square; Resize(342), one "
                    "number, resizes the shorter side and keeps the aspect ratio")
        for resize in ((INCEPTION_RESIZE, INCEPTION_RESIZE), (size, size)):
            suspects[squashed + f" (that was Resize({resize}))"] = transforms.Compose([
                transforms.Resize(resize), transforms.CenterCrop(size), transforms.ToTensor(),
                transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
        for reason, transform in suspects.items():
            if torch.allclose(got, transform(photo).unsqueeze(0), atol=1e-5):
                return reason
        difference = float((got - want).abs().max())
        if float((got - want).abs().mean()) < 0.02:
            return (f"close, but not the same (largest difference {difference:.3f}): resize and "
                    "crop the photo before ToTensor(), as the package does")
        return (f"on {sample!r} it differs from the reference by up to {difference:.2f}; "
                f"check the order Resize({INCEPTION_RESIZE}), CenterCrop({size}), ToTensor(), "
                "Normalize(...)")
    return None


inception_preprocessing = Exercise(
    "Inception-v3's preprocessing",
    ("inception_preprocess",),
    _check_inception_preprocessing,
    "Print `Inception_V3_Weights.IMAGENET1K_V1.transforms()`: it lists resize_size, crop_size, "
    "mean and std. Same four steps as your `my_preprocess`; only the numbers change.",
    """
    inception_preprocess = transforms.Compose([
        transforms.Resize(342),
        transforms.CenterCrop(299),
        transforms.ToTensor(),
        transforms.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    ])
    """,
)


# ----------------------------------------------------------------------------------------------
# 2. The top 3 from the logits, by hand


@cache
def _coffee_logits(crop: bool) -> torch.Tensor:
    classifier = _classifier()
    return classifier.logits(classifier.preprocess(load_image("coffee"), crop=crop))[0]


def _pairs(value: Any) -> list[tuple[str, float]]:
    expect(isinstance(value, (list, tuple)),
           f"`coffee_top3` should be a list of (label, probability) pairs, not "
           f"{type(value).__name__}")
    pairs = []
    for item in value:
        expect(isinstance(item, (list, tuple)) and len(item) == 2,
               f"each entry of `coffee_top3` should be a (label, probability) pair, not {item!r}")
        label, probability = item
        expect(isinstance(label, str), f"the label {label!r} should be a class name (a string)")
        pairs.append((label, float(probability)))
    return pairs


def _check_top3(coffee_top3: Any) -> str | None:
    pairs = _pairs(coffee_top3)
    expect(len(pairs) == 3, f"`coffee_top3` has {len(pairs)} entries; the exercise asks for 3")
    categories = _classifier().categories
    logits = _coffee_logits(True)
    probabilities = logits.softmax(0)
    values, indices = probabilities.topk(3)
    want = [(categories[i], float(p)) for p, i in zip(values, indices.tolist(), strict=True)]
    labels = [label for label, _ in pairs]
    numbers = [p for _, p in pairs]
    if labels == [label for label, _ in want][::-1]:
        return "right classes, but least probable first: sort in descending order"
    whole_values, whole_indices = _coffee_logits(False).softmax(0).topk(3)
    if labels == [categories[i] for i in whole_indices.tolist()] and all(
        abs(a - float(b)) < 1e-4 for a, b in zip(numbers, whole_values, strict=True)
    ) and not all(abs(a - b) < 1e-4 for a, (_, b) in zip(numbers, want, strict=True)):
        return ("these are the top 3 of the whole photo (crop=False); use the lesson's "
                "preprocessing, with the center crop")
    if labels != [label for label, _ in want]:
        return f"the three most probable classes are not {labels}"
    top_logits = [float(logits[categories.index(label)]) for label in labels]
    if all(abs(a - b) < 1e-3 for a, b in zip(numbers, top_logits, strict=True)):
        return "these numbers are logits; turn them into probabilities with the softmax"
    if all(abs(a - 100 * b) < 1e-2 for a, (_, b) in zip(numbers, want, strict=True)):
        return "these are percentages; give probabilities between 0 and 1"
    for (label, got), (_, right) in zip(pairs, want, strict=True):
        if abs(got - right) > 1e-4:
            return (f"the probability of {label!r} should be {right:.4f}, not {got:.4f}: divide "
                    "exp(logit) by the sum of exp over all 1000 classes")
    return None


top3_by_hand = Exercise(
    "Top 3 by hand",
    ("coffee_top3",),
    _check_top3,
    "Preprocess the `coffee` photo as in the lesson, take the model's 1000 logits, apply your "
    "softmax, then `torch.sort(..., descending=True)` (or `topk`) and look up the labels in "
    "`classifier.categories`.",
    """
    coffee_logits = classifier.model(classifier.preprocess(load_image("coffee")))[0]
    coffee_probabilities = my_softmax(coffee_logits)
    order = torch.argsort(coffee_probabilities, descending=True)[:3]
    coffee_top3 = [(classifier.categories[i], float(coffee_probabilities[i])) for i in order]
    """,
)


# ----------------------------------------------------------------------------------------------
# 3. A mirrored photo


@cache
def _flip_truth() -> tuple[int, float, float, float, float]:
    """Chelsea's top class; its probability on the photo, mirrored, upside down; and the
    probability of the mirrored photo's own top class."""
    classifier = _classifier()
    photo = load_image("chelsea")

    def probabilities(picture: Image.Image) -> torch.Tensor:
        return classifier.logits(classifier.preprocess(picture))[0].softmax(0)

    original = probabilities(photo)
    top = int(original.argmax())
    mirrored = probabilities(ImageOps.mirror(photo))
    upside_down = probabilities(ImageOps.flip(photo))
    return (top, float(original[top]), float(mirrored[top]), float(upside_down[top]),
            float(mirrored.max()))


def _check_flip(flip_label: Any, flip_probability: Any) -> str | None:
    top, original, mirrored, upside_down, mirror_best = _flip_truth()
    categories = _classifier().categories
    expect(isinstance(flip_label, str), "`flip_label` should be a class name (a string)")
    if flip_label != categories[top]:
        return (f"{flip_label!r} is not the top class of the original photo; that is "
                f"{categories[top]!r}")
    expect(isinstance(flip_probability, (float, int, torch.Tensor)),
           "`flip_probability` should be a number")
    got = float(flip_probability)
    expect(0.0 <= got <= 1.0, f"{got} is not a probability between 0 and 1")
    if abs(got - mirrored) <= 1e-4:
        return None
    if abs(got - original) <= 1e-4:
        return "that is its probability on the original photo; mirror the photo first"
    if abs(got - upside_down) <= 1e-4:
        return ("that photo was turned upside down (a vertical flip); a horizontal flip swaps "
                "left and right: ImageOps.mirror")
    if abs(got - mirror_best) <= 1e-4:
        return (f"that is the mirrored photo's own top class; the exercise asks for the "
                f"probability of {categories[top]!r}")
    return f"that is not the probability of {categories[top]!r} on the mirrored photo"


flip_probability = Exercise(
    "A mirrored cat",
    ("flip_label", "flip_probability"),
    _check_flip,
    "`PIL.ImageOps.mirror(image)` swaps left and right. Preprocess the mirrored photo as in the "
    "lesson, apply the softmax, and read the entry of the class that was on top before.",
    """
    flip_label = predictions[0].label
    mirrored = classifier.preprocess(ImageOps.mirror(image))
    mirrored_probabilities = my_softmax(classifier.model(mirrored)[0])
    flip_probability = float(mirrored_probabilities[classifier.class_index(flip_label)])
    """,
)

EXERCISES: tuple[Exercise, ...] = (inception_preprocessing, top3_by_hand, flip_probability)
