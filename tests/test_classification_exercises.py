"""Lesson 01's exercises: right answers pass, wrong ones fail with their reason, missing ones are
"not attempted". The answers are built the way a learner would, with torchvision and a softmax
written out, not with the checker's own code.

Exercises 2 and 3 follow the lesson's own ``classifier`` and photos (``image``, ``second_image``):
right answers computed with a tiny random classifier on synthetic photos pass, and an answer
computed with one classifier is not accepted for another. Numbers come with the probability vector
they were read from, so a number guessed or copied from the lesson's text fails."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hand_built import AlwaysEqual
from PIL import Image, ImageOps
from torch import nn
from torchvision import transforms

from xai_tutorial import Classifier, load_image
from xai_tutorial import classification_exercises as ex
from xai_tutorial.exercises import Outcome

IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
INCEPTION = {"mean": (127 / 255,) * 3, "std": (128 / 255,) * 3}


def compose(resize=342, crop=299, mean=IMAGENET["mean"], std=IMAGENET["std"], normalize=True,
            interpolation=transforms.InterpolationMode.BILINEAR):
    steps = [transforms.Resize(resize, interpolation=interpolation)]
    if crop:
        steps.append(transforms.CenterCrop(crop))
    steps.append(transforms.ToTensor())
    if normalize:
        steps.append(transforms.Normalize(mean, std))
    return transforms.Compose(steps)


def softmax(logits: torch.Tensor) -> torch.Tensor:
    shifted = torch.exp(logits - logits.max())
    return shifted / shifted.sum()


def outcome(exercise, **names):
    result = exercise.evaluate(names)
    return result.outcome, result.line


def tiny_classifier(mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.25)) -> Classifier:
    """A seeded random conv net (GAP + linear) with six classes and its own numbers."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 6))
    return Classifier("tiny", net, ["apple", "pear", "plum", "fig", "kiwi", "lime"], resize=40,
                      crop=32, mean=mean, std=std)


def synthetic_photo(seed: int, size: tuple[int, int]) -> Image.Image:
    """A photo the series does not ship: smooth colour gradients plus noise, not square."""
    rng = np.random.default_rng(seed)
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([xs / width, ys / height, (xs + ys) / (width + height)], axis=-1) * 200
    pixels = np.clip(base + rng.normal(0, 30, (height, width, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


@pytest.fixture(scope="module")
def tiny():
    return {"classifier": tiny_classifier(), "image": synthetic_photo(0, (60, 44)),
            "second_image": synthetic_photo(1, (50, 70))}


@pytest.fixture(scope="module")
def default(request):
    return {"classifier": request.getfixturevalue("bundled"), "image": load_image("chelsea"),
            "second_image": load_image("coffee")}


def learner_probabilities(classifier, picture, **how):
    """The learner's softmax of ``picture``, preprocessed with ``classifier``'s numbers unless
    ``how`` says otherwise (``mean``, ``std``, ``normalize``, ``crop``)."""
    numbers = {"resize": classifier.resize, "crop": classifier.crop, "mean": classifier.mean,
               "std": classifier.std} | how
    with torch.no_grad():
        return softmax(classifier.model(compose(**numbers)(picture).unsqueeze(0))[0])


# -- 1. Inception-v3's preprocessing, read from its weights entry ----------------------------------


def test_inception_preprocessing_right_answer_passes():
    assert outcome(ex.inception_preprocessing, inception_preprocess=compose())[0] is Outcome.CORRECT
    # a (1, 3, 299, 299) batch is fine too
    batched = transforms.Compose([compose(), transforms.Lambda(lambda t: t.unsqueeze(0))])
    assert outcome(ex.inception_preprocessing, inception_preprocess=batched)[0] is Outcome.CORRECT


def test_inception_preprocessing_the_weights_entry_itself_is_not_the_exercise():
    """The one-liner gives the right tensors, but the exercise is to write the four steps: the
    weights entry's transform, bare or wrapped in a Compose, is 'not yet' with what to do."""
    from torchvision.models import Inception_V3_Weights

    entry = Inception_V3_Weights.IMAGENET1K_V1.transforms()
    for answer in (entry, transforms.Compose([entry])):
        result, line = outcome(ex.inception_preprocessing, inception_preprocess=answer)
        assert result is Outcome.NOT_YET, line
        assert "write the four steps as a Compose" in line and "in practice" in line, line


def test_inception_preprocessing_accepts_the_four_steps_in_other_spellings():
    """PILToTensor + ConvertImageDtype is the ToTensor step too."""
    answer = transforms.Compose([transforms.Resize(342), transforms.CenterCrop(299),
                                 transforms.PILToTensor(),
                                 transforms.ConvertImageDtype(torch.float32),
                                 transforms.Normalize(**IMAGENET)])
    assert outcome(ex.inception_preprocessing, inception_preprocess=answer)[0] is Outcome.CORRECT


NEAREST = transforms.InterpolationMode.NEAREST


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (compose(mean=INCEPTION["mean"], std=INCEPTION["std"]), "EfficientNet-Lite0's numbers"),
        (compose(normalize=False), "add Normalize"),
        (compose(resize=299), "Resize(299) keeps more"),
        (compose(mean=IMAGENET["std"], std=IMAGENET["mean"]), "swapped"),
        (compose(resize=256, crop=224), "ResNet-18's"),
        (compose(crop=200), "200x200"),
        (compose(resize=(342, 342)), "squashes the photo"),
        (compose(resize=(299, 299)), "squashes the photo"),
        (compose(interpolation=NEAREST), "nearest-neighbour (NEAREST) interpolation"),
        (compose(interpolation=transforms.InterpolationMode.BICUBIC), "bicubic (BICUBIC)"),
        (compose(interpolation=transforms.InterpolationMode.LANCZOS), "Lanczos"),
        (transforms.Compose([transforms.Resize(342), transforms.ToTensor()]), "CenterCrop(299)"),
        (transforms.Compose([transforms.ToTensor(), transforms.Resize(342),
                             transforms.CenterCrop(299), transforms.Normalize(**IMAGENET)]),
         "before ToTensor()"),
        (transforms.Compose([lambda photo: photo]), "torch tensor, not Image"),
        (lambda photo: compose()(photo), "not a Compose (it is function): write the four steps"),
        ("Resize(342)", "transform you can call"),
    ],
)
def test_inception_preprocessing_wrong_answers_say_why(answer, reason):
    result, line = outcome(ex.inception_preprocessing, inception_preprocess=answer)
    assert result is Outcome.NOT_YET
    assert reason in line, line


def test_inception_preprocessing_nearest_interpolation_is_not_called_an_order_problem():
    line = outcome(ex.inception_preprocessing, inception_preprocess=compose(
        interpolation=NEAREST))[1]
    assert "check the order" not in line and "interpolation" in line


def test_inception_preprocessing_not_attempted():
    assert outcome(ex.inception_preprocessing)[0] is Outcome.NOT_ATTEMPTED


# -- 2. the top 3 by hand ------------------------------------------------------------------------


def top3(categories, probabilities, values=None):
    values = probabilities if values is None else values
    order = torch.argsort(probabilities, descending=True)[:3]
    return [(categories[i], float(values[i])) for i in order]


def right_top3(context):
    classifier = context["classifier"]
    probabilities = learner_probabilities(classifier, context["second_image"])
    return probabilities, top3(classifier.categories, probabilities)


@pytest.mark.parametrize("config", ["default", "tiny"])
def test_top3_right_answer_passes_for_the_lessons_own_classifier(config, request):
    context = request.getfixturevalue(config)
    probabilities, pairs = right_top3(context)
    for answer in (pairs, tuple(pairs)):
        result, line = outcome(ex.top3_by_hand, second_probabilities=probabilities,
                               second_top3=answer, **context)
        assert result is Outcome.CORRECT, line
    # the (1, classes) batch row and 0-d tensors as numbers are fine too
    batch = probabilities.unsqueeze(0)
    as_tensors = [(label, probabilities[context["classifier"].class_index(label)])
                  for label, _ in pairs]
    if len(set(context["classifier"].categories)) == len(context["classifier"].categories):
        result, line = outcome(ex.top3_by_hand, second_probabilities=batch,
                               second_top3=as_tensors, **context)
        assert result is Outcome.CORRECT, line


def test_top3_of_one_classifier_is_not_right_for_another(default, tiny):
    probabilities, pairs = right_top3(default)
    result, line = outcome(ex.top3_by_hand, second_probabilities=probabilities,
                           second_top3=pairs, **(tiny))
    assert result is Outcome.NOT_YET and "shape (1000,)" in line
    # same classifier, another photo: the check follows `second_image`
    swapped = default | {"second_image": ImageOps.mirror(default["second_image"])}
    assert outcome(ex.top3_by_hand, second_probabilities=probabilities, second_top3=pairs,
                   **swapped)[0] is Outcome.NOT_YET


def test_top3_numbers_copied_from_the_text_or_guessed_fail(default):
    probabilities, pairs = right_top3(default)
    copied = [("espresso", 0.957), ("cup", 0.014), ("consomme", 0.007)]  # the lesson's output
    guessed = torch.full((1000,), 1 / 1000)
    for vector, answer, reason in [
        (guessed, pairs, "is not the softmax"),
        (guessed, copied, "is not the softmax"),
        (probabilities, copied, "not the one in `second_probabilities`"),
        (torch.zeros(1000), pairs, "sums to 0"),
        ([p for _, p in pairs], pairs, "tensor of 1000 probabilities"),
    ]:
        result, line = outcome(ex.top3_by_hand, second_probabilities=vector, second_top3=answer,
                               **default)
        assert result is Outcome.NOT_YET, line
        assert reason in line, (reason, line)


def test_top3_wrong_preprocessing_is_named(default):
    classifier, second = default["classifier"], default["second_image"]
    cases = {
        "wrong normalization: `second_image` was normalized with ImageNet's numbers":
            learner_probabilities(classifier, second, **IMAGENET),
        "no normalization": learner_probabilities(classifier, second, normalize=False),
        "no crop": learner_probabilities(classifier, second, crop=None),
        "whole photo (crop=False)": learner_probabilities(
            classifier, second, resize=classifier.crop, crop=None),
        "first photo (`image`)": learner_probabilities(classifier, default["image"]),
    }
    for reason, vector in cases.items():
        pairs = top3(classifier.categories, vector)
        result, line = outcome(ex.top3_by_hand, second_probabilities=vector, second_top3=pairs,
                               **default)
        assert result is Outcome.NOT_YET, reason
        assert reason in line, (reason, line)
        assert "three most probable classes are not" not in line


def test_top3_wrong_normalization_for_a_classifier_trained_with_imagenets_numbers(tiny):
    context = tiny | {"classifier": tiny_classifier(**IMAGENET)}
    vector = learner_probabilities(context["classifier"], context["second_image"], **INCEPTION)
    result, line = outcome(ex.top3_by_hand, second_probabilities=vector,
                           second_top3=top3(context["classifier"].categories, vector), **context)
    assert result is Outcome.NOT_YET and "EfficientNet-Lite0's inception numbers" in line, line


def test_top3_wrong_pairs_say_why(default):
    classifier = default["classifier"]
    probabilities, right = right_top3(default)
    with torch.no_grad():
        logits = classifier.model(classifier.preprocess(default["second_image"]))[0]
    cases = {
        "least probable first": right[::-1],
        "logits": top3(classifier.categories, probabilities, values=logits),
        "percentages": [(label, 100 * p) for label, p in right],
        "for 3": right[:2],
        "(label, probability) pair": [label for label, _ in right],
        "'tabby' is not the most probable class": [("tabby", 0.5)] + right[1:],
        "list of (label, probability)": "espresso",
    }
    for reason, answer in cases.items():
        result, line = outcome(ex.top3_by_hand, second_probabilities=probabilities,
                               second_top3=answer, **default)
        assert result is Outcome.NOT_YET, reason
        assert reason in line, (reason, line)
    result, line = outcome(ex.top3_by_hand, second_probabilities=logits, second_top3=right,
                           **default)
    assert result is Outcome.NOT_YET and "holds logits" in line


def test_top3_not_attempted_and_not_checked_without_the_lessons_objects(default):
    assert outcome(ex.top3_by_hand)[0] is Outcome.NOT_ATTEMPTED
    probabilities, pairs = right_top3(default)
    result, line = outcome(ex.top3_by_hand, second_probabilities=probabilities,
                           second_top3=pairs, classifier=default["classifier"])
    assert result is Outcome.NOT_ATTEMPTED and "`image`, `second_image` not defined" in line


# -- 3. the mirrored photo -----------------------------------------------------------------------


def flips(context):
    classifier, photo = context["classifier"], context["image"]
    original = learner_probabilities(classifier, photo)
    top = int(original.argmax())
    return (classifier.categories[top], top, original,
            learner_probabilities(classifier, ImageOps.mirror(photo)),
            learner_probabilities(classifier, ImageOps.flip(photo)))


@pytest.mark.parametrize("config", ["default", "tiny"])
def test_flip_right_answer_passes_for_the_lessons_own_classifier(config, request):
    context = request.getfixturevalue(config)
    label, top, _, mirrored, _ = flips(context)
    # a 0-d tensor and a numpy scalar are numbers too
    for number in (float(mirrored[top]), mirrored[top], np.float32(mirrored[top])):
        result, line = outcome(ex.flip_probability, flip_label=label,
                               mirrored_probabilities=mirrored, flip_probability=number,
                               **context)
        assert result is Outcome.CORRECT, line


def test_flip_numbers_copied_or_guessed_fail(default):
    label, top, original, mirrored, upside_down = flips(default)
    uniform = torch.full((1000,), 1 / 1000)
    cases = {
        "is not the softmax": (label, uniform, float(mirrored[top])),
        "the original photo's softmax": (label, original, float(original[top])),
        "upside down": (label, upside_down, float(upside_down[top])),
        "on the original photo": (label, mirrored, float(original[top])),
        "a percentage": (label, mirrored, 100 * float(mirrored[top])),
        "not the entry of 'tiger cat'": (label, mirrored, round(float(mirrored[top]), 3)),
        "not a probability": (label, mirrored, 37.5),
        "is not the top class": ("golf ball", mirrored, float(mirrored[top])),
        "`flip_label` should be a str": (top, mirrored, float(mirrored[top])),
        "should be a number": (label, mirrored, "0.4"),
        "wrong normalization": (label, learner_probabilities(
            default["classifier"], ImageOps.mirror(default["image"]), **IMAGENET),
            float(mirrored[top])),
    }
    if int(mirrored.argmax()) != top:
        cases["own top class"] = (label, mirrored, float(mirrored.max()))
    for reason, (flip_label, vector, number) in cases.items():
        result, line = outcome(ex.flip_probability, flip_label=flip_label,
                               mirrored_probabilities=vector, flip_probability=number, **default)
        assert result is Outcome.NOT_YET, reason
        assert reason in line, (reason, line)


def test_flip_follows_the_lessons_photo(tiny):
    label, top, _, mirrored, _ = flips(tiny)
    other = tiny | {"image": synthetic_photo(7, (44, 60))}
    result, _ = outcome(ex.flip_probability, flip_label=other["classifier"].categories[
        int(learner_probabilities(other["classifier"], other["image"]).argmax())],
        mirrored_probabilities=mirrored, flip_probability=float(mirrored[top]), **other)
    assert result is Outcome.NOT_YET


def test_flip_half_attempted_names_the_missing_variable():
    result, line = outcome(ex.flip_probability, flip_label="tabby")
    assert result is Outcome.NOT_YET and "`mirrored_probabilities`" in line


def test_every_printed_solution_passes_in_the_lessons_namespace(default):
    """The printed solution, run after the lesson's cells it uses, is correct (default model)."""
    import inspect

    namespace = lesson_namespace(default)
    with torch.no_grad():
        for exercise in ex.EXERCISES:
            exec(inspect.cleandoc(exercise.solution_text), namespace)
            result = exercise.evaluate(namespace)
            assert result.outcome is Outcome.CORRECT, result.line


# -- ties, hostile types and the lesson's context objects (hostile review, round 2) -------------


def zeroed_head(classifier: Classifier) -> Classifier:
    """``classifier`` with its last linear layer zeroed: every logit equal, every class tied."""
    import copy

    model = copy.deepcopy(classifier.model)
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return Classifier(f"{classifier.name}-zeroed", model, classifier.categories,
                      resize=classifier.resize, crop=classifier.crop, mean=classifier.mean,
                      std=classifier.std)


def lesson_namespace(context):
    classifier = context["classifier"]
    namespace = dict(context) | {
        "torch": torch, "transforms": transforms, "ImageOps": ImageOps, "model": classifier.model,
        "my_softmax": softmax,
        "my_preprocess": compose(classifier.resize, classifier.crop, classifier.mean,
                                 classifier.std),
    }
    with torch.no_grad():
        namespace["predictions"] = classifier.predict(context["image"], k=5)
    return namespace


def test_printed_solutions_pass_when_every_class_is_tied():
    """ResNet-18 with its fc zeroed: all 1000 probabilities equal, so argsort, topk and argmax may
    break the tie differently; a label is right when its probability is the k-th largest."""
    import inspect

    from torchvision.models import resnet18

    from xai_tutorial.classification import imagenet_categories

    torch.manual_seed(0)
    classifier = zeroed_head(Classifier("resnet18-random", resnet18(weights=None).eval(),
                                        imagenet_categories(), resize=256, crop=224))
    namespace = lesson_namespace({"classifier": classifier, "image": load_image("chelsea"),
                                  "second_image": load_image("coffee")})
    with torch.no_grad():
        for exercise in ex.EXERCISES[1:]:
            exec(inspect.cleandoc(exercise.solution_text), namespace)
            result = exercise.evaluate(namespace)
            assert result.outcome is Outcome.CORRECT, result.line


def test_tied_classes_count_in_either_order_but_an_untied_one_does_not(tiny):
    classifier = tiny["classifier"]
    tied = tiny | {"classifier": zeroed_head(classifier)}
    categories = classifier.categories
    vector = learner_probabilities(tied["classifier"], tied["second_image"])
    assert torch.allclose(vector, torch.full((6,), 1 / 6))
    for labels in (categories[:3], categories[-3:][::-1], [categories[4], categories[0],
                                                            categories[2]]):
        pairs = [(label, 1 / 6) for label in labels]
        result, line = outcome(ex.top3_by_hand, second_probabilities=vector, second_top3=pairs,
                               **tied)
        assert result is Outcome.CORRECT, line
    for label in categories:  # every class is the top one of the original photo
        mirrored = learner_probabilities(tied["classifier"], ImageOps.mirror(tied["image"]))
        result, line = outcome(ex.flip_probability, flip_label=label,
                               mirrored_probabilities=mirrored, flip_probability=1 / 6, **tied)
        assert result is Outcome.CORRECT, line
    # without the tie, the order is the probabilities' order
    probabilities, right = right_top3(tiny)
    swapped = [right[1], right[0], right[2]]
    result, line = outcome(ex.top3_by_hand, second_probabilities=probabilities,
                           second_top3=swapped, **tiny)
    assert result is Outcome.NOT_YET and "is not the most probable class" in line, line
    repeated = [right[0], right[0], right[2]]
    result, line = outcome(ex.top3_by_hand, second_probabilities=probabilities,
                           second_top3=repeated, **tiny)
    assert result is Outcome.NOT_YET and "second most probable" in line, line


def test_answers_are_read_with_the_shared_readers(default):
    label, top, _, mirrored, _ = flips(default)
    right = float(mirrored[top])
    for value in (np.array(right), np.array([right]), torch.tensor([right]), np.float64(right)):
        result, line = outcome(ex.flip_probability, flip_label=label,
                               mirrored_probabilities=mirrored, flip_probability=value, **default)
        assert result is Outcome.CORRECT, (value, line)
    for value, reason in ((float("nan"), "finite"), (True, "should be a number"),
                          (torch.tensor(right + 0j), "should be a number")):
        result, line = outcome(ex.flip_probability, flip_label=label,
                               mirrored_probabilities=mirrored, flip_probability=value, **default)
        assert result is Outcome.NOT_YET and reason in line, (value, line)
    result, line = outcome(ex.flip_probability, flip_label=AlwaysEqual("golf ball"),
                           mirrored_probabilities=mirrored, flip_probability=right, **default)
    assert result is Outcome.NOT_YET and "'golf ball' is not the top class" in line, line
    probabilities, pairs = right_top3(default)
    cheat = [(AlwaysEqual("golf ball"), p) for _, p in pairs]
    result, line = outcome(ex.top3_by_hand, second_probabilities=probabilities,
                           second_top3=cheat, **default)
    assert result is Outcome.NOT_YET and "'golf ball'" in line, line
    nan = probabilities * float("nan")
    result, line = outcome(ex.top3_by_hand, second_probabilities=nan, second_top3=pairs,
                           **default)
    assert result is Outcome.NOT_YET and "finite" in line and "nan)" not in line, line


def test_a_transform_giving_nan_is_called_not_finite():
    nan = transforms.Compose([compose(), transforms.Lambda(lambda x: x * float("nan"))])
    result, line = outcome(ex.inception_preprocessing, inception_preprocess=nan)
    assert result is Outcome.NOT_YET and "not finite" in line, line
    assert "nan" not in line.lower().replace("nan or inf", ""), line


def test_context_photos_by_name_and_a_wrong_classifier(default):
    label, top, _, mirrored, _ = flips(default)
    answer = {"flip_label": label, "mirrored_probabilities": mirrored,
              "flip_probability": float(mirrored[top])}
    by_name = default | {"image": "chelsea"}
    result, line = outcome(ex.flip_probability, **answer, **by_name)
    assert result is Outcome.CORRECT, line
    probabilities, pairs = right_top3(default)
    result, line = outcome(ex.top3_by_hand, second_probabilities=probabilities,
                           second_top3=pairs, **(default | {"second_image": "coffee"}))
    assert result is Outcome.CORRECT, line
    for context, reason in (({"classifier": "efficientnet_lite0"}, "`classifier` is not a "
                             "Classifier"),
                            ({"image": None}, "`image` is not a photo"),
                            ({"image": torch.rand(3, 8, 8)}, "`image` is not a photo")):
        result, line = outcome(ex.flip_probability, **answer, **(default | context))
        assert result is Outcome.NOT_YET and reason in line, line
        assert "Traceback" not in line and "tensor(" not in line and len(line) < 200, line


def test_sparse_and_meta_probabilities_are_refused_with_a_reason(default):
    probabilities, pairs = right_top3(default)
    for value in (probabilities.to_sparse(), torch.empty(1000, device="meta")):
        result, line = outcome(ex.top3_by_hand, second_probabilities=value, second_top3=pairs,
                               **default)
        assert result is Outcome.NOT_YET and "dense" in line, line
