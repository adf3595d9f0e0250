"""Lesson 04's exercises: right answers pass, wrong ones fail with a reason, missing ones wait."""

from __future__ import annotations

import pytest

from xai_tutorial import evaluation as ev
from xai_tutorial import evaluation_exercises as ex
from xai_tutorial.exercises import Exercise, Outcome


def outcome(exercise, **answers):
    return exercise.evaluate(answers)


def test_not_attempted_when_the_variables_are_missing():
    for exercise in ex.EXERCISES:
        assert outcome(exercise).outcome is Outcome.NOT_ATTEMPTED


def test_exercises_are_listed_in_notebook_order():
    from pathlib import Path

    assert ex.EXERCISES == (ex.randomized_block, ex.inverted_map, ex.pointing_failure)
    lesson = (Path(__file__).resolve().parents[1] / "notebooks" /
              "04_judging_explanations.md").read_text()
    names = ("randomized_block", "inverted_map", "pointing_failure")
    positions = [lesson.index(f"ex.{name}.check()") for name in names]
    assert positions == sorted(positions)
    assert all(isinstance(e, Exercise) for e in ex.EXERCISES)


def test_first_block_below():
    steps = [ev.RandomizationStep("a", 0.9), ev.RandomizationStep("b", 0.6),
             ev.RandomizationStep("c", 0.4), ev.RandomizationStep("d", None)]
    assert ex.first_block_below(steps) == "c"
    assert ex.first_block_below(steps, threshold=0.95) == "a"
    assert ex.first_block_below(steps[:2] + steps[3:]) == "d"  # constant = no resemblance
    assert ex.first_block_below(steps[:2]) is None


def test_pointing_failure_right_and_wrong():
    scenes = ev.pointing_scenes(ex.SCENES)
    bump = ev.center_bump(224, 224)
    rate = ev.pointing_game([bump] * len(scenes), [s.boxes["cup"] for s in scenes])
    assert outcome(ex.pointing_failure, center_hit_rate=rate, pointing_failure="b")
    wrong_letter = outcome(ex.pointing_failure, center_hit_rate=rate, pointing_failure="c")
    assert wrong_letter.outcome is Outcome.NOT_YET and "statement" in wrong_letter.line
    cat_rate = ev.pointing_game([bump] * len(scenes), [s.boxes["cat"] for s in scenes])
    assert cat_rate != rate  # the cat's rate is a different number, and is refused
    assert not outcome(ex.pointing_failure, center_hit_rate=cat_rate, pointing_failure="b")
    cat_answer = outcome(ex.pointing_failure, center_hit_rate=cat_rate, pointing_failure="b")
    assert cat_answer.outcome is Outcome.NOT_YET and "boxes['cup']" in cat_answer.line
    strict = ev.pointing_game([bump] * len(scenes), [s.boxes["cup"] for s in scenes], tolerance=0)
    assert strict not in (rate, cat_rate)  # the scenes make the three mistakes distinguishable
    no_tolerance = outcome(ex.pointing_failure, center_hit_rate=strict, pointing_failure="b")
    assert no_tolerance.outcome is Outcome.NOT_YET and "tolerance" in no_tolerance.line
    assert not outcome(ex.pointing_failure, center_hit_rate=0.123, pointing_failure="b")
    assert not outcome(ex.pointing_failure, center_hit_rate="0.5", pointing_failure="b")
    assert not outcome(ex.pointing_failure, center_hit_rate=float("nan"), pointing_failure="b")


@pytest.mark.slow
def test_inverted_map_right_and_wrong():
    cam_auc, inverted_auc = ex._inverted_deletion_auc()
    assert inverted_auc > cam_auc  # what the lesson's prediction is about
    classifier = ex._classifier()
    x = ev.model_input(classifier, ex.PHOTO)
    learner = ev.deletion_auc(classifier, x, -ev.cam(classifier, x, ex.ESPRESSO), ex.ESPRESSO,
                              steps=ex.STEPS)
    assert outcome(ex.inverted_map, inverted_prediction="higher", inverted_deletion_auc=learner)
    own = outcome(ex.inverted_map, inverted_prediction="higher", inverted_deletion_auc=cam_auc)
    assert own.outcome is Outcome.NOT_YET and "invert the map" in own.line
    guess = outcome(ex.inverted_map, inverted_prediction="lower", inverted_deletion_auc=learner)
    assert guess.outcome is Outcome.NOT_YET and "higher" in guess.line
    assert not outcome(ex.inverted_map, inverted_prediction="up", inverted_deletion_auc=learner)
    assert not outcome(ex.inverted_map, inverted_prediction="higher", inverted_deletion_auc=0.99)


def test_randomized_block_right_and_wrong():
    cascade = [ev.RandomizationStep("_fc", 0.77), ev.RandomizationStep("_conv_head", 0.6),
               ev.RandomizationStep("_blocks.15", 0.3), ev.RandomizationStep("_blocks.14", None)]
    assert outcome(ex.randomized_block, first_dissimilar_block="_blocks.15", cascade=cascade)
    for wrong in ("_fc", "_conv_head"):  # rho still at or above 0.5 after these
        result = outcome(ex.randomized_block, first_dissimilar_block=wrong, cascade=cascade)
        assert result.outcome is Outcome.NOT_YET and "not below 0.5" in result.line
    late = outcome(ex.randomized_block, first_dissimilar_block="_blocks.14", cascade=cascade)
    assert late.outcome is Outcome.NOT_YET and "FIRST" in late.line  # below, but not the first
    assert not outcome(ex.randomized_block, first_dissimilar_block="_blocks.99", cascade=cascade)
    assert not outcome(ex.randomized_block, first_dissimilar_block=3, cascade=cascade)
    assert not outcome(ex.randomized_block, first_dissimilar_block="_fc", cascade=[("_fc", 0.1)])
    constant = [ev.RandomizationStep("_fc", 0.9), ev.RandomizationStep("_conv_head", None)]
    assert outcome(ex.randomized_block, first_dissimilar_block="_conv_head", cascade=constant)


@pytest.mark.slow
def test_randomized_block_on_the_lessons_cascade(bundled):
    cascade = ev.randomization_check(bundled, "chelsea", 285, blocks=["_fc", "_conv_head"])
    answer = ex.first_block_below(cascade)
    assert answer is not None
    assert outcome(ex.randomized_block, first_dissimilar_block=answer, cascade=cascade)


def test_the_printed_solution_passes_its_own_check_in_the_lessons_namespace(capsys):
    """The solution text, run where lesson 04 runs it: ``cam_map`` is the cat's map (chelsea),
    ``cup_map`` the espresso map of the coffee photo. (It once used ``-cam_map``: 0.498, 'not
    yet'.)"""
    import inspect

    from xai_tutorial import evaluation as ev
    from xai_tutorial import load_classifier

    classifier = load_classifier("efficientnet_lite0", quiet=True)
    namespace = {
        "ev": ev, "classifier": classifier, "ESPRESSO": 967,
        "cam_map": ev.cam(classifier, "chelsea", 285),  # the decoy the old solution used
        "cup_map": ev.cam(classifier, "coffee", 967),
    }
    exec(inspect.cleandoc(ex.inverted_map.solution_text), namespace)
    assert ex.inverted_map.check(namespace), capsys.readouterr().out
    wrong = -namespace["cam_map"]  # what the old solution did
    namespace["inverted_deletion_auc"] = ev.deletion_auc(classifier, "coffee", wrong, 967, steps=8)
    result = ex.inverted_map.check(namespace)
    assert not result and "-cup_map" in result.line and "-cam_map" not in result.line
