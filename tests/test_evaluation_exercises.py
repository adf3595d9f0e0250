"""Lesson 04's exercises: right answers pass for any model and photos, guessed or copied ones get
"not yet" with a reason, missing ones wait.

The checkers read the lesson's own objects (``classifier``, ``image``, ``second_image``,
``STEPS``, ``scenes``) from the namespace, so the tests build that namespace the way the lesson's
cells do (:func:`lesson_namespace`), for a small random network, and (slow) for the bundled model
and a random-weight ResNet-18 with a photo the series does not ship.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from xai_tutorial import Classifier, load_image
from xai_tutorial import evaluation as ev
from xai_tutorial import evaluation_exercises as ex
from xai_tutorial.exercises import Exercise, Outcome

LESSON = Path(__file__).resolve().parents[1] / "notebooks" / "04_judging_explanations.md"


class SmallNet(nn.Module):
    """conv(stride 4) -> ReLU -> conv(stride 2) -> BN -> ReLU -> GAP -> Linear: a GAP + linear
    network with three cascade blocks (``fc``, ``conv2`` with its batch norm, ``conv1``)."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 5, stride=4, padding=2)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu2(self.bn(self.conv2(self.relu1(self.conv1(x)))))
        return self.fc(torch.flatten(self.pool(x), 1))


def small_classifier(seed: int = 3) -> Classifier:
    """A seeded random SmallNet on 64-pixel inputs: another model than the bundled one, whose
    layers have other names (an instructor's, as far as the checkers can tell)."""
    torch.manual_seed(seed)
    return Classifier("small", SmallNet(), [f"class {i}" for i in range(10)], resize=72, crop=64)


def other_photo() -> Image.Image:
    """A photo the series does not ship, not square (a seeded texture with a bright patch)."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (90, 140, 3), dtype=np.uint8)
    pixels[20:60, 70:120] = (250, 240, 40)
    return Image.fromarray(pixels)


def lesson_namespace(classifier: Classifier, photo: object, second_photo: object, *,
                     steps: int = 4, scenes: int = 6) -> dict:
    """What the lesson's cells define before the exercises, the way they define it."""
    image, second_image = load_image(photo), load_image(second_photo)
    x, x_second = ev.model_input(classifier, image), ev.model_input(classifier, second_image)
    target = ev.top_class(classifier, x)
    second_target = ev.top_class(classifier, x_second, exclude=[target])
    objects = {"first": ev.scene_object(photo), "second": ev.scene_object(second_photo)}
    made = ev.pointing_scenes(scenes, size=classifier.crop, objects=objects)
    return {
        "ev": ev, "classifier": classifier, "image": image, "second_image": second_image,
        "x": x, "x_second": x_second, "target": target, "second_target": second_target,
        "second_map": ev.cam(classifier, x_second, second_target), "STEPS": steps,
        "scenes": made, "scene_batch": ev.scene_batch(classifier, made),
    }


def solved(exercise: Exercise, namespace: dict) -> dict:
    """``namespace`` after running the exercise's printed solution in it."""
    namespace = dict(namespace)
    exec(inspect.cleandoc(exercise.solution_text), namespace)
    return namespace


def check(exercise: Exercise, namespace: dict, **answers):
    return exercise.evaluate({**namespace, **answers})


@pytest.fixture(scope="module")
def small() -> dict:
    return lesson_namespace(small_classifier(), other_photo(), "coffee")


# ----------------------------------------------------------------------------------------------
# The exercises as a set


def test_not_attempted_when_the_variables_or_the_lessons_objects_are_missing(small):
    for exercise in ex.EXERCISES:
        assert exercise.evaluate({}).outcome is Outcome.NOT_ATTEMPTED
        answers = solved(exercise, small)
        without = {k: v for k, v in answers.items() if k not in exercise.context}
        result = exercise.evaluate(without)
        assert result.outcome is Outcome.NOT_ATTEMPTED and "not checked yet" in result.line


def test_exercises_are_listed_in_notebook_order():
    assert ex.EXERCISES == (ex.randomized_block, ex.inverted_map, ex.pointing_failure)
    lesson = LESSON.read_text()
    names = ("randomized_block", "inverted_map", "pointing_failure")
    positions = [lesson.index(f"ex.{name}.check()") for name in names]
    assert positions == sorted(positions)
    assert all(isinstance(e, Exercise) and e.context for e in ex.EXERCISES)


def test_printed_solutions_pass_their_own_check_with_another_model_and_photo(small):
    for exercise in ex.EXERCISES:
        result = exercise.evaluate(solved(exercise, small))
        assert result, result.line


def test_the_lessons_answer_cells_are_the_printed_solutions():
    """What nbval runs is what ``solution()`` prints (one region per exercise, in order)."""
    lesson = LESSON.read_text()
    regions = [part.split("### END SOLUTION")[0] for part in lesson.split("### BEGIN SOLUTION")[1:]]
    assert [inspect.cleandoc(r) for r in regions] == [
        inspect.cleandoc(e.solution_text) for e in ex.EXERCISES]


def test_the_lesson_names_no_private_layer_or_fixed_class_in_its_code():
    code = "\n".join(part.split("```")[0] for part in LESSON.read_text().split("```{code-cell}"))
    for private in ("_conv_head", "_blocks.", "pooling_layer", "285", "967", "Egyptian",
                    "espresso", "(7, 7)", "224"):
        assert private not in code, private


def test_lesson_classes_give_the_second_photo_a_class_of_its_own():
    classifier = small_classifier()
    photo = other_photo()
    first, second = ex.lesson_classes(classifier, photo, photo)  # the same photo twice
    assert first == ev.top_class(classifier, photo) and second != first
    assert second == ev.top_class(classifier, photo, exclude=[first])


def test_first_block_below():
    steps = [ev.RandomizationStep("a", 0.9), ev.RandomizationStep("b", 0.6),
             ev.RandomizationStep("c", 0.4), ev.RandomizationStep("d", None)]
    assert ex.first_block_below(steps) == "c"
    assert ex.first_block_below(steps, threshold=0.95) == "a"
    assert ex.first_block_below(steps[:2] + steps[3:]) == "d"  # constant = no resemblance
    assert ex.first_block_below(steps[:2]) is None


# ----------------------------------------------------------------------------------------------
# 1. The second photo's cascade


def test_randomized_block_follows_the_classifier_and_the_second_photo(small):
    right = solved(ex.randomized_block, small)
    answer = right["first_dissimilar_block"]
    cascade = right["second_cascade"]
    assert answer == ex.first_block_below(cascade)
    assert check(ex.randomized_block, small, first_dissimilar_block=answer)
    # the bundled model's names, guessed from the text, are not this network's blocks
    guess = check(ex.randomized_block, small, first_dissimilar_block="_conv_head")
    assert guess.outcome is Outcome.NOT_YET and "not a block of the cascade" in guess.line
    blocks = ev.cascade_blocks(small["classifier"].model)
    assert blocks == ["fc", "conv2", "conv1"]
    first = len(blocks) if answer is None else blocks.index(answer)
    for k, block in enumerate(blocks):
        if block == answer:
            continue
        result = check(ex.randomized_block, small, first_dissimilar_block=block)
        assert result.outcome is Outcome.NOT_YET
        assert ("FIRST" if k > first else "not below 0.5") in result.line, result.line
    if answer is not None:
        assert not check(ex.randomized_block, small, first_dissimilar_block=None)
    assert not check(ex.randomized_block, small, first_dissimilar_block=3)


def test_a_shorter_cascade_is_the_longer_ones_first_steps(small):
    """What the checker relies on to recompute only up to the learner's answer."""
    classifier, x, c = small["classifier"], small["x_second"], small["second_target"]
    full = ev.randomization_check(classifier, x, c)
    assert ev.randomization_check(classifier, x, c, blocks=["fc", "conv2"]) == full[:2]


def test_randomized_block_checks_against_the_cascade_not_a_fixed_answer():
    """The same answer is right for one model and wrong for another: the truth is recomputed."""
    answers = {}
    for seed in range(12):
        namespace = lesson_namespace(small_classifier(seed), other_photo(), "coffee", scenes=1)
        answers[seed] = solved(ex.randomized_block, namespace)["first_dissimilar_block"]
        assert check(ex.randomized_block, namespace,
                     first_dissimilar_block=answers[seed]), seed
    assert len(set(answers.values())) >= 2, answers


# ----------------------------------------------------------------------------------------------
# 2. The inverted map's deletion curve


def test_inverted_map_right_and_wrong(small):
    right = solved(ex.inverted_map, small)
    curve = right["inverted_curve"]
    assert check(ex.inverted_map, small, inverted_vs_insertion="same", inverted_curve=curve)
    insertion = ev.insertion_curve(small["classifier"], small["x_second"], small["second_map"],
                                   small["second_target"], steps=small["STEPS"])
    assert abs(curve.auc - insertion.auc) < 1e-3  # the prediction's truth, on this model too
    np.testing.assert_allclose(curve.probabilities, insertion.probabilities[::-1], atol=1e-4)
    for wrong in ("higher", "lower"):
        result = check(ex.inverted_map, small, inverted_vs_insertion=wrong, inverted_curve=curve)
        assert result.outcome is Outcome.NOT_YET and "STEPS - k" in result.line
    assert not check(ex.inverted_map, small, inverted_vs_insertion="up", inverted_curve=curve)


def test_inverted_map_needs_the_curve_itself(small):
    c, x, steps = small["second_target"], small["x_second"], small["STEPS"]
    classifier, cam_map = small["classifier"], small["second_map"]
    own = ev.deletion_curve(classifier, x, cam_map, c, steps=steps)
    result = check(ex.inverted_map, small, inverted_vs_insertion="same", inverted_curve=own)
    assert result.outcome is Outcome.NOT_YET and "invert the map" in result.line
    number = solved(ex.inverted_map, small)["inverted_curve"].auc  # the AUC without its curve
    result = check(ex.inverted_map, small, inverted_vs_insertion="same", inverted_curve=number)
    assert result.outcome is Outcome.NOT_YET and "Curve" in result.line
    cases = {
        "steps=STEPS": ev.deletion_curve(classifier, x, -cam_map, c, steps=steps + 1),
        "*deletion*": ev.insertion_curve(classifier, x, -cam_map, c, steps=steps),
        "second_target": ev.deletion_curve(classifier, x, -cam_map, small["target"],
                                           steps=steps),
        "not the deletion curve": ev.deletion_curve(classifier, small["x"], -small["second_map"],
                                                    c, steps=steps),
    }
    for reason, curve in cases.items():
        result = check(ex.inverted_map, small, inverted_vs_insertion="same", inverted_curve=curve)
        assert result.outcome is Outcome.NOT_YET and reason in result.line, (reason, result.line)


# ----------------------------------------------------------------------------------------------
# 3. The centre baseline in the pointing game


def test_pointing_failure_right_and_wrong(small):
    right = solved(ex.pointing_failure, small)
    hits, rate = right["center_hits"], right["center_hit_rate"]
    scenes = small["scenes"]
    assert hits == ex.center_hits_of(scenes)
    assert check(ex.pointing_failure, small, center_hits=hits, center_hit_rate=rate,
                 pointing_failure="b")
    # the same hits as a numpy array or 0/1 numbers are accepted too
    assert check(ex.pointing_failure, small, center_hits=np.array(hits), center_hit_rate=rate,
                 pointing_failure="b")
    reasons = set()
    for letter in ("a", "c"):
        result = check(ex.pointing_failure, small, center_hits=hits, center_hit_rate=rate,
                       pointing_failure=letter)
        assert result.outcome is Outcome.NOT_YET and f"{letter} is not it" in result.line
        reasons.add(result.line)
    assert len(reasons) == 2  # a reason per wrong statement
    assert not check(ex.pointing_failure, small, center_hits=hits, center_hit_rate=rate,
                     pointing_failure="d")


def test_a_copied_rate_is_not_enough(small):
    """The table prints the centre's rate; without the hits it was computed from, it fails."""
    scenes = small["scenes"]
    rate = sum(ex.center_hits_of(scenes)) / len(scenes)
    alone = check(ex.pointing_failure, small, center_hit_rate=rate, pointing_failure="b")
    assert not alone and "center_hits" in alone.line
    for guess in ([True] * len(scenes), [False] * len(scenes)):
        if guess == ex.center_hits_of(scenes):
            continue
        result = check(ex.pointing_failure, small, center_hits=guess, center_hit_rate=rate,
                       pointing_failure="b")
        assert result.outcome is Outcome.NOT_YET and "hits are not" in result.line
    hits = ex.center_hits_of(scenes)
    off = check(ex.pointing_failure, small, center_hits=hits, center_hit_rate=rate + 0.01,
                pointing_failure="b")
    assert off.outcome is Outcome.NOT_YET and "fraction of hits" in off.line


def test_pointing_failure_names_the_likely_mistakes():
    scenes = ev.pointing_scenes(50, objects={"first": ev.scene_object("chelsea"),
                                             "second": ev.scene_object("coffee")})
    namespace = {"scenes": scenes}
    first = ex.center_hits_of(scenes, "first")
    strict = ex.center_hits_of(scenes, tolerance=0.0)
    truth = ex.center_hits_of(scenes)
    assert len({tuple(first), tuple(strict), tuple(truth)}) == 3  # the mistakes are told apart
    for hits, reason in ((first, "boxes['second']"), (strict, "no tolerance")):
        result = check(ex.pointing_failure, namespace, center_hits=hits,
                       center_hit_rate=sum(hits) / len(hits), pointing_failure="b")
        assert result.outcome is Outcome.NOT_YET and reason in result.line
    short = check(ex.pointing_failure, namespace, center_hits=truth[:-1], center_hit_rate=0.3,
                  pointing_failure="b")
    assert short.outcome is Outcome.NOT_YET and "one per scene" in short.line
    for rate in ("0.5", float("nan")):
        assert not check(ex.pointing_failure, namespace, center_hits=truth,
                         center_hit_rate=rate, pointing_failure="b")
    odd = check(ex.pointing_failure, {"scenes": [1, 2]}, center_hits=truth,
                center_hit_rate=0.3, pointing_failure="b")
    assert odd.outcome is Outcome.NOT_YET and "generated scenes" in odd.line


# ----------------------------------------------------------------------------------------------
# Answers of other types, hostile answers, and the lesson's own objects gone wrong


class YesToEverything(str):
    """A str whose ``==`` says yes to anything (and ``!=`` no): it must be read as it spells."""

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


def test_a_rate_of_any_number_type_is_read_as_its_value(small):
    right = solved(ex.pointing_failure, small)
    hits, rate = right["center_hits"], right["center_hit_rate"]
    for typed in (np.float32(rate), np.float64(rate), torch.tensor(rate),
                  torch.tensor([rate], dtype=torch.float64), np.array(rate)):
        result = check(ex.pointing_failure, small, center_hits=hits, center_hit_rate=typed,
                       pointing_failure="b")
        assert result, (type(typed), result.line)
    for bad, reason in ((True, "should be a number"), (float("inf"), "finite"),
                        (torch.tensor([rate, rate]), "should be a number")):
        result = check(ex.pointing_failure, small, center_hits=hits, center_hit_rate=bad,
                       pointing_failure="b")
        assert result.outcome is Outcome.NOT_YET and reason in result.line, result.line


def test_a_str_that_equals_everything_is_read_as_what_it_spells(small):
    hits_ns = solved(ex.pointing_failure, small)
    result = check(ex.pointing_failure, small, center_hits=hits_ns["center_hits"],
                   center_hit_rate=hits_ns["center_hit_rate"],
                   pointing_failure=YesToEverything("z"))
    assert result.outcome is Outcome.NOT_YET and "not 'z'" in result.line
    assert check(ex.pointing_failure, small, center_hits=hits_ns["center_hits"],
                 center_hit_rate=hits_ns["center_hit_rate"], pointing_failure=YesToEverything("b"))
    curve = solved(ex.inverted_map, small)["inverted_curve"]
    result = check(ex.inverted_map, small, inverted_vs_insertion=YesToEverything("q"),
                   inverted_curve=curve)
    assert result.outcome is Outcome.NOT_YET and "not 'q'" in result.line
    result = check(ex.randomized_block, small, first_dissimilar_block=YesToEverything("nope"))
    assert result.outcome is Outcome.NOT_YET and "your 'nope' is not a block" in result.line


def test_the_lessons_objects_of_the_wrong_kind_are_named(small):
    curve = solved(ex.inverted_map, small)["inverted_curve"]
    answers = {"inverted_vs_insertion": "same", "inverted_curve": curve}
    for steps in ("4", None, 4.0, True):
        result = check(ex.inverted_map, {**small, "STEPS": steps}, **answers)
        assert result.outcome is Outcome.NOT_YET, steps
        assert "the lesson's `STEPS` should be a whole number" in result.line, result.line
    result = check(ex.inverted_map, {**small, "STEPS": 0}, **answers)
    assert "at least 1" in result.line
    result = check(ex.inverted_map, {**small, "STEPS": small["STEPS"] + 1}, **answers)
    assert "your curve has 4 steps, and the lesson's STEPS is 5" in result.line
    for exercise, answer in ((ex.inverted_map, answers),
                             (ex.randomized_block, {"first_dissimilar_block": None})):
        wrong = check(exercise, {**small, "classifier": "efficientnet_lite0"}, **answer)
        assert "`classifier` is not a Classifier (it is a str)" in wrong.line, wrong.line
        wrong = check(exercise, {**small, "second_image": None}, **answer)
        assert "`second_image` is not a photo the lesson can read" in wrong.line, wrong.line
        assert "raised" not in wrong.line
    # a photo's name is a photo too (load_image reads it)
    assert check(ex.inverted_map, {**small, "second_image": "coffee"}, **answers)


# ----------------------------------------------------------------------------------------------
# The lesson's configurations: the bundled model, and an instructor's random ResNet-18


@pytest.mark.slow
def test_the_bundled_models_answers_and_the_old_guesses(bundled):
    namespace = lesson_namespace(bundled, "chelsea", "coffee", steps=8, scenes=50)
    assert (namespace["target"], namespace["second_target"]) == (285, 967)
    for exercise in ex.EXERCISES:
        result = exercise.evaluate(solved(exercise, namespace))
        assert result, result.line
    # the old answer, stated in the old text, is not the second photo's
    guess = check(ex.randomized_block, namespace, first_dissimilar_block="_conv_head")
    assert guess.outcome is Outcome.NOT_YET
    # the centre's rate as the table prints it, 0.34, without the hits it came from
    copied = check(ex.pointing_failure, namespace, center_hit_rate=0.34, pointing_failure="b")
    assert copied.outcome is Outcome.NOT_YET and "`center_hits`" in copied.line
    # the cat's map (the old printed solution's -cam_map) is refused, naming -second_map
    wrong = ev.deletion_curve(bundled, namespace["x_second"],
                              -ev.cam(bundled, namespace["x"], 285), 967, steps=8)
    result = check(ex.inverted_map, namespace, inverted_vs_insertion="same", inverted_curve=wrong)
    assert result.outcome is Outcome.NOT_YET and "-second_map" in result.line


@pytest.mark.slow
def test_an_instructors_random_resnet_and_photo(tmp_path):
    from torchvision.models import resnet18

    from xai_tutorial.classification import imagenet_categories

    torch.manual_seed(0)
    classifier = Classifier("resnet18-untrained", resnet18(weights=None), imagenet_categories(),
                            resize=256, crop=224)
    path = tmp_path / "field photo.jpg"
    other_photo().resize((300, 200)).save(path)
    namespace = lesson_namespace(classifier, str(path), "coffee", steps=4, scenes=8)
    for exercise in ex.EXERCISES:
        result = exercise.evaluate(solved(exercise, namespace))
        assert result, result.line
    guess = check(ex.randomized_block, namespace, first_dissimilar_block="_fc")
    assert guess.outcome is Outcome.NOT_YET and "not a block" in guess.line
