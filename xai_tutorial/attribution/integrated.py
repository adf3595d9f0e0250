"""Integrated Gradients (Sundararajan et al., 2017) and its completeness check.

For an input ``x``, a baseline ``b`` and the class logit ``y_c``,

    IG_c(x)[k, i, j] = (x - b)[k, i, j] * integral_0^1 d y_c / d x[k, i, j] at b + a (x - b) da,

and *completeness* says the attributions add up to what the logit gained along the path:

    sum_{k, i, j} IG_c(x)[k, i, j] = y_c(x) - y_c(b).

The integral is a quadrature of ``steps`` points: captum's default Gauss-Legendre rule, or a
Riemann rule (``riemann_left``, ``riemann_right``, ``riemann_middle``, ``riemann_trapezoid``),
whose completeness gap shrinks far more slowly with the steps; :func:`completeness` measures it.
How many steps a rule needs depends on the path. EfficientNet-Lite0, ``cat_and_coffee``, class
285, black baseline: on the 224 x 224 centre crop 64 Gauss-Legendre steps miss by 0.13% (32:
1.5%); on the whole 224 x 672 picture, whose logit climbs by 2.4 (of its 2.5 gain) between 2%
and 4% of the way from black, by 26% (128 steps: 10%, 256: 3.5%).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

import torch

from ..classification import Classifier
from ..core.errors import InputError
from ..core.hooks import eval_mode, frozen, input_errors
from ..core.images import ImageSource
from ..core.inputs import check_batch, check_whole, shown
from ..core.saliency import SaliencyMap
from ..evaluation.deletion import blurred
from .gradients import MAX_SAMPLES, batch_size_for, black_input, checked, gradient_sized

__all__ = [
    "MAX_STEPS",
    "RULES",
    "Baseline",
    "Completeness",
    "PathProfile",
    "baseline_input",
    "completeness",
    "integrated_gradients",
    "output_difference",
    "path_profile",
    "quadrature",
    "rule_correction",
    "rule_points",
]

#: The quadrature rules, by captum's names; ``"gausslegendre"`` is captum's default.
RULES = ("gausslegendre", "riemann_middle", "riemann_trapezoid", "riemann_left", "riemann_right")

#: Most points of Integrated Gradients' quadrature: captum places the Gauss-Legendre points with
#: an ``n x n`` eigenproblem, so 20,000 steps would take gigabytes and half an hour.
MAX_STEPS = 1024

#: A baseline: ``None`` or ``"black"`` (a black photo), ``"blurred"`` (the input blurred), or a
#: ``(1, 3, H, W)`` tensor of the model input's shape (already normalized).
Baseline = Union[None, str, torch.Tensor]  # noqa: UP007


def baseline_input(classifier: Classifier, x: torch.Tensor, baseline: Baseline = None
                   ) -> torch.Tensor:
    """The baseline as a tensor of ``x``'s shape.

    ``None`` or ``"black"``: a black photo, zero pixels before normalization (each channel
    ``(0 - mean_k) / std_k``); ``"blurred"``: ``x`` under lesson 04's Gaussian blur (11 x 11,
    sigma 5, :func:`~xai_tutorial.evaluation.blurred`); a tensor: used as given, once checked.

    Raises:
        InputError: another name, or a tensor of another shape or with non-finite values.
    """
    if baseline is None or (isinstance(baseline, str) and baseline == "black"):
        return black_input(classifier, x)
    if isinstance(baseline, str) and baseline == "blurred":
        return blurred(x)
    if isinstance(baseline, torch.Tensor):
        try:
            given = check_batch(baseline)
        except InputError as error:
            raise InputError(f"baseline: {error}") from None
        if given.shape != x.shape:  # type: ignore[attr-defined]
            raise InputError(f"baseline of shape {tuple(baseline.shape)}: the input has shape "
                             f"{tuple(x.shape)}")
        return given.to(x.device)  # type: ignore[attr-defined]
    raise InputError(f"baseline {shown(baseline)}: use 'black' (or None), 'blurred', or a "
                     "tensor of the input's shape")


def integrated_gradients(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: object,
    *,
    steps: int = 64,
    baseline: Baseline = None,
    rule: str = "gausslegendre",
    batch_size: int | None = None,
) -> torch.Tensor:
    """Integrated Gradients of the class logit, from captum's ``IntegratedGradients``, ``(H, W)``:

        map[i, j] = sum_k IG_c(x)[k, i, j]   (the module docstring's formula),

    signed, summed over the colour channels, so ``map.sum()`` approximates
    ``y_c(x) - y_c(baseline)`` (:func:`completeness` measures how well).

    Args:
        classifier: the model and its preprocessing.
        inputs: an image or a ``(1, 3, H, W)`` tensor.
        class_index: the class.
        steps: points of the quadrature (``steps`` forward and backward passes).
        baseline: ``None``/``"black"``, ``"blurred"`` or a tensor (:func:`baseline_input`).
        rule: one of :data:`RULES`; captum's Gauss-Legendre by default. ``riemann_trapezoid``
            is captum's, rescaled to the true trapezoid rule (:func:`rule_correction`).
        batch_size: path points run at once; by default as many as fit in
            :data:`~xai_tutorial.attribution.GRADIENT_BATCH_PIXELS` (captum's
            ``internal_batch_size``).
    """
    from captum.attr import IntegratedGradients

    if not isinstance(rule, str) or rule not in RULES:
        raise InputError(f"rule {shown(rule)}: choose one of {', '.join(RULES)}")
    steps = check_whole("steps", steps, f"must be a whole number from "
                        f"{1 if rule == 'gausslegendre' else 2} to {MAX_STEPS}",
                        low=1 if rule == "gausslegendre" else 2, high=MAX_STEPS + 1)
    x, index = checked(classifier, inputs, class_index)
    x = gradient_sized(x)
    base = baseline_input(classifier, x, baseline)
    size = batch_size_for(x, batch_size, most=steps)
    model = classifier.model
    with eval_mode(model), frozen(model), torch.enable_grad(), input_errors(x, model):
        attribution = IntegratedGradients(model).attribute(
            x.detach().clone().requires_grad_(True), baselines=base, target=index, n_steps=steps,
            method=rule, internal_batch_size=size,
        )
    return attribution.detach()[0].sum(0) * rule_correction(rule, steps)


def rule_correction(rule: str, steps: int) -> float:
    """``1 / sum of the rule's weights``: 1 for every rule but captum's ``riemann_trapezoid``,
    whose weights are ``1/n`` (``1/(2n)`` at the ends) at ``n`` points spaced ``1/(n - 1)``, so
    they sum to ``(n - 1)/n``, not 1 (captum 0.9). Scaling by ``n/(n - 1)`` makes it the
    trapezoid rule; the factor is read from captum, so a fixed captum gives 1."""
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, _ = approximation_parameters(rule)
    return 1.0 / float(sum(step_sizes(steps)))


@dataclass(frozen=True)
class Completeness:
    """How far an attribution's sum is from what the output gained, ``f(x) - f(baseline)``.

    Attributes:
        total: the attribution's sum, ``values.sum()``.
        expected: ``f_c(x) - f_c(baseline)`` (the logit's, or the probability's).
        error: ``|total - expected|``.
        gap: ``error / |expected|`` (``inf`` when ``expected`` is 0 and ``error`` is not).
    """

    total: float
    expected: float

    @property
    def error(self) -> float:
        return abs(self.total - self.expected)

    @property
    def gap(self) -> float:
        if self.expected == 0:
            return 0.0 if self.error == 0 else float("inf")
        return self.error / abs(self.expected)


def output_difference(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: object,
    baseline: Baseline = None,
    *,
    output: Literal["logit", "probability"] = "logit",
) -> float:
    """``f_c(x) - f_c(baseline)``: the class logit's (or probability's) gain from the baseline
    to the input, the sum completeness (IG) and efficiency (KernelSHAP) promise. One forward
    pass of two images, without gradients, in eval mode."""
    if not isinstance(output, str) or output not in ("logit", "probability"):
        raise InputError(f"output {shown(output)}: choose 'logit' or 'probability'")
    x, index = checked(classifier, inputs, class_index)
    pair = torch.cat([x, baseline_input(classifier, x, baseline)])
    model = classifier.model
    with eval_mode(model), torch.no_grad(), input_errors(x, model):
        scores = model(pair)
    if output == "probability":
        scores = scores.softmax(1)
    return float(scores[0, index] - scores[1, index])


def completeness(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: object,
    attribution: torch.Tensor | SaliencyMap,
    baseline: Baseline = None,
    *,
    output: Literal["logit", "probability"] = "logit",
) -> Completeness:
    """Completeness of ``attribution`` (a map or a :class:`~xai_tutorial.core.saliency.
    SaliencyMap`): its sum against :func:`output_difference`. For Integrated Gradients with the
    same baseline ``gap`` is the quadrature's error; for KernelSHAP (``output="probability"``,
    black baseline) it is the efficiency gap."""
    values = attribution.values if isinstance(attribution, SaliencyMap) else attribution
    if not isinstance(values, torch.Tensor) or values.ndim != 2 or values.numel() == 0 or (
        not values.is_floating_point() or not torch.isfinite(values.detach().float()).all()
    ):
        raise InputError(f"attribution {shown(values)}: expected a finite (h, w) float map")
    x, _ = checked(classifier, inputs, class_index)
    if tuple(values.shape) != tuple(x.shape[2:]):
        raise InputError(f"attribution of shape {tuple(values.shape)}: completeness sums a map at "
                         f"the input's resolution, {tuple(x.shape[2:])}")
    expected = output_difference(classifier, inputs, class_index, baseline, output=output)
    return Completeness(total=float(values.detach().double().sum()), expected=expected)


@dataclass(frozen=True)
class PathProfile:
    """The class logit along the straight path from a baseline ``b`` to the input ``x``.

    Attributes:
        alphas: the points ``a`` of the path, ``(n,)`` float64 in ``[0, 1]``.
        logits: ``y_c(b + a (x - b))`` at each point, ``(n,)`` float64.
        slopes: the integrand of Integrated Gradients' completeness at each point,
            ``g(a) = sum_{k,i,j} (x - b) d y_c / d x`` at ``b + a (x - b)`` (so ``g = d logit /
            d a``, and ``integral_0^1 g = y_c(x) - y_c(b)``), ``(n,)`` float64.
    """

    alphas: torch.Tensor
    logits: torch.Tensor
    slopes: torch.Tensor


def path_profile(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: object,
    alphas: object,
    *,
    baseline: Baseline = None,
    batch_size: int | None = None,
) -> PathProfile:
    """The logit and the completeness integrand ``g(a)`` at the points ``alphas`` of the path
    (:class:`PathProfile`): one forward and one backward pass a point, ``batch_size`` points at
    once (by default as many as fit in :data:`GRADIENT_BATCH_PIXELS`). Every quadrature rule of
    Integrated Gradients is a weighted sum of ``g`` at its points, so on a fine enough grid
    :func:`quadrature` gives each rule's completeness total without running it again.

    Raises:
        InputError: ``alphas`` is not a 1-d sequence of 1 to ``MAX_SAMPLES`` numbers in [0, 1].
    """
    points = _alphas(alphas)
    x, index = checked(classifier, inputs, class_index)
    x = gradient_sized(x)
    base = baseline_input(classifier, x, baseline)
    size = batch_size_for(x, batch_size, most=len(points))
    delta = x - base
    logits, slopes = [], []
    model = classifier.model
    with eval_mode(model), frozen(model), torch.enable_grad(), input_errors(x, model):
        for chunk in points.float().split(size):
            path = (base + chunk.view(-1, 1, 1, 1) * delta).requires_grad_(True)
            scores = model(path)[:, index]
            (grad,) = torch.autograd.grad(scores.sum(), path)
            logits.append(scores.detach().double())
            slopes.append((grad.double() * delta.double()).sum(dim=(1, 2, 3)))
    return PathProfile(points, torch.cat(logits), torch.cat(slopes))


def _alphas(alphas: object) -> torch.Tensor:
    tensor = isinstance(alphas, torch.Tensor)
    bad = isinstance(alphas, (str, bytes, bool)) or (
        tensor and (alphas.dtype == torch.bool or alphas.is_complex())  # type: ignore[union-attr]
    ) or (isinstance(alphas, (list, tuple)) and any(isinstance(a, bool) for a in alphas))
    points = torch.empty(0)
    if not bad:
        try:
            points = torch.as_tensor(alphas, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError, OverflowError):
            pass
    if points.ndim != 1 or not 1 <= len(points) <= MAX_SAMPLES or not bool(
        ((points >= 0) & (points <= 1)).all()
    ):
        raise InputError(f"alphas {shown(alphas)}: give 1 to {MAX_SAMPLES:,} numbers from 0 to 1, "
                         "e.g. torch.linspace(0, 1, 33)")
    return points


def rule_points(rule: str, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(alphas, weights)`` of a Riemann rule of ``steps`` points on ``[0, 1]``, as captum
    places them (``riemann_left``: ``i / n``; ``riemann_right``: ``(i + 1) / n``;
    ``riemann_middle``: ``(i + 1/2) / n``, weights ``1 / n``; ``riemann_trapezoid``: ``n`` points
    ``i / (n - 1)``, weights ``1 / (n - 1)``, halved at the ends: the true trapezoid rule)."""
    n = check_whole("steps", steps, f"must be a whole number from 1 to {MAX_SAMPLES:,}",
                    high=MAX_SAMPLES + 1)
    i = torch.arange(n, dtype=torch.float64)
    if rule == "riemann_trapezoid":
        if n < 2:
            raise InputError(f"steps {n}: the trapezoid rule needs at least 2 points")
        weights = torch.full((n,), 1.0 / (n - 1), dtype=torch.float64)
        weights[[0, -1]] /= 2
        return i / (n - 1), weights
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}.get(rule)
    if offset is None:
        raise InputError(f"rule {shown(rule)}: choose riemann_left, riemann_right, "
                         "riemann_middle or riemann_trapezoid")
    return (i + offset) / n, torch.full((n,), 1.0 / n, dtype=torch.float64)


def quadrature(profile: PathProfile, rule: str, steps: int) -> float:
    """A Riemann rule's estimate of ``integral_0^1 g``, read off ``profile``'s points: the
    completeness total Integrated Gradients with that rule and ``steps`` would give.

    Raises:
        InputError: a point the rule needs is not among ``profile.alphas`` (to 1e-9).
    """
    if not isinstance(profile, PathProfile):
        raise InputError(f"profile {shown(profile)}: give the PathProfile path_profile returns")
    alphas, weights = rule_points(rule, steps)
    grid = profile.alphas.detach().double()
    slopes = profile.slopes.detach().double()
    if grid.ndim != 1 or grid.shape != slopes.shape or not bool(torch.isfinite(slopes).all()):
        raise InputError("profile: its alphas and slopes should be two finite 1-d tensors of one "
                         "length, as path_profile returns them")
    order = torch.argsort(grid)
    ranked = grid[order]
    right = torch.searchsorted(ranked, alphas).clamp(max=len(ranked) - 1)
    left = (right - 1).clamp(min=0)
    nearest = torch.where((ranked[left] - alphas).abs() < (ranked[right] - alphas).abs(),
                          left, right)
    if bool(((ranked[nearest] - alphas).abs() > 1e-6).any()):  # float32 grids are 1e-7 off
        raise InputError(f"{rule} with {steps} steps: its points are not all on the profile's "
                         f"{len(grid)} points (use a grid whose spacing divides them)")
    return float((weights * slopes[order[nearest]]).sum())
