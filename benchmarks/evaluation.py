"""Lesson 04's costs: a deletion/insertion curve against plain forward passes; occlusion vs CAM.

    .venv/bin/python benchmarks/evaluation.py [--steps S] [--repeat N]

Goals (issue 12): a deletion or insertion curve of S steps costs at most 1.2x the time of S
images through the network in the same batches (the curve needs S + 1 images, plus building the
masks; its batches hold at most ``ev.BATCH_PIXELS`` pixels, two images of 224 x 336, so the
reference runs in batches of that size too). Occlusion, the model-agnostic baseline, is reported
as a ratio to CAM (one forward pass); the passes of every registered saliency method are counted
by ``saliency_map``. Lesson 04's Run All as a whole is measured by ``benchmarks/lessons.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from xai_tutorial import evaluation as ev
from xai_tutorial import load_classifier, sample_image
from xai_tutorial.core.saliency import saliency_map, saliency_methods


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    classifier = load_classifier("efficientnet_lite0")
    x = ev.model_input(classifier, sample_image("chelsea"))
    saliency = ev.cam(classifier, x, 285)
    pixels = int(x.shape[2]) * int(x.shape[3])
    steps = args.steps
    batch = min(steps + 1, max(1, ev.BATCH_PIXELS // pixels))  # what the curves use
    plain = x.repeat(steps, 1, 1, 1)

    def forward_s() -> None:  # S images in the batches the curve uses
        with torch.no_grad():
            for first in range(0, steps, batch):
                classifier.model(plain[first : first + batch])

    def deletion() -> None:
        ev.deletion_curve(classifier, x, saliency, 285, steps=steps, batch_size=batch)

    def insertion() -> None:
        ev.insertion_curve(classifier, x, saliency, 285, steps=steps, batch_size=batch)

    def cam_once() -> None:
        ev.cam(classifier, x, 285)

    def occlusion() -> None:
        ev.occlusion(classifier, x, 285)

    runs = {"forward": forward_s, "deletion": deletion, "insertion": insertion, "cam": cam_once}
    for run in runs.values():  # warm up
        run()
    times: dict[str, list[float]] = {k: [] for k in (*runs, "occlusion")}
    for _ in range(args.repeat):  # interleaved, so drift in machine load hits all alike
        for key, run in runs.items():
            times[key].append(timed(run))
    for _ in range(max(1, args.repeat // 2)):
        times["occlusion"].append(timed(occlusion))
    median = {k: statistics.median(v) for k, v in times.items()}

    size = (int(x.shape[2]), int(x.shape[3]))
    passes = ev.occlusion_passes(size)
    print(f"input {size[0]}x{size[1]}, S = {steps} steps, batches of {batch}, "
          f"{torch.get_num_threads()} threads, medians of {args.repeat}")
    print(f"S forward passes:     {median['forward'] * 1000:8.0f} ms")
    for kind in ("deletion", "insertion"):
        ratio = median[kind] / median["forward"]
        verdict = "ok" if ratio <= 1.2 else "over the goal"
        print(f"{kind} curve:       {median[kind] * 1000:8.0f} ms  = {ratio:.2f} x S forward "
              f"passes (goal <= 1.2: {verdict})")
    print(f"CAM (1 forward pass): {median['cam'] * 1000:8.0f} ms")
    print(f"occlusion ({passes} images, window 56, stride 28): {median['occlusion'] * 1000:.0f} ms "
          f"= {median['occlusion'] / median['cam']:.0f} x CAM in time, {passes} x in images")
    for name in saliency_methods():  # what each registered method costs, counted by hooks
        result = saliency_map(classifier, x, 285, method=name)
        print(f"  {name:10s} {tuple(result.values.shape)!s:11s} {result.forward_passes:4d} "
              f"forward, {result.backward_passes} backward")


if __name__ == "__main__":
    main()
