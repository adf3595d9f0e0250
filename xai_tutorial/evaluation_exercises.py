"""Self-checking exercises for lesson 04 (judging saliency maps).

In the notebook::

    from xai_tutorial import evaluation_exercises as ex
    ex.inverted_map.check()

The checkers recompute the answers with :mod:`xai_tutorial.evaluation` on the bundled model, the
same photo and the same settings as the lesson (:data:`PHOTO`, :data:`STEPS`, :data:`SCENES`),
so the package stays the judge (results are cached, so checking again is instant). The cascade
exercise reads the lesson's own ``cascade`` (a randomization check costs a forward pass per
block) and checks the learner's reading of it.
"""

from __future__ import annotations

import math
from functools import cache
from numbers import Real

from . import evaluation as ev
from .classification import Classifier, load_classifier
from .exercises import Exercise, expect

#: The lesson's settings, which the exercises use too.
PHOTO = "coffee"
ESPRESSO = 967
STEPS = 8
RESEMBLANCE = 0.5
SCENES = 50


@cache
def _classifier() -> Classifier:
    return load_classifier("efficientnet_lite0")


@cache
def _inverted_deletion_auc() -> tuple[float, float]:
    classifier = _classifier()
    x = ev.model_input(classifier, PHOTO)
    cam_map = ev.cam(classifier, x, ESPRESSO)
    return (ev.deletion_auc(classifier, x, cam_map, ESPRESSO, steps=STEPS),
            ev.deletion_auc(classifier, x, -cam_map, ESPRESSO, steps=STEPS))


def first_block_below(steps: list[ev.RandomizationStep] | tuple[ev.RandomizationStep, ...],
                      threshold: float = RESEMBLANCE) -> str | None:
    """The first block of a cascade after which rho is below ``threshold`` (or undefined)."""
    for step in steps:
        if step.rho is None or step.rho < threshold:
            return step.block
    return None


def _number(value: object, name: str) -> float:
    expect(isinstance(value, Real) and not isinstance(value, bool),
           f"`{name}` should be a number (a float), not {type(value).__name__}")
    expect(math.isfinite(float(value)), f"`{name}` should be a finite number")  # type: ignore[arg-type]
    return float(value)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# 1. Predict, then measure: the deletion AUC of an inverted map


def _check_inverted(inverted_prediction: object, inverted_deletion_auc: object) -> str | None:
    expect(inverted_prediction in ("higher", "lower", "same"),
           "`inverted_prediction` should be 'higher', 'lower' or 'same'")
    value = _number(inverted_deletion_auc, "inverted_deletion_auc")
    cam_auc, inverted_auc = _inverted_deletion_auc()
    if abs(value - inverted_auc) > 1e-3:
        if abs(value - cam_auc) <= 1e-3:
            return "that is CAM's own deletion AUC: invert the map first (-cup_map)"
        return (f"{value:.3f} is not the deletion AUC of the inverted map on {PHOTO!r} "
                f"(steps={STEPS}); use ev.deletion_auc with -cup_map, the espresso CAM of "
                f"{PHOTO!r} (not the cat's cam_map)")
    truth = "higher" if inverted_auc > cam_auc else "lower"
    if inverted_prediction != truth:
        return (f"your number is right, but the inverted map's AUC is {truth} than CAM's "
                f"({inverted_auc:.3f} vs {cam_auc:.3f}): look again at what deletion rewards")
    return None


inverted_map = Exercise(
    "Deletion AUC of an inverted map",
    ("inverted_prediction", "inverted_deletion_auc"),
    _check_inverted,
    "The inverted map -cup_map (the espresso CAM of the coffee photo, not the cat's cam_map) "
    "removes the *least* important pixels first, so the probability stays up longer. Does a "
    "slow fall make the area larger or smaller?",
    f"""
    inverted_prediction = "higher"
    inverted_deletion_auc = ev.deletion_auc(classifier, {PHOTO!r}, -cup_map, ESPRESSO,
                                            steps={STEPS})
    """,
)


# ----------------------------------------------------------------------------------------------
# 2. The block after which the randomized map stops resembling the original


def _check_block(first_dissimilar_block: object, cascade: object) -> str | None:
    expect(isinstance(first_dissimilar_block, str),
           "`first_dissimilar_block` should be a block name, such as '_blocks.15'")
    expect(isinstance(cascade, (list, tuple)) and bool(cascade)
           and all(isinstance(s, ev.RandomizationStep) for s in cascade),
           "`cascade` should be the list ev.randomization_check returned")
    blocks = [step.block for step in cascade]  # type: ignore[union-attr]
    expect(first_dissimilar_block in blocks,
           f"{first_dissimilar_block!r} is not a block of the cascade ({blocks[0]}, "
           f"{blocks[1] if len(blocks) > 1 else ''}, ...)")
    answer = first_block_below(cascade)  # type: ignore[arg-type]
    if first_dissimilar_block != answer:
        rhos = {step.block: step.rho for step in cascade}  # type: ignore[union-attr]
        rho = rhos[first_dissimilar_block]
        if rho is not None and rho >= RESEMBLANCE:
            return (f"after {first_dissimilar_block!r} rho is {rho:.2f}, not below "
                    f"{RESEMBLANCE}: the map still resembles the original there")
        return (f"rho is below {RESEMBLANCE} after {first_dissimilar_block!r}, but it already "
                "was after an earlier block: walk the cascade from the top (_fc first) and stop "
                "at the FIRST step whose rho is below it (or undefined)")
    return None


randomized_block = Exercise(
    "Where the randomized map stops resembling the original",
    ("first_dissimilar_block", "cascade"),
    _check_block,
    f"Loop over `cascade` (a list of (block, rho)) from the top and stop at the first rho "
    f"below {RESEMBLANCE}; a rho of None (constant map) counts as no resemblance.",
    f"""
    first_dissimilar_block = next(block for block, rho in cascade
                                  if rho is None or rho < {RESEMBLANCE})
    """,
)


# ----------------------------------------------------------------------------------------------
# 3. A failure of the pointing game: a map that ignores the model scores well


@cache
def _center_hit_rate(target: str, tolerance: float = ev.POINTING_TOLERANCE) -> float:
    scenes = ev.pointing_scenes(SCENES)
    bump = ev.center_bump(224, 224)
    return ev.pointing_game([bump] * len(scenes), [s.boxes[target] for s in scenes],
                            tolerance=tolerance)


def _check_center(center_hit_rate: object, pointing_failure: object) -> str | None:
    value = _number(center_hit_rate, "center_hit_rate")
    expected = _center_hit_rate("cup")
    if abs(value - expected) > 1e-9:
        if abs(value - _center_hit_rate("cat")) <= 1e-9:
            return (f"{value:.2f} is the centre baseline's rate for the cat: use the cup's boxes, "
                    "scene.boxes['cup']")
        if abs(value - _center_hit_rate("cup", 0.0)) <= 1e-9:
            return (f"{value:.2f} is the rate with no tolerance: keep the standard 15 pixels "
                    "(the default of ev.pointing_game)")
        return (f"{value:.2f} is not the centre baseline's hit rate for the cup on the lesson's "
                f"{SCENES} scenes: give ev.pointing_game one ev.center_map per scene, the cup's "
                "boxes and size=(224, 224)")
    expect(pointing_failure in ("a", "b", "c"), "`pointing_failure` should be 'a', 'b' or 'c'")
    if pointing_failure != "b":
        return "your rate is right; now pick the statement that explains it (re-read b)"
    return None


pointing_failure = Exercise(
    "A failure case of the pointing game",
    ("center_hit_rate", "pointing_failure"),
    _check_center,
    "ev.center_map(classifier, x, ESPRESSO) gives the same bump for every scene; the boxes are "
    "scene.boxes['cup']. Then ask what the centre baseline knows about the model (nothing).",
    """
    bump = ev.center_map(classifier, scene_batch[:1], ESPRESSO)
    center_hit_rate = ev.pointing_game([bump] * len(scenes),
                                       [scene.boxes["cup"] for scene in scenes], size=(224, 224))
    pointing_failure = "b"
    """,
)

#: The lesson's exercises, in the order the notebook asks them (sections 3, 4 and 5).
EXERCISES: tuple[Exercise, ...] = (randomized_block, inverted_map, pointing_failure)

__all__ = ["EXERCISES", "inverted_map", "pointing_failure", "randomized_block",
           "first_block_below"]
