"""Lesson 01's exercises: preprocessing, softmax and top-k, written by the learner and checked.

Every checker recomputes the right answer with the package (the one source of truth) from the
lesson's own objects, passed in by :class:`~xai_tutorial.exercises.Exercise` as ``context``: the
``classifier`` of the parameters cell, its ``image`` (``PHOTO``) and ``second_image``
(``SECOND_PHOTO``). So a right answer is right for whatever model and photos the instructor chose.
It says *why* an answer is not right yet when it can tell: another model's normalization numbers,
no crop, a nearest-neighbour resize, logits instead of probabilities, the un-mirrored photo, ...

Answers that are numbers come with the tensor they were read from (the probability vector), and
the checker recomputes that tensor: a number copied from the text, or guessed, does not pass.

In a notebook::

    from xai_tutorial import classification_exercises as ex
    ex.inception_preprocessing.check()   # .hint(), .solution()

Exercises:

* :data:`inception_preprocessing`: a ``transforms.Compose`` for torchvision's Inception-v3, its
  numbers read from the weights entry (resize 342, crop 299, ImageNet's mean and std). It does
  not depend on the lesson's model.
* :data:`top3_by_hand`: the softmax of the second photo's logits and its three most probable
  classes, read from that vector.
* :data:`flip_probability`: the softmax of the mirrored photo and the probability it gives to the
  photo's top class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from PIL import Image, ImageOps
from torch import nn
from torchvision import transforms

from .classification import IMAGENET_MEAN, IMAGENET_STD, INCEPTION_MEAN, INCEPTION_STD, Classifier
from .core.images import load_image
from .exercises import Exercise, expect, number, photos, text

#: torchvision's Inception-v3 (``Inception_V3_Weights.IMAGENET1K_V1``): resize 342, crop 299.
INCEPTION_RESIZE, INCEPTION_CROP = 342, 299
#: The photos exercise 1's answer is applied to (a wide one and a tall one; the grader's probes).
INCEPTION_PROBES = ("chelsea", "cat_over_coffee")
#: Resize's interpolations other than its default (bilinear), as the learner would name them.
OTHER_INTERPOLATIONS = {
    "nearest-neighbour (NEAREST)": transforms.InterpolationMode.NEAREST,
    "nearest-neighbour (NEAREST_EXACT)": transforms.InterpolationMode.NEAREST_EXACT,
    "bicubic (BICUBIC)": transforms.InterpolationMode.BICUBIC,
    "box (BOX)": transforms.InterpolationMode.BOX,
    "Hamming (HAMMING)": transforms.InterpolationMode.HAMMING,
    "Lanczos (LANCZOS)": transforms.InterpolationMode.LANCZOS,
}


def _as_batch(value: Any, what: str, size: int) -> torch.Tensor:
    expect(isinstance(value, torch.Tensor),
           f"{what} should give a torch tensor, not {type(value).__name__}")
    expect(value.layout == torch.strided and not value.is_meta,
           f"{what} should give an ordinary (dense) tensor")
    if value.ndim == 3:
        value = value.unsqueeze(0)
    expect(value.ndim == 4 and value.shape[:2] == (1, 3),
           f"{what} gave shape {tuple(value.shape)}; expected (3, {size}, {size}) or "
           f"(1, 3, {size}, {size})")
    expect(not value.is_complex(), f"{what} gave complex numbers; a picture's values are real")
    value = value.detach().float()
    expect(bool(torch.isfinite(value).all()),
           f"{what} gave values that are not finite (NaN or inf): check each step's numbers")
    return value


def _compose(resize: int | tuple[int, int], mean: Sequence[float], std: Sequence[float],
             interpolation: transforms.InterpolationMode = transforms.InterpolationMode.BILINEAR
             ) -> Callable:
    return transforms.Compose([transforms.Resize(resize, interpolation=interpolation),
                               transforms.CenterCrop(INCEPTION_CROP), transforms.ToTensor(),
                               transforms.Normalize(mean, std)])


# ----------------------------------------------------------------------------------------------
# 1. The preprocessing of another model, read from its weights entry (model-independent)

def _inception_reference() -> Classifier:
    """A Classifier with Inception-v3's preprocessing (no weights needed to preprocess)."""
    return Classifier("inception-v3-numbers", nn.Identity(), [], resize=INCEPTION_RESIZE,
                      crop=INCEPTION_CROP, mean=IMAGENET_MEAN, std=IMAGENET_STD)


def _inception_suspects() -> dict[str, Callable]:
    """Wrong preprocessings a learner plausibly writes, each with the reason it is wrong."""
    size, resize = INCEPTION_CROP, INCEPTION_RESIZE
    suspects = {
        "it uses EfficientNet-Lite0's numbers (mean 127/255, std 128/255); Inception-v3 was "
        "trained with ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)":
            _compose(resize, INCEPTION_MEAN, INCEPTION_STD),
        "its values lie in [0, 1]: add Normalize(mean, std) after ToTensor()":
            transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(size),
                                transforms.ToTensor()]),
        f"Resize({size}) keeps more of the photo than this model was evaluated on: the "
        f"weights entry resizes the shorter side to {resize}, then crops the central "
        f"{size}x{size}":
            _compose(size, IMAGENET_MEAN, IMAGENET_STD),
        "mean and std are swapped: Normalize(mean, std) computes (x - mean) / std":
            _compose(resize, IMAGENET_STD, IMAGENET_MEAN),
    }
    squashed = ("Resize with two numbers squashes the photo into a square; Resize(342), one "
                "number, resizes the shorter side and keeps the aspect ratio")
    for pair in ((resize, resize), (size, size)):
        suspects[squashed + f" (that was Resize({pair}))"] = _compose(pair, IMAGENET_MEAN,
                                                                      IMAGENET_STD)
    for name, mode in OTHER_INTERPOLATIONS.items():
        suspects[f"the numbers and the order are right, but the resize uses {name} "
                 "interpolation; the weights entry says interpolation=InterpolationMode.BILINEAR "
                 "(Resize's default: leave interpolation out)"] = _compose(
            resize, IMAGENET_MEAN, IMAGENET_STD, mode)
    return suspects


#: The four steps exercise 1 asks for, by class name (``transforms`` or ``transforms.v2``);
#: ``PILToTensor``/``ToImage`` (followed by a dtype conversion) count as the ``ToTensor`` step.
FOUR_STEPS = {"Resize": ("Resize",), "CenterCrop": ("CenterCrop",),
              "ToTensor": ("ToTensor", "PILToTensor", "ToImage", "ToImageTensor"),
              "Normalize": ("Normalize",)}
NOT_FOUR_STEPS = ("write the four steps as a Compose, as you did for my_preprocess; the weights "
                  "entry's own transform is what you would use in practice")


def _steps(transform: Any) -> list[str]:
    """The class names of ``transform``'s steps (the steps of a nested ``Compose`` flattened)."""
    inner = getattr(transform, "transforms", None)
    if type(transform).__name__ == "Compose" and isinstance(inner, Sequence):
        return [name for step in inner for name in _steps(step)]
    return [type(transform).__name__]


def _missing_steps(inception_preprocess: Any) -> str | None:
    """Why ``inception_preprocess`` is not a ``transforms.Compose`` of the four steps, or None."""
    if type(inception_preprocess).__name__ != "Compose":
        return (f"`inception_preprocess` is not a Compose (it is "
                f"{type(inception_preprocess).__name__}): " + NOT_FOUR_STEPS)
    names = _steps(inception_preprocess)
    missing = [step for step, aliases in FOUR_STEPS.items()
               if not any(alias in names for alias in aliases)]
    if missing:
        return f"its steps are {', '.join(names)}, with no {' or '.join(missing)}: " + (
            NOT_FOUR_STEPS)
    return None


def _check_inception_preprocessing(inception_preprocess: Any) -> str | None:
    expect(callable(inception_preprocess),
           "`inception_preprocess` should be a transform you can call on a photo, "
           "e.g. transforms.Compose([...])")
    if type(inception_preprocess).__name__ != "Compose":
        return _missing_steps(inception_preprocess)
    reason = _check_inception_values(inception_preprocess)
    return reason if reason is not None else _missing_steps(inception_preprocess)


def _check_inception_values(inception_preprocess: Callable) -> str | None:
    """Why ``inception_preprocess`` does not give the weights entry's tensors, or None."""
    size = INCEPTION_CROP
    for sample in INCEPTION_PROBES:
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
        for reason, transform in _inception_suspects().items():
            if torch.allclose(got, transform(photo).unsqueeze(0), atol=1e-5):
                return reason
        difference = float((got - want).abs().max())
        if float((got - want).abs().mean()) < 0.02:
            return (f"close, but not the same (largest difference {difference:.3f}): resize and "
                    "crop the photo before ToTensor(), with Resize's default (bilinear) "
                    "interpolation, as the weights entry does")
        return (f"on {sample!r} it differs from the reference by up to {difference:.2f}; "
                f"check the order Resize({INCEPTION_RESIZE}), CenterCrop({size}), ToTensor(), "
                "Normalize(...)")
    return None


inception_preprocessing = Exercise(
    "Inception-v3's preprocessing",
    ("inception_preprocess",),
    _check_inception_preprocessing,
    "Print `Inception_V3_Weights.IMAGENET1K_V1.transforms()`: it lists resize_size, crop_size, "
    "mean, std and the interpolation. Same four steps as your `my_preprocess`; only the numbers "
    "change.",
    """
    inception_preprocess = transforms.Compose([
        transforms.Resize(342),
        transforms.CenterCrop(299),
        transforms.ToTensor(),
        transforms.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    ])
    """,
    probes=INCEPTION_PROBES,
)


# ----------------------------------------------------------------------------------------------
# The truths of exercises 2 and 3, recomputed from the lesson's own classifier and photos


def _inputs(classifier: Classifier, picture: Image.Image, *, crop: bool = True,
            numbers: tuple[Sequence[float], Sequence[float]] | None = None) -> torch.Tensor:
    """``picture`` preprocessed as ``classifier`` does, or with other normalization ``numbers``
    (``(mean, std)``), or without the center crop (``crop=False``: shorter side ``resize``)."""
    mean, std = numbers if numbers is not None else (classifier.mean, classifier.std)
    steps: list[Callable] = [transforms.Resize(classifier.resize)]
    if crop:
        steps.append(transforms.CenterCrop(classifier.crop))
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    return transforms.Compose(steps)(picture).unsqueeze(0)


def _softmax(classifier: Classifier, x: torch.Tensor) -> torch.Tensor:
    """``p = softmax(z)`` for the classifier's logits ``z`` on the batch ``x`` (one image)."""
    return classifier.logits(x)[0].softmax(0)


def _close(a: Sequence[float], b: Sequence[float]) -> bool:
    return len(a) == len(b) and all(abs(x - y) < 1e-6 for x, y in zip(a, b, strict=True))


def _same(got: torch.Tensor, want: torch.Tensor) -> bool:
    """The same vector up to float rounding (1e-4 relative: a random network's near-uniform
    probabilities of about 1e-3 still count)."""
    return got.shape == want.shape and torch.allclose(got, want, rtol=1e-4, atol=1e-7)


def _vector(value: Any, name: str, classes: int) -> torch.Tensor:
    """The learner's probability vector as a float tensor of ``classes`` entries."""
    expect(isinstance(value, torch.Tensor),
           f"`{name}` should be the tensor of {classes} probabilities your softmax returned, not "
           f"{type(value).__name__}")
    expect(value.layout == torch.strided and not value.is_meta,
           f"`{name}` should be an ordinary (dense) tensor of probabilities")
    if value.ndim == 2 and value.shape[0] == 1:
        value = value[0]
    expect(value.ndim == 1 and value.shape[0] == classes,
           f"`{name}` has shape {tuple(value.shape)}; it should hold one probability per class "
           f"({classes},): take [0] of the model's (1, {classes}) output")
    expect(value.is_floating_point(), f"`{name}` should hold probabilities (floats)")
    value = value.detach().float().cpu()
    expect(bool(torch.isfinite(value).all()), f"`{name}` should be finite: it holds NaN or inf")
    return value


def _which_vector(got: torch.Tensor, right_inputs: torch.Tensor, classifier: Classifier,
                  suspects: dict[str, Callable[[], torch.Tensor]], name: str) -> str | None:
    """``None`` if ``got`` is the softmax of the classifier on ``right_inputs``, else why not:
    logits, not summing to 1, or the first suspect (a lazily computed probability vector) it
    matches."""
    logits = classifier.logits(right_inputs)[0]
    if _same(got, logits.softmax(0)):
        return None
    if _same(got, logits):
        return f"`{name}` holds logits; turn them into probabilities with `my_softmax`"
    total = float(got.sum())
    if abs(total - 1) > 1e-3:
        return (f"`{name}` sums to {total:.4g}, not 1: the softmax divides exp(z - max z) by "
                "its sum over all classes")
    for reason, probabilities in suspects.items():
        if _same(got, probabilities()):
            return reason
    difference = float((got - logits.softmax(0)).abs().max())
    return (f"`{name}` is not the softmax of the model's logits on the photo preprocessed as in "
            f"section 3 (largest difference {difference:.2g})")


def _preprocessing_suspects(classifier: Classifier, picture: Image.Image, photo_name: str
                            ) -> dict[str, Callable[[], torch.Tensor]]:
    """The probability vectors of wrong preprocessings of ``picture``, each with its reason."""
    own = (f"this classifier's own (`classifier.mean` = {_rounded(classifier.mean)}, "
           f"`classifier.std` = {_rounded(classifier.std)})")
    suspects: dict[str, Callable[[], torch.Tensor]] = {}
    for label, mean, std in (("ImageNet's numbers (ResNet-18's)", IMAGENET_MEAN, IMAGENET_STD),
                             ("EfficientNet-Lite0's inception numbers (127/255, 128/255)",
                              INCEPTION_MEAN, INCEPTION_STD)):
        if not (_close(classifier.mean, mean) and _close(classifier.std, std)):
            suspects[f"wrong normalization: {photo_name} was normalized with {label}, not "
                     f"with {own}"] = _later(classifier, picture, numbers=(mean, std))
    return suspects | {
        f"no normalization: the values of {photo_name} stayed in [0, 1]; add "
        "Normalize(classifier.mean, classifier.std) after ToTensor()":
            _later(classifier, picture, numbers=((0.0,) * 3, (1.0,) * 3)),
        f"no crop: {photo_name} was resized but not center-cropped; add "
        "CenterCrop(classifier.crop) after the Resize":
            _later(classifier, picture, crop=False),
        f"that is the whole photo (crop=False); use the lesson's preprocessing, with the "
        f"center crop, on {photo_name}":
            lambda: _softmax(classifier, classifier.preprocess(picture, crop=False)),
    }


def _later(classifier: Classifier, picture: Image.Image, **how: Any
           ) -> Callable[[], torch.Tensor]:
    """The softmax of ``picture`` preprocessed ``how`` (see :func:`_inputs`), computed when
    called."""
    return lambda: _softmax(classifier, _inputs(classifier, picture, **how))


def _rounded(numbers: Sequence[float]) -> str:
    return "(" + ", ".join(f"{n:.4g}" for n in numbers) + ")"


# ----------------------------------------------------------------------------------------------
# 2. The top 3 from the logits, by hand


def _pairs(value: Any, name: str, count: int) -> list[tuple[str, float]]:
    """The learner's ``count`` (label, probability) pairs, read with the shared readers."""
    expect(isinstance(value, (list, tuple)),
           f"`{name}` should be a list of (label, probability) pairs, not {type(value).__name__}")
    expect(len(value) == count,
           f"`{name}` has {len(value)} entries; the exercise asks for {count}")
    pairs = []
    for place, item in enumerate(value):
        expect(isinstance(item, (list, tuple)) and len(item) == 2,
               f"each entry of `{name}` should be a (label, probability) pair; entry {place} is "
               f"a {type(item).__name__}")
        label = text(item[0], f"{name}[{place}][0]")
        pairs.append((label, number(item[1], f"{name}[{place}][1]")))
    return pairs


def _context(classifier: Any, **pictures: Any) -> list[Image.Image]:
    """The lesson's context checked: ``classifier`` a Classifier, each picture loaded
    (:func:`~xai_tutorial.exercises.photos`), or one clear reason."""
    expect(isinstance(classifier, Classifier),
           f"`classifier` is not a Classifier (it is a {type(classifier).__name__}): re-run the "
           "lesson's setup cells")
    return photos(**pictures)


def _place_of(label: str, categories: Sequence[str], probabilities: torch.Tensor, value: float,
              used: set[int]) -> int | None:
    """The index of a class named ``label`` (not in ``used``) whose probability is ``value``
    (up to rounding: ties are broken either way), or None."""
    for i, name in enumerate(categories):
        if name == label and i not in used and _tied(float(probabilities[i]), value):
            return i
    return None


def _tied(a: float, b: float) -> bool:
    """Equal up to float32 rounding (a few units in the last place)."""
    return abs(a - b) <= 1e-12 + 2e-6 * abs(b)


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-7 + 1e-4 * abs(b)


_PLACES = ("most", "second most", "third most")


def _check_top3(second_probabilities: Any, second_top3: Any, *, classifier: Any,
                image: Any, second_image: Any) -> str | None:
    image, second_image = _context(classifier, image=image, second_image=second_image)
    categories = classifier.categories
    got = _vector(second_probabilities, "second_probabilities", len(categories))
    suspects = _preprocessing_suspects(classifier, second_image, "`second_image`")
    suspects["that is the softmax of the first photo (`image`); this exercise is about "
             "`second_image`"] = lambda: _softmax(classifier, classifier.preprocess(image))
    reason = _which_vector(got, classifier.preprocess(second_image), classifier, suspects,
                           "second_probabilities")
    if reason:
        return reason
    pairs = _pairs(second_top3, "second_top3", 3)
    # Ranked by probability, not by index: tied classes may come in either order.
    values = [float(v) for v in got.topk(3).values]
    unknown = [label for label, _ in pairs if label not in categories]
    if unknown:
        return f"{unknown[0]!r} is not a class name of `classifier.categories`"
    chosen: list[int] = []
    for place, (label, _) in enumerate(pairs):
        found = _place_of(label, categories, got, values[place], set(chosen))
        if found is None:
            if place == 0 and _place_of(pairs[-1][0], categories, got, values[0], set()) \
                    is not None:
                return "right classes, but least probable first: sort in descending order"
            return (f"{label!r} is not the {_PLACES[place]} probable class of "
                    "`second_probabilities`: sort it in descending order and look up the indices "
                    "in `classifier.categories`")
        chosen.append(found)
    numbers = [p for _, p in pairs]
    logits = classifier.logits(classifier.preprocess(second_image))[0]
    if all(_near(a, float(logits[i])) for a, i in zip(numbers, chosen, strict=True)):
        return "these numbers are logits; read them from `second_probabilities` instead"
    if all(_near(a, 100 * b) for a, b in zip(numbers, values, strict=True)):
        return "these are percentages; give probabilities between 0 and 1"
    for (label, value), right in zip(pairs, values, strict=True):
        if not _near(value, right):
            return (f"the probability of {label!r} is not the one in `second_probabilities`: "
                    "read each number from that vector")
    return None


top3_by_hand = Exercise(
    "Top 3 by hand",
    ("second_probabilities", "second_top3"),
    _check_top3,
    "Preprocess `second_image` with your `my_preprocess`, run `model`, apply `my_softmax` to its "
    "1000 logits (that is `second_probabilities`), then `torch.argsort(..., descending=True)` and "
    "look up the first three indices in `classifier.categories`.",
    """
    second_logits = model(my_preprocess(second_image).unsqueeze(0))[0]
    second_probabilities = my_softmax(second_logits)
    order = torch.argsort(second_probabilities, descending=True)[:3]
    second_top3 = [(classifier.categories[i], float(second_probabilities[i])) for i in order]
    """,
    context=("classifier", "image", "second_image"),
)


# ----------------------------------------------------------------------------------------------
# 3. A mirrored photo


def _check_flip(flip_label: Any, mirrored_probabilities: Any, flip_probability: Any, *,
                classifier: Any, image: Any) -> str | None:
    (image,) = _context(classifier, image=image)
    categories = classifier.categories
    original = _softmax(classifier, classifier.preprocess(image))
    label = text(flip_label, "flip_label")
    # The top class by probability, not by index: with tied classes any of them is the top one.
    top = _place_of(label, categories, original, float(original.max()), set())
    if top is None:
        best = int(original.argmax())
        ties = int((original == original.max()).sum())
        also = f" (or one of the {ties - 1} classes tied with it)" if ties > 1 else ""
        return (f"{label!r} is not the top class of the original photo; that is "
                f"{categories[best]!r}{also} (section 4's `predictions[0]`)")
    got = _vector(mirrored_probabilities, "mirrored_probabilities", len(categories))
    mirrored = ImageOps.mirror(image)
    suspects = {
        "`mirrored_probabilities` is the original photo's softmax; mirror the photo first "
        "(ImageOps.mirror)": lambda: original,
        "that photo was turned upside down (a vertical flip, ImageOps.flip); a mirror swaps left "
        "and right: ImageOps.mirror":
            lambda: _softmax(classifier, classifier.preprocess(ImageOps.flip(image))),
    }
    suspects.update(_preprocessing_suspects(classifier, mirrored, "the mirrored photo"))
    reason = _which_vector(got, classifier.preprocess(mirrored), classifier, suspects,
                           "mirrored_probabilities")
    if reason:
        return reason
    value = number(flip_probability, "flip_probability")
    right = float(got[top])
    if _near(value, right):
        return None
    if _near(value, 100 * right):
        return "that is a percentage; give a probability between 0 and 1"
    expect(0.0 <= value <= 1.0, f"{value} is not a probability between 0 and 1")
    if _near(value, float(original[top])):
        return "that is its probability on the original photo; read it from the mirrored one"
    if _near(value, float(got.max())):
        return (f"that is the mirrored photo's own top class; the exercise asks for the "
                f"probability of {label!r}")
    return (f"that is not the entry of {label!r} in `mirrored_probabilities` (its index is "
            "`predictions[0].index`)")


flip_probability = Exercise(
    "A mirrored photo",
    ("flip_label", "mirrored_probabilities", "flip_probability"),
    _check_flip,
    "`PIL.ImageOps.mirror(image)` swaps left and right. Preprocess the mirrored photo with "
    "`my_preprocess`, run `model`, apply `my_softmax` (that is `mirrored_probabilities`), and "
    "read the entry of the class that was on top before: its index is `predictions[0].index`.",
    """
    flip_label = predictions[0].label
    mirrored = my_preprocess(ImageOps.mirror(image)).unsqueeze(0)
    mirrored_probabilities = my_softmax(model(mirrored)[0])
    flip_probability = float(mirrored_probabilities[predictions[0].index])
    """,
    context=("classifier", "image"),
)

EXERCISES: tuple[Exercise, ...] = (inception_preprocessing, top3_by_hand, flip_probability)
