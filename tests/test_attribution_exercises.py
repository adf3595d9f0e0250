"""Lesson 05's exercises: right answers pass, the typical wrong ones get their own reason, and
hostile answers get "not yet", never a crash.

The checkers read the lesson's own objects (``classifier``, ``image``, ``MY_STEPS``,
``CURVE_STEPS``) from the namespace, so the tests build that namespace the way the lesson's cells
do (:func:`lesson_namespace`: the centre crop, the model frozen and channels-last), with small
knobs so the file stays fast: the bundled model on ``cat_and_coffee``, ``MY_STEPS = 4``,
``CURVE_STEPS = 2`` (and 4 where the two curves must differ: at 2 steps they tie on this photo).
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import types
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest
import torch
from test_evaluation_exercises import YesToEverything, other_photo, small_classifier

from xai_tutorial import Classifier, load_classifier, load_image, saliency_map, saliency_methods
from xai_tutorial import attribution as at
from xai_tutorial import attribution_exercises as ex
from xai_tutorial import evaluation as ev
from xai_tutorial.exercises import Exercise, Outcome, Result

LESSON = Path(__file__).resolve().parents[1] / "notebooks" / "05_attribution_methods.md"
PHOTO = "cat_and_coffee"
MY_STEPS, CURVE_STEPS = 4, 2


def lesson_namespace(classifier: Classifier, photo: object, *, my_steps: int = MY_STEPS,
                     curve_steps: int = CURVE_STEPS) -> dict:
    """What the lesson's cells define before its exercises, the way they define it."""
    model = classifier.model.requires_grad_(False).to(memory_format=torch.channels_last)
    image = load_image(photo)
    x = classifier.preprocess(image)
    target = ev.top_class(classifier, x)
    return {
        "torch": torch, "at": at, "ev": ev, "ex": ex, "classifier": classifier, "model": model,
        "image": image, "x": x, "target": target,
        "baseline": at.baseline_input(classifier, x, "black"),
        "maps": {"gradient_x_input": saliency_map(classifier, x, target, "gradient_x_input")},
        "MY_STEPS": my_steps, "CURVE_STEPS": curve_steps,
    }


def solved(namespace: dict, *exercises: Exercise) -> dict:
    """``namespace`` after running the exercises' printed solutions in it (all by default)."""
    namespace = dict(namespace)
    for exercise in exercises or ex.EXERCISES:
        exec(inspect.cleandoc(exercise.solution_text), namespace)
    return namespace


def check(exercise: Exercise, namespace: dict, **answers: object) -> Result:
    return exercise.evaluate({**namespace, **answers})


def not_yet(result: Result, reason: str) -> None:
    assert result.outcome is Outcome.NOT_YET and reason in result.line, result.line
    assert "raised" not in result.line, result.line  # a reason, not a checker that broke


@pytest.fixture(scope="module")
def lesson() -> dict:
    """The lesson's namespace with the bundled model, every printed solution run in it."""
    return solved(lesson_namespace(load_classifier("efficientnet_lite0"), PHOTO))


@pytest.fixture(scope="module")
def four(lesson: dict) -> dict:
    """The same with CURVE_STEPS = 4, where the signed and absolute curves differ."""
    return solved({**lesson, "CURVE_STEPS": 4}, ex.signed_or_absolute)


def answers_of(exercise: Exercise, namespace: dict) -> dict:
    return {name: namespace[name] for name in exercise.variables}


def unsolved(namespace: dict, exercise: Exercise) -> dict:
    """``namespace`` without the exercise's answers."""
    return {k: v for k, v in namespace.items() if k not in exercise.variables}


# ----------------------------------------------------------------------------------------------
# The exercises as a set (no model needed)


def test_exercises_are_listed_in_notebook_order_and_the_cells_are_the_printed_solutions():
    assert ex.EXERCISES == (ex.left_riemann, ex.signed_or_absolute, ex.method_families)
    text = LESSON.read_text()
    positions = [text.index(f"ex.{key}.check()")
                 for key in ("left_riemann", "signed_or_absolute", "method_families")]
    assert positions == sorted(positions)
    regions = [part.split("### END SOLUTION")[0] for part in text.split("### BEGIN SOLUTION")[1:]]
    assert [inspect.cleandoc(r) for r in regions] == [
        inspect.cleandoc(e.solution_text) for e in ex.EXERCISES]
    assert [e.context for e in ex.EXERCISES] == [
        ("classifier", "image", "MY_STEPS"), ("classifier", "image", "CURVE_STEPS"), ()]


def test_the_methods_are_the_registered_ones_each_with_a_family_and_a_reason():
    assert set(ex.METHODS) == set(saliency_methods())
    assert len(ex.METHODS) == len(set(ex.METHODS)) == 14
    assert {family for family, _ in ex.TRUTH.values()} == set(ex.FAMILIES)
    assert all(reason for _, reason in ex.TRUTH.values())


def test_not_attempted_when_nothing_is_defined():
    for exercise in ex.EXERCISES:
        result = exercise.evaluate({})
        assert result.outcome is Outcome.NOT_ATTEMPTED, result.line


# ----------------------------------------------------------------------------------------------
# 3. A map of the methods


def right_families() -> dict[str, str]:
    return solved({}, ex.method_families)["families"]


def test_method_families_right_in_any_mapping():
    families = right_families()
    assert families == {m: f for m, (f, _) in ex.TRUTH.items()}
    for mapping in (families, collections.OrderedDict(reversed(families.items())),
                    types.MappingProxyType(families),
                    {YesToEverything(m): YesToEverything(f) for m, f in families.items()}):
        assert check(ex.method_families, {}, families=mapping), type(mapping)


@pytest.mark.parametrize("method", ex.METHODS)
def test_one_wrong_family_gets_its_reason(method: str):
    truth, reason = ex.TRUTH[method]
    for family in ex.FAMILIES:
        if family == truth:
            continue
        result = check(ex.method_families, {}, families={**right_families(), method: family})
        not_yet(result, f"1 of 14 wrong. {method} is not '{family}': {reason}")


def test_many_wrong_families_are_all_named_and_the_first_one_explained():
    result = check(ex.method_families, {}, families={m: "gradient" for m in ex.METHODS})
    not_yet(result, "10 of 14 wrong (cam, grad_cam, integrated_gradients, occlusion, rise, lime, "
                    f"kernel_shap, edge, random, center). cam is not 'gradient': "
                    f"{ex.TRUTH['cam'][1]}")
    assert not result.line.endswith("…")  # nothing cut off
    swapped = {**right_families(), "cam": "control", "edge": "cam"}
    not_yet(check(ex.method_families, {}, families=swapped),
            f"2 of 14 wrong (cam, edge). cam is not 'control': {ex.TRUTH['cam'][1]}")


def test_missing_unknown_and_misspelled_entries():
    families = right_families()
    short = {m: f for m, f in families.items() if m not in ("lime", "kernel_shap")}
    not_yet(check(ex.method_families, {}, families=short), "no entry for lime, kernel_shap")
    not_yet(check(ex.method_families, {}, families={**families, "deeplift": "path"}),
            "'deeplift' is not one of ex.METHODS")
    not_yet(check(ex.method_families, {}, families={**families, "rise": "model-agnostic"}),
            "families['rise'] is 'model-agnostic': choose one of cam, gradient, path, "
            "perturbation, control")
    not_yet(check(ex.method_families, {}, families={**families, "lime": "Perturbation"}),
            "choose one of")
    not_yet(check(ex.method_families, {}, families={**families, 3: "cam"}),
            "`a key of families` should be a str, not int")
    not_yet(check(ex.method_families, {}, families={**families, "edge": None}),
            "`families['edge']` should be a str, not NoneType")


def test_families_that_are_not_a_dict_or_lie():
    families = right_families()
    for value, kind in ((list(families.items()), "list"), (None, "NoneType"),
                        ("cam", "str"), (set(families), "set")):
        not_yet(check(ex.method_families, {}, families=value),
                f"should be a dict of method name -> family, not {kind}")
    # a str that equals everything is read as what it spells
    lying = {**families, "occlusion": YesToEverything("gradient")}
    not_yet(check(ex.method_families, {}, families=lying), "occlusion is not 'gradient'")
    not_yet(check(ex.method_families, {}, families={**families, YesToEverything("x"): "cam"}),
            "'x' is not one of ex.METHODS")

    class Broken(Mapping):
        def __getitem__(self, key: object) -> str:
            return "cam"

        def __iter__(self) -> Iterator[str]:
            raise RuntimeError("no")

        def __len__(self) -> int:
            return 14

    result = check(ex.method_families, {}, families=Broken())
    assert result.outcome is Outcome.NOT_YET and "RuntimeError" in result.line


# ----------------------------------------------------------------------------------------------
# The lesson's objects, on the bundled model


@pytest.mark.slow
class TestOnTheBundledModel:
    def test_printed_solutions_pass(self, lesson: dict, four: dict):
        assert (lesson["target"], tuple(lesson["x"].shape)) == (285, (1, 3, 224, 224))
        for namespace in (lesson, four):
            for exercise in ex.EXERCISES:
                result = exercise.evaluate(namespace)
                assert result, result.line

    def test_lesson_input_is_the_centre_crop_and_its_top_class(self, lesson: dict):
        x, target = ex.lesson_input(lesson["classifier"], lesson["image"])
        assert torch.equal(x, lesson["x"]) and target == lesson["target"]

    def test_the_lessons_objects_missing_or_of_the_wrong_kind(self, lesson: dict):
        for exercise in ex.EXERCISES[:2]:
            answers = answers_of(exercise, lesson)
            without = {k: v for k, v in lesson.items() if k not in exercise.context}
            result = check(exercise, without, **answers)
            assert result.outcome is Outcome.NOT_ATTEMPTED and "not checked yet" in result.line
            knob = exercise.context[-1]
            for value in ("4", None, 4.0, True):
                not_yet(check(exercise, {**lesson, knob: value}, **answers),
                        f"the lesson's `{knob}` should be a whole number")
            not_yet(check(exercise, {**lesson, "classifier": "efficientnet_lite0"}, **answers),
                    "`classifier` is not a Classifier (it is a str)")
            not_yet(check(exercise, {**lesson, "image": None}, **answers),
                    "`image` is not a photo")
        answers = answers_of(ex.left_riemann, lesson)
        not_yet(check(ex.left_riemann, {**lesson, "MY_STEPS": 1}, **answers),
                "`MY_STEPS` is 1: set it in the parameters cell to a number from 2 to 20000")
        answers = answers_of(ex.signed_or_absolute, lesson)
        not_yet(check(ex.signed_or_absolute, {**lesson, "CURVE_STEPS": 5000}, **answers),
                "`CURVE_STEPS` is 5000: set it in the parameters cell to a number from 1 to 1000")
        # a photo's name is a photo too (load_image reads it)
        assert check(ex.left_riemann, {**lesson, "image": PHOTO},
                     **answers_of(ex.left_riemann, lesson))

    # -- 1. The left Riemann sum ---------------------------------------------------------------

    def test_left_riemann_typical_mistakes(self, lesson: dict):
        classifier, x, target = lesson["classifier"], lesson["x"], lesson["target"]
        right, gap = lesson["left_ig"], lesson["left_gap"]

        def left(**answers: object) -> Result:
            return check(ex.left_riemann, lesson, **{"left_ig": right, "left_gap": gap,
                                                     **answers})

        gaps = {}
        for rule, reason in (("riemann_middle", "your map is the midpoint sum"),
                             ("riemann_right", "your map is the right sum")):
            other = at.integrated_gradients(classifier, x, target, steps=MY_STEPS, rule=rule)
            gaps[rule] = at.completeness(classifier, x, target, other).gap
            not_yet(left(left_ig=other, left_gap=gaps[rule]), reason)
        colour = ((x - lesson["baseline"]) * lesson["left_total"] / MY_STEPS)[0]  # no .sum(0)
        not_yet(left(left_ig=colour), "`left_ig` has a colour axis (3, 224, 224)")
        not_yet(left(left_ig=colour[None]), "`left_ig` is a batch (1, 3, 224, 224)")
        not_yet(left(left_gap=100 * gap), "`left_gap` is in percent")
        not_yet(left(left_gap=gap + 0.05), "your left_gap")
        # the midpoint sum's gap (the text's) with the left sum's map
        not_yet(left(left_gap=gaps["riemann_middle"]), "is not its completeness gap")
        # the same map for another number of steps than the lesson's
        not_yet(check(ex.left_riemann, {**lesson, "MY_STEPS": MY_STEPS + 1}, left_ig=right,
                      left_gap=gap), f"not the left Riemann sum of IG with {MY_STEPS + 1} steps")
        # the gap alone, copied from the text, is not enough
        alone = check(ex.left_riemann, unsolved(lesson, ex.left_riemann), left_gap=gap)
        assert alone.outcome is Outcome.NOT_YET and "`left_ig` too" in alone.line

    def test_left_riemann_answers_of_other_types(self, lesson: dict):
        right, gap = lesson["left_ig"], lesson["left_gap"]
        for typed in (right.numpy(), right.double(), right.clone().requires_grad_(True)):
            assert check(ex.left_riemann, lesson, left_ig=typed, left_gap=gap), type(typed)
        for typed in (np.float32(gap), torch.tensor(gap), torch.tensor([gap])):
            assert check(ex.left_riemann, lesson, left_ig=right, left_gap=typed), typed

    def test_left_riemann_hostile_answers(self, lesson: dict):
        right, gap = lesson["left_ig"], lesson["left_gap"]
        size = tuple(right.shape)
        cases = {
            "a tensor of real numbers (the map), not str": "left_ig",
            "not a Tensor of torch.complex64": right.to(torch.complex64),
            "not a ndarray of object": np.full(size, "a", dtype=object),
            "not a Tensor of torch.float32": torch.empty(size, device="meta"),
            "should have the input's size (224, 224), not (224, 225)": torch.zeros(224, 225),
            "should have the input's size (224, 224), not ()": torch.tensor(1.0),
            "`left_ig` holds NaN or infinite values": torch.full(size, float("nan")),
            "not the left Riemann sum": (right > 0),  # bool
        }
        for reason, value in cases.items():
            not_yet(check(ex.left_riemann, lesson, left_ig=value, left_gap=gap), reason)
        not_yet(check(ex.left_riemann, lesson, left_ig=right.long(), left_gap=gap),
                "not the left Riemann sum")
        for value, reason in ((float("nan"), "finite number"), ("0.1", "should be a number"),
                              (True, "should be a number"), (YesToEverything("x"), "number"),
                              (torch.tensor([gap, gap]), "should be a number")):
            not_yet(check(ex.left_riemann, lesson, left_ig=right, left_gap=value), reason)

    def test_a_right_map_survives_another_memory_layout(self, lesson: dict):
        """The grader's model may not be channels-last: float rounding is not a wrong answer."""
        fresh = load_classifier("efficientnet_lite0")  # contiguous, weights not frozen
        answers = answers_of(ex.left_riemann, lesson)
        assert check(ex.left_riemann, {**lesson, "classifier": fresh}, **answers)

    # -- 2. Signed or absolute -----------------------------------------------------------------

    def test_at_two_steps_the_curves_tie_and_either_prediction_is_right(self, lesson: dict):
        signed, absolute = lesson["signed_curve"], lesson["absolute_curve"]
        assert np.allclose(signed.probabilities, absolute.probabilities, atol=ex.CURVE_TOLERANCE)
        assert abs(signed.auc - absolute.auc) <= ex.CURVE_TOLERANCE
        for faster in ("signed", "absolute"):
            for pair in ((signed, absolute), (absolute, signed)):
                assert check(ex.signed_or_absolute, lesson, faster=faster, signed_curve=pair[0],
                             absolute_curve=pair[1])

    def test_signed_or_absolute_typical_mistakes(self, four: dict):
        classifier, x, target = four["classifier"], four["x"], four["target"]
        signed, absolute = four["signed_curve"], four["absolute_curve"]
        assert signed.auc < absolute.auc - 0.01  # the signed map deletes the class faster

        def sign(**answers: object) -> Result:
            return check(ex.signed_or_absolute, four, **{
                "faster": "signed", "signed_curve": signed, "absolute_curve": absolute,
                **answers})

        values = four["maps"]["gradient_x_input"].values
        not_yet(sign(signed_curve=absolute, absolute_curve=signed), "your two curves are swapped")
        not_yet(sign(faster="absolute"), "your curves are right, but the signed map deletes the "
                                         "class faster")
        not_yet(sign(faster=YesToEverything("absolute")), "but the signed map")
        not_yet(sign(faster=YesToEverything("q")), "'signed' or 'absolute', not 'q'")
        not_yet(sign(faster="Signed"), "'signed' or 'absolute', not 'Signed'")
        not_yet(sign(faster=True), "`faster` should be a str")
        three = {name: ev.deletion_curve(classifier, x, m, target, steps=3)
                 for name, m in (("signed_curve", values), ("absolute_curve", values.abs()))}
        not_yet(sign(**three), "your curves should have CURVE_STEPS = 4 steps")
        not_yet(sign(signed_curve=ev.insertion_curve(classifier, x, values, target, steps=4)),
                "`signed_curve` is an insertion curve")
        not_yet(sign(absolute_curve=ev.insertion_curve(classifier, x, values.abs(), target,
                                                       steps=4)),
                "`absolute_curve` is an insertion curve")
        other_class = ev.deletion_curve(classifier, x, values, 967, steps=4)
        not_yet(sign(signed_curve=other_class), "should follow the lesson's class, target (285)")
        gradient = at.gradient(classifier, x, target)
        not_yet(sign(signed_curve=ev.deletion_curve(classifier, x, gradient, target, steps=4)),
                "your signed_curve is not the deletion curve of gradient x input (as it is)")
        not_yet(sign(absolute_curve=ev.deletion_curve(classifier, x, -values, target, steps=4)),
                "your absolute_curve is not the deletion curve of gradient x input (its "
                "absolute value, .abs())")
        not_yet(sign(signed_curve=signed.auc), "`signed_curve` should be the Curve that "
                                               "ev.deletion_curve returns, not float")
        alone = check(ex.signed_or_absolute, unsolved(four, ex.signed_or_absolute),
                      faster="signed")
        assert alone.outcome is Outcome.NOT_YET and "too" in alone.line

    def test_signed_or_absolute_hostile_curves(self, four: dict):
        signed, absolute = four["signed_curve"], four["absolute_curve"]
        forged = {
            "one finite probability per step": [
                dataclasses.replace(signed, probabilities=np.full(5, np.nan)),
                dataclasses.replace(signed, probabilities="abc"),
                dataclasses.replace(signed, probabilities=np.zeros((5, 2))),
                dataclasses.replace(signed, probabilities=signed.probabilities.astype(complex)),
                dataclasses.replace(signed, probabilities=[object()] * 5),
            ],
            "`signed_curve.kind` should be a str": [dataclasses.replace(signed, kind=5)],
            "is an insertion curve": [
                dataclasses.replace(signed, kind=YesToEverything("insertion"))],
            "should be a whole number": [dataclasses.replace(signed, class_index=285.0),
                                         dataclasses.replace(signed, class_index="285")],
            "not the deletion curve": [
                dataclasses.replace(signed, probabilities=signed.probabilities + 0.01)],
        }
        for reason, curves in forged.items():
            for curve in curves:
                not_yet(check(ex.signed_or_absolute, four, faster="signed", signed_curve=curve,
                              absolute_curve=absolute), reason)
        # the class as a 0-d tensor, as .argmax() gives it, is the class
        typed = dataclasses.replace(signed, class_index=torch.tensor(285))
        assert check(ex.signed_or_absolute, four, faster="signed", signed_curve=typed,
                     absolute_curve=absolute)


# ----------------------------------------------------------------------------------------------
# Another model and photo: the checkers recompute, so right answers follow the model


def test_printed_solutions_pass_with_another_model_and_photo_and_not_across():
    small = solved(lesson_namespace(small_classifier(), other_photo(), curve_steps=4))
    for exercise in ex.EXERCISES:
        assert exercise.evaluate(small), exercise.evaluate(small).line
    # the same answers against another photo's crop are not that photo's
    shifted = {**small, "image": other_photo().transpose(0)}
    not_yet(check(ex.left_riemann, shifted, **answers_of(ex.left_riemann, small)),
            "not the left Riemann sum")
    result = check(ex.signed_or_absolute, shifted, **answers_of(ex.signed_or_absolute, small))
    assert result.outcome is Outcome.NOT_YET, result.line


def test_a_tensor_subclass_cannot_do_its_own_sums():
    """A hostile review: a map whose ``__torch_function__`` makes ``norm`` and ``sum`` return 0
    passed as a zero map's check. The checker works on a plain copy."""
    class Zero(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            result = super().__torch_function__(func, types, args, kwargs or {})
            if getattr(func, "__name__", "") in ("norm", "sum"):
                return torch.tensor(0.0)
            return result

    result = ex.left_riemann.evaluate({
        "left_ig": torch.zeros(224, 224).as_subclass(Zero), "left_gap": 1.0,
        "classifier": load_classifier("efficientnet_lite0"),
        "image": load_image("cat_and_coffee"), "MY_STEPS": 2})
    assert not result and "not the left Riemann sum" in result.line
