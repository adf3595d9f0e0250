"""Self-checking exercises for lesson 04 (judging saliency maps).

In the notebook::

    from xai_tutorial import evaluation_exercises as ex
    ex.inverted_map.check()

Every checker recomputes its truth from the lesson's own objects, passed by name from the
notebook's namespace (:attr:`~xai_tutorial.exercises.Exercise.context`): the ``classifier``, the
two photos ``image`` and ``second_image``, the ``STEPS`` knob and the generated ``scenes``. So a
right answer is right for whatever model, photos and knobs the parameters cell names, and a
grader can pass an instructor's objects instead. The classes are the lesson's: the model's own
most probable class on ``image``, and on ``second_image`` the most probable other one
(:func:`lesson_classes`).

Answers that are numbers come with the object they were computed from (a curve, a list of hits),
so a number copied from the text, or guessed, is not enough.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from . import evaluation as ev
from .classification import Classifier
from .core.errors import TutorialError
from .exercises import Exercise, expect, index, number, text

#: Below this rank correlation a randomized map no longer "resembles" the original.
RESEMBLANCE = 0.5
#: The scene object whose boxes exercise 3 scores (the second photo's).
SECOND = "second"
#: Why each wrong statement of exercise 3 is wrong.
WRONG_STATEMENTS = {
    "a": ("a is not it: the label only chooses which box scores the map, and a wrong prediction "
          "is scored like any other; the centre bump does not even read the label. Which "
          "statement explains why a map that knows nothing can score well?"),
    "c": ("c is not it: 15 pixels is small next to the scene, and the random maps in the table "
          "hit far less often with the same tolerance. Which statement explains why the centre "
          "bump does better than them?"),
}


#: The fraction a right ``center_hit_rate`` may differ by (a float32 of 5/12 is off by 1e-8).
RATE_TOLERANCE = 1e-6


def lesson_classes(classifier: Classifier, image: object, second_image: object
                   ) -> tuple[int, int]:
    """``(target, second_target)``: the model's most probable class on ``image``, and on
    ``second_image`` its most probable class other than ``target`` (as the lesson picks them)."""
    target = ev.top_class(classifier, image)  # type: ignore[arg-type]
    return target, ev.top_class(classifier, second_image, exclude=[target])  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# The lesson's own objects, read once: a wrong one is named, never a raw exception's text


def _classifier(value: object) -> Classifier:
    expect(isinstance(value, Classifier),
           f"`classifier` is not a Classifier (it is a {type(value).__name__}): re-run the "
           "lesson's setup cells (classifier = load_classifier(MODEL)), then check again")
    return value  # type: ignore[return-value]


def _photo(classifier: Classifier, value: object, name: str) -> torch.Tensor:
    """The model input of the lesson's photo ``name`` (an image, or anything load_image takes)."""
    try:
        return ev.model_input(classifier, value)  # type: ignore[arg-type]
    except TutorialError as error:
        raise AssertionError(f"`{name}` is not a photo the lesson can read ({error}): re-run the "
                             "lesson's setup cells, then check again") from None


def _lesson(classifier: object, image: object, second_image: object
            ) -> tuple[Classifier, torch.Tensor, int]:
    """``(classifier, x_second, second_target)``, checked and recomputed from the lesson's
    objects."""
    model = _classifier(classifier)
    x, x_second = _photo(model, image, "image"), _photo(model, second_image, "second_image")
    return model, x_second, lesson_classes(model, x, x_second)[1]


def _steps(value: object) -> int:
    """The lesson's ``STEPS`` knob: a positive whole number."""
    try:
        steps = index(value, "STEPS")
    except AssertionError:
        raise AssertionError(
            f"the lesson's `STEPS` should be a whole number (steps per curve), not "
            f"{type(value).__name__} {value!r:.40}: set it in the parameters cell and re-run the "
            "lesson") from None
    expect(steps >= 1, f"the lesson's `STEPS` is {steps}: it should be at least 1 (set it in "
                       "the parameters cell and re-run the lesson)")
    return steps


def first_block_below(steps: Sequence[ev.RandomizationStep],
                      threshold: float = RESEMBLANCE) -> str | None:
    """The first block of a cascade after which rho is below ``threshold`` (or undefined)."""
    for step in steps:
        if step.rho is None or step.rho < threshold:
            return step.block
    return None


# ----------------------------------------------------------------------------------------------
# 1. Where the second photo's randomized map stops resembling the original


def _check_block(first_dissimilar_block: object, *, classifier: Classifier, image: object,
                 second_image: object) -> str | None:
    expect(first_dissimilar_block is None or isinstance(first_dissimilar_block, str),
           "`first_dissimilar_block` should be a block name (a str), or None if rho never "
           f"falls below {RESEMBLANCE}, not {type(first_dissimilar_block).__name__}")
    answer = None if first_dissimilar_block is None else text(first_dissimilar_block,
                                                              "first_dissimilar_block")
    classifier, x, second = _lesson(classifier, image, second_image)
    blocks = ev.cascade_blocks(classifier.model)
    if answer is None:
        truth = first_block_below(ev.randomization_check(classifier, x, second))
        if truth is not None:
            return (f"your None says rho never falls below {RESEMBLANCE}, but it does in the "
                    "second photo's cascade: walk it from the top and stop at the first step "
                    "whose rho is below it")
        return None
    expect(answer in blocks, f"your {answer!r:.60} is not a block of the cascade "
                             f"(ev.cascade_blocks(classifier.model): {blocks[0]!r}, "
                             f"{blocks[1:2]}, ...)")
    # the cascade is seeded and runs from the top, so its first k steps are a shorter cascade's
    steps = ev.randomization_check(classifier, x, second, blocks=blocks[: blocks.index(answer) + 1])
    truth = first_block_below(steps)
    if truth is None:
        return (f"after your {answer!r} rho is {steps[-1].rho:.2f}, not below {RESEMBLANCE}: "
                "the second photo's map still resembles its original there (CAM, batch norm kept, "
                "the defaults of ev.randomization_check)")
    if truth != answer:
        return (f"rho is below {RESEMBLANCE} after your {answer!r}, but it already was after an "
                f"earlier block: walk the cascade from the top ({blocks[0]!r} first) and stop at "
                "the FIRST step whose rho is below it (or undefined)")
    return None


randomized_block = Exercise(
    "Where the second photo's randomized map stops resembling the original",
    ("first_dissimilar_block",),
    _check_block,
    "Run ev.randomization_check(classifier, x_second, second_target) (CAM, batch norm kept), "
    f"then loop over its (block, rho) from the top and stop at the first rho below {RESEMBLANCE}; "
    "a rho of None (constant map) counts as no resemblance, and None is the answer if no step "
    "qualifies.",
    """
    second_cascade = ev.randomization_check(classifier, x_second, second_target)
    first_dissimilar_block = next(
        (block for block, rho in second_cascade if rho is None or rho < 0.5), None)
    """,
    context=("classifier", "image", "second_image"),
)


# ----------------------------------------------------------------------------------------------
# 2. Predict, then measure: the deletion curve of an inverted map


def _same_curve(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=0, atol=1e-4))


def _probabilities(curve: ev.Curve) -> np.ndarray:
    """The curve's probabilities as a 1-d float array (a tampered curve is named as such)."""
    try:
        values = np.asarray(curve.probabilities, dtype=np.float64)
    except (TypeError, ValueError):
        values = np.empty(0)
    expect(values.ndim == 1 and values.size >= 2,
           "`inverted_curve.probabilities` should hold one probability per step (STEPS + 1 of "
           "them): keep the Curve that ev.deletion_curve returns as it is")
    expect(bool(np.isfinite(values).all()),
           "`inverted_curve.probabilities` should be finite: keep the Curve that "
           "ev.deletion_curve returns as it is")
    return values


def _check_inverted(inverted_vs_insertion: object, inverted_curve: object, *,
                    classifier: Classifier, image: object, second_image: object,
                    STEPS: object) -> str | None:  # noqa: N803 (the lesson's knob, by its name)
    expect(isinstance(inverted_curve, ev.Curve),
           "`inverted_curve` should be the Curve that ev.deletion_curve returns, not "
           f"{type(inverted_curve).__name__}")
    curve: ev.Curve = inverted_curve  # type: ignore[assignment]
    kind = text(curve.kind, "inverted_curve.kind")
    expect(kind == "deletion", "your curve is an insertion curve: measure the inverted map's "
                               "*deletion* curve (ev.deletion_curve)")
    followed = index(curve.class_index, "inverted_curve.class_index")
    probabilities = _probabilities(curve)
    wanted = _steps(STEPS)
    classifier, x, second = _lesson(classifier, image, second_image)
    expect(followed == second,
           f"your curve follows class {followed}; follow the second photo's class, "
           f"second_target ({second}, {classifier.categories[second]!r})")
    steps = len(probabilities) - 1
    expect(steps == wanted, f"your curve has {steps} steps, and the lesson's STEPS is {wanted}: "
                            "measure it with steps=STEPS")
    cam_map = ev.cam(classifier, x, second)
    truth = ev.deletion_curve(classifier, x, -cam_map, second, steps=steps)
    if not _same_curve(probabilities, truth.probabilities):
        own = ev.deletion_curve(classifier, x, cam_map, second, steps=steps)
        if _same_curve(probabilities, own.probabilities):
            return "your curve is CAM's own deletion curve: invert the map first (-second_map)"
        return ("your curve is not the deletion curve of the inverted map on the second photo: "
                "use -second_map (the CAM of second_target on x_second), second_target and "
                "steps=STEPS")
    prediction = text(inverted_vs_insertion, "inverted_vs_insertion")
    expect(prediction in ("higher", "lower", "same"),
           f"`inverted_vs_insertion` should be 'higher', 'lower' or 'same', not {prediction!r:.40}")
    if prediction != "same":
        return (f"your curve is right, but not '{prediction}': at step k the inverted "
                "map has removed the least salient pixels, so the picture keeps exactly the most "
                "salient ones on the blurred background, which is insertion's picture at step "
                "STEPS - k. Compare the two AUCs")
    return None


inverted_map = Exercise(
    "The deletion curve of an inverted map",
    ("inverted_vs_insertion", "inverted_curve"),
    _check_inverted,
    "-second_map ranks the pixels the other way round, so deletion removes the *least* important "
    "pixels first. After k steps, which pixels of the photo are left, and on what background? "
    "Which step of CAM's insertion curve shows the same picture?",
    """
    inverted_vs_insertion = "same"  # your prediction, written before you measure
    inverted_curve = ev.deletion_curve(classifier, x_second, -second_map, second_target,
                                       steps=STEPS)
    """,
    context=("classifier", "image", "second_image", "STEPS"),
)


# ----------------------------------------------------------------------------------------------
# 3. A failure of the pointing game: a map that ignores the model scores well


def _hits(value: object, name: str, count: int) -> list[bool]:
    """A list of per-scene hits (bools, or 0/1) of length ``count``."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        value = value.tolist()
    expect(isinstance(value, (list, tuple)),
           f"`{name}` should be a list with one hit (True or False) per scene, not "
           f"{type(value).__name__}")
    expect(len(value) == count,  # type: ignore[arg-type]
           f"`{name}` has {len(value)} items for {count} scenes: one per scene")  # type: ignore[arg-type]
    items = list(value)  # type: ignore[arg-type]
    expect(all(isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer))
                                                     and v in (0, 1)) for v in items),
           f"`{name}` should hold True or False per scene (what ev.pointing_hit returns)")
    return [bool(v) for v in items]


def center_hits_of(scenes: Sequence[ev.Scene], target: str = SECOND,
                   tolerance: float = ev.POINTING_TOLERANCE) -> list[bool]:
    """The centre baseline's hit on ``target``'s box in each scene (scenes of one size)."""
    width, height = scenes[0].image.size
    bump = ev.center_bump(height, width)
    return [ev.pointing_hit(bump, s.boxes[target], tolerance=tolerance) for s in scenes]


def _check_center(center_hits: object, center_hit_rate: object, pointing_failure: object, *,
                  scenes: object) -> str | None:
    expect(isinstance(scenes, (list, tuple)) and bool(scenes)
           and all(isinstance(s, ev.Scene) and SECOND in s.boxes for s in scenes),
           "`scenes` should be the lesson's list of generated scenes (run its cells above)")
    hits = _hits(center_hits, "center_hits", len(scenes))  # type: ignore[arg-type]
    truth = center_hits_of(scenes)  # type: ignore[arg-type]
    if hits != truth:
        others = [k for k in scenes[0].boxes if k != SECOND]  # type: ignore[index]
        if any(hits == center_hits_of(scenes, k) for k in others):  # type: ignore[arg-type]
            return (f"your hits are those on the other object's boxes: score the second photo's, "
                    f"scene.boxes[{SECOND!r}]")
        if hits == center_hits_of(scenes, tolerance=0.0):  # type: ignore[arg-type]
            return ("your hits are those with no tolerance: keep the standard 15 pixels (the "
                    "default of ev.pointing_hit)")
        wrong = sum(a != b for a, b in zip(hits, truth, strict=True))
        return (f"{wrong} of your {len(hits)} hits are not the centre baseline's: one "
                f"ev.center_map of a scene, scored with ev.pointing_hit on scene.boxes[{SECOND!r}]")
    rate = number(center_hit_rate, "center_hit_rate")
    if abs(rate - sum(hits) / len(hits)) > RATE_TOLERANCE:
        return (f"your center_hit_rate, {rate:.4g}, is not the fraction of hits in your "
                f"center_hits ({sum(hits)} of {len(hits)})")
    answer = text(pointing_failure, "pointing_failure")
    expect(answer in ("a", "b", "c"),
           f"`pointing_failure` should be 'a', 'b' or 'c', not {answer!r:.40}")
    if answer != "b":
        return "your hits and rate are right; " + WRONG_STATEMENTS[answer]
    return None


pointing_failure = Exercise(
    "A failure case of the pointing game",
    ("center_hits", "center_hit_rate", "pointing_failure"),
    _check_center,
    "ev.center_map(classifier, scene_batch[:1], second_target) gives the same bump for every "
    f"scene (they share one size); ev.pointing_hit(bump, scene.boxes[{SECOND!r}]) scores one "
    "scene. Then ask what the centre baseline knows about the model (nothing).",
    """
    bump = ev.center_map(classifier, scene_batch[:1], second_target)
    center_hits = [ev.pointing_hit(bump, scene.boxes["second"]) for scene in scenes]
    center_hit_rate = sum(center_hits) / len(center_hits)
    pointing_failure = "b"
    """,
    context=("scenes",),
)

#: The lesson's exercises, in the order the notebook asks them (sections 3, 4 and 5).
EXERCISES: tuple[Exercise, ...] = (randomized_block, inverted_map, pointing_failure)

__all__ = ["EXERCISES", "RESEMBLANCE", "center_hits_of", "first_block_below", "inverted_map",
           "lesson_classes", "pointing_failure", "randomized_block"]
