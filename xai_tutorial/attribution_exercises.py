"""Self-checking exercises for lesson 05 (attribution beyond CAM).

In the notebook::

    from xai_tutorial import attribution_exercises as ex
    ex.left_riemann.check()

Every checker recomputes its truth from the lesson's own objects, passed by name from the
notebook's namespace (:attr:`~xai_tutorial.exercises.Exercise.context`): the ``classifier``, the
photo ``image`` and the knobs ``MY_STEPS`` and ``CURVE_STEPS``. The lesson explains the photo's
centre crop (``classifier.preprocess(image)``) for the model's most probable class on it
(:func:`lesson_input`), so a right answer is right for whatever model and photo the parameters
cell names, and a grader can pass an instructor's objects instead.

Answers that are numbers come with the object they were computed from (a map, a curve), so a
number copied from the text, or guessed, is not enough.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from . import attribution as at
from . import evaluation as ev
from .classification import Classifier
from .core.errors import TutorialError
from .exercises import Exercise, expect, index, number, photos, text

#: The largest distance from the package's map, ``||mine - truth|| / ||truth||`` (Frobenius),
#: that a right map may have: float rounding, and the odd ReLU or max-pool tie that rounding
#: flips (a random ResNet-18 in the channels-last layout against the default one: up to 0.1%).
#: The rules' maps are further apart: on the bundled model and photo the left one is 5% from the
#: right one and 22% from the midpoint one at 16 steps, 1.4% and 6% at 64 (so a right-rule map
#: would pass only past some 250 steps).
MAP_TOLERANCE = 5e-3
#: How far a right completeness gap may be from the gap of the learner's own map (the gap is
#: itself a fraction of |f(x) - f(b)|).
GAP_TOLERANCE = 1e-3
#: How far a right curve's probabilities may be from the truth (float rounding: about 1e-6).
CURVE_TOLERANCE = 1e-4


def lesson_input(classifier: Classifier, image: object) -> tuple[torch.Tensor, int]:
    """``(x, target)``: the photo's centre crop as the model takes it, and the model's most
    probable class on it (as the lesson picks them)."""
    x = classifier.preprocess(image)  # type: ignore[arg-type]
    return x, ev.top_class(classifier, x)


def _lesson(classifier: object, image: object) -> tuple[Classifier, torch.Tensor, int]:
    expect(isinstance(classifier, Classifier),
           f"`classifier` is not a Classifier (it is a {type(classifier).__name__}): re-run the "
           "lesson's setup cells (classifier = load_classifier(MODEL)), then check again")
    (picture,) = photos(image=image)
    try:
        x, target = lesson_input(classifier, picture)  # type: ignore[arg-type]
    except TutorialError as error:
        raise AssertionError(f"`image` is not a photo the lesson can read ({error}): re-run "
                             "the lesson's setup cells, then check again") from None
    return classifier, x, target  # type: ignore[return-value]


def _knob(value: object, name: str, low: int = 1, high: int = at.MAX_SAMPLES) -> int:
    try:
        steps = index(value, name)
    except AssertionError:
        raise AssertionError(f"the lesson's `{name}` should be a whole number, not "
                             f"{type(value).__name__}: set it in the parameters cell and re-run "
                             "the lesson") from None
    expect(low <= steps <= high, f"the lesson's `{name}` is {steps}: set it in the parameters "
                                 f"cell to a number from {low} to {high}, and re-run")
    return steps


def _map(value: object, name: str, size: tuple[int, int]) -> torch.Tensor:
    """A learner's map as a float64 ``(H, W)`` tensor of the input's size."""
    kind = type(value).__name__
    if isinstance(value, (torch.Tensor, np.ndarray)):
        kind = f"a {kind} of {value.dtype}"
    try:
        if isinstance(value, np.ndarray) and not np.iscomplexobj(value):
            value = torch.from_numpy(np.asarray(value, dtype=np.float64))
        usable = isinstance(value, torch.Tensor) and not value.is_complex()
        got = None
        if usable:  # a plain copy: a subclass's own __torch_function__ must not do the sums
            with torch._C.DisableTorchFunctionSubclass():
                got = value.detach().to("cpu", torch.float64).clone()  # type: ignore[union-attr]
                got = got.as_subclass(torch.Tensor)
            if type(got) is not torch.Tensor:
                got = None
    except (TypeError, ValueError, RuntimeError, NotImplementedError):
        got = None
    expect(got is not None, f"`{name}` should be a tensor of real numbers (the map), not {kind}")
    if got.ndim == 3 and tuple(got.shape[1:]) == size and got.shape[0] == 3:
        raise AssertionError(f"`{name}` has a colour axis {tuple(got.shape)}: sum it over the "
                             "colour channels (dim 0 of the first image), as the lesson does")
    if got.ndim == 4 and got.shape[0] == 1:
        raise AssertionError(f"`{name}` is a batch {tuple(got.shape)}: take the first image and "
                             "sum over the colour channels, `[0].sum(dim=0)`")
    expect(tuple(got.shape) == size, f"`{name}` should have the input's size {size}, not "
                                     f"{tuple(got.shape)}")
    expect(bool(torch.isfinite(got).all()), f"`{name}` holds NaN or infinite values")
    return got


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """``a`` is ``b`` up to :data:`MAP_TOLERANCE`, relative to ``b``'s norm."""
    b = b.double()
    return float((a - b).norm()) <= MAP_TOLERANCE * max(float(b.norm()), 1e-12)


# ----------------------------------------------------------------------------------------------
# 1. The left Riemann sum of Integrated Gradients


def _check_left(left_ig: object, left_gap: object, *, classifier: object, image: object,
                MY_STEPS: object) -> str | None:  # noqa: N803 (the lesson's knob, by its name)
    steps = _knob(MY_STEPS, "MY_STEPS", low=2)  # the package's Riemann rules need 2 points
    model, x, target = _lesson(classifier, image)
    mine = _map(left_ig, "left_ig", (int(x.shape[2]), int(x.shape[3])))
    truth = at.integrated_gradients(model, x, target, steps=steps, rule="riemann_left")
    if not _close(mine, truth):
        for rule, what in (("riemann_middle", "the midpoint sum: start at a = 0, not 1/2 a step"),
                           ("riemann_right", "the right sum: a = 1 must not be a point, a = 0 "
                                             "must")):
            if _close(mine, at.integrated_gradients(model, x, target, steps=steps, rule=rule)):
                return f"your map is {what}"
        return (f"your map is not the left Riemann sum of IG with {steps} steps (MY_STEPS) from "
                "the black baseline: points a = k / MY_STEPS for k = 0 .. MY_STEPS - 1, the "
                "gradients of the class logit averaged and multiplied by (x - baseline), summed "
                "over colour channels")
    gap = number(left_gap, "left_gap")
    truth_gap = at.completeness(model, x, target, mine).gap  # of the learner's own map
    if abs(gap - 100 * truth_gap) <= 100 * GAP_TOLERANCE and truth_gap > GAP_TOLERANCE:
        return "your map is right; `left_gap` is in percent: give it as a fraction (0.05 for 5%)"
    if not abs(gap - truth_gap) <= GAP_TOLERANCE:
        return (f"your map is right, but your left_gap {gap:.4g} is not its completeness gap: "
                "at.completeness(classifier, x, target, left_ig).gap")
    return None


left_riemann = Exercise(
    "The left Riemann sum of Integrated Gradients",
    ("left_ig", "left_gap"),
    _check_left,
    "Copy the midpoint sum's cell and change only the points: torch.arange(MY_STEPS) / MY_STEPS "
    "starts at the baseline (a = 0) and stops one step short of the photo. Then "
    "at.completeness(classifier, x, target, left_ig).gap.",
    """
    left_alphas = torch.arange(MY_STEPS) / MY_STEPS
    left_total = torch.zeros_like(x)
    for chunk in left_alphas.split(at.batch_size_for(x)):
        path = (baseline + chunk.view(-1, 1, 1, 1) * (x - baseline)).requires_grad_(True)
        (grads,) = torch.autograd.grad(model(path)[:, target].sum(), path)
        left_total += grads.sum(dim=0, keepdim=True)
    left_ig = ((x - baseline) * left_total / MY_STEPS)[0].sum(dim=0)
    left_gap = at.completeness(classifier, x, target, left_ig).gap
    """,
    context=("classifier", "image", "MY_STEPS"),
)


# ----------------------------------------------------------------------------------------------
# 2. Signed or absolute: which deletes the class faster?


def _probabilities(curve: object, name: str) -> tuple[ev.Curve, np.ndarray]:
    expect(isinstance(curve, ev.Curve),
           f"`{name}` should be the Curve that ev.deletion_curve returns, not "
           f"{type(curve).__name__}")
    try:
        values = np.asarray(curve.probabilities)  # type: ignore[union-attr]
        values = np.empty(0) if np.iscomplexobj(values) else values.astype(np.float64)
    except (TypeError, ValueError, RuntimeError):
        values = np.empty(0)
    expect(values.ndim == 1 and values.size >= 2 and bool(np.isfinite(values).all()),
           f"`{name}.probabilities` should hold one finite probability per step: keep the Curve "
           "that ev.deletion_curve returns as it is")
    expect(text(curve.kind, f"{name}.kind") == "deletion",  # type: ignore[union-attr]
           f"`{name}` is an insertion curve: measure the deletion curve (ev.deletion_curve)")
    return curve, values  # type: ignore[return-value]


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=0, atol=CURVE_TOLERANCE))


def _check_sign(faster: object, signed_curve: object, absolute_curve: object, *,
                classifier: object, image: object,
                CURVE_STEPS: object) -> str | None:  # noqa: N803 (the lesson's knob)
    steps = _knob(CURVE_STEPS, "CURVE_STEPS", high=ev.MAX_STEPS)
    signed, signed_values = _probabilities(signed_curve, "signed_curve")
    absolute, absolute_values = _probabilities(absolute_curve, "absolute_curve")
    model, x, target = _lesson(classifier, image)
    for name, curve in (("signed_curve", signed), ("absolute_curve", absolute)):
        expect(index(curve.class_index, f"{name}.class_index") == target,
               f"your {name} should follow the lesson's class, target ({target})")
    expect(len(signed_values) == steps + 1 and len(absolute_values) == steps + 1,
           f"your curves should have CURVE_STEPS = {steps} steps: measure with steps=CURVE_STEPS")
    gxi = at.gradient_x_input(model, x, target)
    truth_signed = ev.deletion_curve(model, x, gxi, target, steps=steps)
    truth_absolute = ev.deletion_curve(model, x, gxi.abs(), target, steps=steps)
    right_signed = _same(signed_values, truth_signed.probabilities)
    right_absolute = _same(absolute_values, truth_absolute.probabilities)
    if not (right_signed and right_absolute):
        if _same(signed_values, truth_absolute.probabilities) and _same(
                absolute_values, truth_signed.probabilities):
            return "your two curves are swapped: signed_curve is of the map as it is"
        wrong = "signed_curve" if not right_signed else "absolute_curve"
        return (f"your {wrong} is not the deletion curve of gradient x input "
                f"({'as it is' if wrong == 'signed_curve' else 'its absolute value, .abs()'}) on "
                "the photo x for class target, with steps=CURVE_STEPS")
    choice = text(faster, "faster")
    expect(choice in ("signed", "absolute"),
           f"`faster` should be 'signed' or 'absolute', not {choice!r:.40}")
    if abs(truth_signed.auc - truth_absolute.auc) <= CURVE_TOLERANCE:
        return None  # a tie, at this model's precision: either prediction is right
    lower = "signed" if truth_signed.auc < truth_absolute.auc else "absolute"
    if choice != lower:
        return (f"your curves are right, but the {lower} map deletes the class faster (its AUC "
                "is lower): look at the two AUCs. Which pixels come first in each ranking?")
    return None


signed_or_absolute = Exercise(
    "Signed or absolute: which deletes the class faster?",
    ("faster", "signed_curve", "absolute_curve"),
    _check_sign,
    "Which pixels does each map put first: the signed map's, and the absolute map's? What does "
    "removing a pixel with a large *negative* attribution do to the class probability? Measure "
    "both with ev.deletion_curve(classifier, x, a_map, target, steps=CURVE_STEPS).",
    """
    faster = "signed"  # your prediction, written before you measure
    signed_curve = ev.deletion_curve(classifier, x, maps["gradient_x_input"].values, target,
                                     steps=CURVE_STEPS)
    absolute_curve = ev.deletion_curve(classifier, x, maps["gradient_x_input"].values.abs(), target,
                                       steps=CURVE_STEPS)
    """,  # line for line the notebook's answer cell
    context=("classifier", "image", "CURVE_STEPS"),
)


# ----------------------------------------------------------------------------------------------
# 3. A map of the methods

#: The families of exercise 3.
FAMILIES = ("cam", "gradient", "path", "perturbation", "control")
#: Each built-in method's family, and why (the reason shown for a wrong choice).
TRUTH: dict[str, tuple[str, str]] = {
    "cam": ("cam", "CAM weighs the last layer's activations by the classifier's weights, "
                   "on that layer's grid"),
    "grad_cam": ("cam", "Grad-CAM takes gradients, but only to weigh a layer's activations; "
                        "its map is that layer's grid, as CAM's"),
    "gradient": ("gradient", "the vanilla gradient is one derivative at the photo itself"),
    "gradient_x_input": ("gradient", "gradient x input multiplies the photo by its gradient at "
                                     "the photo itself: no path, no perturbation"),
    "smoothgrad": ("gradient", "SmoothGrad adds noise, but what it averages is gradients, read "
                               "from inside the model (model-aware)"),
    "guided_backprop": ("gradient", "guided backprop is one (modified) backward pass at the "
                                    "photo itself"),
    "integrated_gradients": ("path", "Integrated Gradients averages gradients along the path from "
                                     "a baseline to the photo"),
    "occlusion": ("perturbation", "occlusion only calls the model on patched photos "
                                  "(model-agnostic)"),
    "rise": ("perturbation", "RISE only calls the model on masked photos (model-agnostic)"),
    "lime": ("perturbation", "LIME only calls the model on photos with superpixels switched off, "
                             "then fits a linear model"),
    "kernel_shap": ("perturbation", "KernelSHAP only calls the model on photos with superpixels "
                                    "switched off (Shapley-kernel weights)"),
    "edge": ("control", "the edge map never reads the model: it is the photo's edge strength"),
    "random": ("control", "the random map never reads the model or the photo"),
    "center": ("control", "the centre bump never reads the model or the photo"),
}
#: The methods exercise 3 asks about (the registry's, grouped by family).
METHODS = tuple(TRUTH)


def _check_families(families: object) -> str | None:
    expect(isinstance(families, Mapping),
           f"`families` should be a dict of method name -> family, not {type(families).__name__}")
    given: dict[str, str] = {}
    for key, value in families.items():  # type: ignore[union-attr]
        name = text(key, "a key of families")
        expect(name in TRUTH, f"{name!r:.40} is not one of ex.METHODS")
        family = text(value, f"families[{name!r}]")
        expect(family in FAMILIES, f"families[{name!r}] is {family!r:.40}: choose one of "
                                   f"{', '.join(FAMILIES)}")
        given[name] = family
    missing = [m for m in METHODS if m not in given]
    expect(not missing, f"`families` has no entry for {', '.join(missing)}")
    wrong = [(m, given[m]) for m in METHODS if given[m] != TRUTH[m][0]]
    if not wrong:
        return None
    # every wrong name, and the first one's reason: the line shown has room for one
    (first, family), names = wrong[0], ", ".join(m for m, _ in wrong)
    which = f" ({names})" if len(wrong) > 1 else ""
    return (f"{len(wrong)} of {len(METHODS)} wrong{which}. {first} is not '{family}': "
            f"{TRUTH[first][1]}")


method_families = Exercise(
    "A map of the methods",
    ("families",),
    _check_families,
    "Ask of each method: does it read the model's insides (weights, activations, gradients)? "
    "If so, where: a layer's activations (cam), the gradient at the photo (gradient), or "
    "gradients along a path from a baseline (path)? If it only calls the model, it is a "
    "perturbation method; if it does not even call it, a control.",
    """
    families = {
        "cam": "cam", "grad_cam": "cam",
        "gradient": "gradient", "gradient_x_input": "gradient", "smoothgrad": "gradient",
        "guided_backprop": "gradient",
        "integrated_gradients": "path",
        "occlusion": "perturbation", "rise": "perturbation", "lime": "perturbation",
        "kernel_shap": "perturbation",
        "edge": "control", "random": "control", "center": "control",
    }
    """,
)

#: The lesson's exercises, in the order the notebook asks them (sections 2, 4 and 5).
EXERCISES: tuple[Exercise, ...] = (left_riemann, signed_or_absolute, method_families)

__all__ = ["EXERCISES", "FAMILIES", "METHODS", "TRUTH", "lesson_input", "left_riemann",
           "method_families", "signed_or_absolute"]
