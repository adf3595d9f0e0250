"""Lesson 05's costs: each method against the network passes it cannot avoid, and captum's own call.

    .venv/bin/python benchmarks/attribution.py [--photo NAME] [--crop] [--steps S] [--masks N]
        [--samples n] [--repeat R] [--costs] [--completeness]

Goals (issue 20), measured in one run, interleaved, medians of R runs:

* Integrated Gradients with S steps costs at most 1.15x one forward and backward pass over a
  batch of S images (the S path points, in the batches IG uses); captum's
  ``IntegratedGradients`` called directly is printed next to it;
* RISE with N masks at most 1.10x one forward pass over N images (in RISE's batches); captum has
  no RISE (captum issue #1150);
* SmoothGrad with n samples at most 1.10x n gradients (n images' forward and backward passes, in
  SmoothGrad's batches); captum's ``NoiseTunnel(Saliency)`` printed next to it.

Times are CPU seconds of this process (the machine may be shared: another process's load moves
wall time far more than CPU time); wall seconds are printed too. ``--costs`` adds every method's
passes and seconds at its defaults through ``saliency_map``; ``--completeness`` the completeness
gap of IG for each rule at 32 and 64 steps, black and blurred baselines.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from xai_tutorial import Classifier, load_classifier, sample_image
from xai_tutorial import attribution as at
from xai_tutorial.core.saliency import saliency_map
from xai_tutorial.evaluation import BATCH_PIXELS

CLASS = 285  # Egyptian cat
GOALS = {"integrated_gradients": 1.15, "rise": 1.10, "smoothgrad": 1.10}


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """``(cpu, wall)`` seconds of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - cpu, time.perf_counter() - wall


def gradients_of(model: torch.nn.Module, images: torch.Tensor, size: int) -> None:
    """The network's part of a gradient method: ``images`` forward and backward, ``size`` at
    once (the inputs made beforehand)."""
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for first in range(0, len(images), size):
            batch = images[first:first + size].clone().requires_grad_(True)
            torch.autograd.grad(model(batch)[:, CLASS].sum(), batch)
    finally:
        for p in model.parameters():
            p.requires_grad_(True)


def forwards_of(model: torch.nn.Module, images: torch.Tensor, size: int) -> None:
    with torch.no_grad():
        for first in range(0, len(images), size):
            model(images[first:first + size])


def runs(classifier: Classifier, x: torch.Tensor, args: argparse.Namespace
         ) -> dict[str, Callable[[], object]]:
    """Every timed call, by name: ours, the reference, captum's."""
    from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

    model = classifier.model
    grad_size = at.batch_size_for(x)
    forward_size = at.batch_size_for(x, pixels=BATCH_PIXELS)
    base = at.black_input(classifier, x)
    alphas = torch.linspace(0, 1, args.steps).view(-1, 1, 1, 1)
    path = base + alphas * (x - base)
    copies = x.repeat(max(args.masks, args.samples), 1, 1, 1)
    frozen_x = x.clone().requires_grad_(True)
    sigma = 0.15 * float(x.max() - x.min())
    return {
        "integrated_gradients": lambda: at.integrated_gradients(
            classifier, x, CLASS, steps=args.steps),
        "S forward+backward": lambda: gradients_of(model, path, min(grad_size, args.steps)),
        "captum IntegratedGradients": lambda: IntegratedGradients(model).attribute(
            frozen_x, baselines=base, target=CLASS, n_steps=args.steps,
            internal_batch_size=min(grad_size, args.steps)),
        "rise": lambda: at.rise(classifier, x, CLASS, masks=args.masks),
        "N forward": lambda: forwards_of(model, copies[:args.masks],
                                         min(forward_size, 64, args.masks)),
        "smoothgrad": lambda: at.smoothgrad(classifier, x, CLASS, samples=args.samples),
        "n gradients": lambda: gradients_of(model, copies[:args.samples],
                                            min(grad_size, args.samples)),
        "captum NoiseTunnel(Saliency)": lambda: NoiseTunnel(Saliency(model)).attribute(
            frozen_x, nt_type="smoothgrad", nt_samples=args.samples, stdevs=sigma,
            nt_samples_batch_size=min(grad_size, args.samples), target=CLASS, abs=False),
    }


def ratios(classifier: Classifier, x: torch.Tensor, args: argparse.Namespace) -> None:
    calls = runs(classifier, x, args)
    for call in calls.values():  # warm up
        call()
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    wall: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(args.repeat):  # interleaved, so drift in machine load hits all alike
        for name, call in calls.items():
            c, w = timed(call)
            cpu[name].append(c)
            wall[name].append(w)
    med = {name: statistics.median(v) for name, v in cpu.items()}
    wmed = {name: statistics.median(v) for name, v in wall.items()}
    print(f"input {tuple(x.shape[2:])}, {torch.get_num_threads()} threads, medians of "
          f"{args.repeat}; CPU s (wall s)")
    groups = (("integrated_gradients", f"S = {args.steps} steps", "S forward+backward",
               "captum IntegratedGradients"),
              ("rise", f"N = {args.masks} masks", "N forward", None),
              ("smoothgrad", f"n = {args.samples} samples", "n gradients",
               "captum NoiseTunnel(Saliency)"))
    for ours, what, reference, captum in groups:
        ratio, goal = med[ours] / med[reference], GOALS[ours]
        print(f"{ours} ({what}): {med[ours]:.2f} ({wmed[ours]:.2f}) vs {reference} "
              f"{med[reference]:.2f} ({wmed[reference]:.2f}): ratio {ratio:.3f} "
              f"(wall {wmed[ours] / wmed[reference]:.3f}), goal <= {goal:.2f}: "
              f"{'met' if ratio <= goal else 'NOT met'}")
        if captum:
            print(f"    {captum}: {med[captum]:.2f} ({wmed[captum]:.2f}) = "
                  f"{med[captum] / med[reference]:.3f} x {reference}")
        else:
            print("    captum has no RISE (captum issue #1150)")


def costs(classifier: Classifier, x: torch.Tensor) -> None:
    print("every method at its defaults through saliency_map: passes, CPU s (wall s)")
    for name in ("gradient", "gradient_x_input", "guided_backprop", "smoothgrad",
                 "integrated_gradients", "rise", "lime", "kernel_shap"):
        cpu, wall = time.process_time(), time.perf_counter()
        made = saliency_map(classifier, x, CLASS, method=name)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"  {name:21s} {made.forward_passes:5d} forward {made.backward_passes:4d} "
              f"backward  {cpu:6.1f} ({wall:6.1f})")


def completeness(classifier: Classifier, x: torch.Tensor) -> None:
    print(f"IG completeness gap |sum - (logit(x) - logit(baseline))| / |...|, class {CLASS}")
    for baseline in ("black", "blurred"):
        expected = at.output_difference(classifier, x, CLASS, baseline)
        cells = []
        for rule in ("gausslegendre", "riemann_middle", "riemann_trapezoid"):
            for steps in (32, 64):
                values = at.integrated_gradients(classifier, x, CLASS, steps=steps, rule=rule,
                                                 baseline=baseline)
                gap = abs(float(values.double().sum()) - expected) / abs(expected)
                cells.append(f"{rule} {steps}: {100 * gap:.2f}%")
        print(f"  {baseline} (logit gain {expected:.3f}): " + ", ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", default="cat_and_coffee")
    parser.add_argument("--crop", action="store_true",
                        help="the 224 x 224 centre crop (default: the whole picture, as "
                             "saliency_map preprocesses it)")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--masks", type=int, default=128)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--costs", action="store_true")
    parser.add_argument("--completeness", action="store_true")
    args = parser.parse_args()

    classifier = load_classifier("efficientnet_lite0")
    x = classifier.preprocess(sample_image(args.photo), crop=args.crop)
    ratios(classifier, x, args)
    if args.costs:
        costs(classifier, x)
    if args.completeness:
        completeness(classifier, x)


if __name__ == "__main__":
    main()
