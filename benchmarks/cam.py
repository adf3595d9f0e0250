"""CAM cost over a plain forward pass, and explorer update times. Prints ratios and medians.

    .venv/bin/python benchmarks/cam.py [--repeat N]

Goals (issues 3 and 8): one-class CAM within 2% of a plain forward pass; a widget update (alpha or
class change) at 224x224 within 15 ms, with no model call.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from PIL import Image

from xai_tutorial import load_classifier, sample_image
from xai_tutorial.cam import class_activation_maps
from xai_tutorial.cam_widgets import CAMExplorer


def median_ms(run: Callable[[], object], repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    classifier = load_classifier("efficientnet_lite0")
    x = classifier.preprocess(sample_image("chelsea"), crop=False)

    # Interleave the three measurements so drift in machine load hits them alike.
    rounds = {"forward": [], "cam1": [], "cam_all": []}
    with torch.no_grad():
        forward = lambda: classifier.model(x)  # noqa: E731
        one = lambda: class_activation_maps(classifier, x, [285])  # noqa: E731
        every = lambda: class_activation_maps(classifier, x)  # noqa: E731
        for _ in range(5):
            for run in (forward, one, every):
                run()
        for _ in range(args.repeat):
            for key, run in (("forward", forward), ("cam1", one), ("cam_all", every)):
                start = time.perf_counter()
                run()
                rounds[key].append((time.perf_counter() - start) * 1000)
    forward_ms, one_ms, all_ms = (statistics.median(rounds[k]) for k in rounds)

    calls = []
    handle = classifier.model.register_forward_pre_hook(lambda *_: calls.append(1))
    square = sample_image("chelsea").resize((224, 224), Image.Resampling.BILINEAR)
    explorer = CAMExplorer(classifier, square)
    alphas = iter([0.1 + 0.8 * (i % 50) / 50 for i in range(10_000)])
    classes = iter([(281 + i % 5) for i in range(10_000)])

    def alpha_change() -> None:
        explorer.set_alpha(next(alphas))
        explorer.render_png()

    def class_change() -> None:
        explorer._heat.clear()  # measure the uncached path: upsample, scale, colour, blend
        explorer._maps01.clear()
        explorer.set_class(next(classes))
        explorer.render_png()

    alpha_ms = median_ms(alpha_change, args.repeat)
    class_ms = median_ms(class_change, args.repeat)
    handle.remove()

    print(f"input {tuple(x.shape)}, {torch.get_num_threads()} threads, median of {args.repeat}")
    print("| measurement | median | ratio / goal |")
    print("|---|---|---|")
    print(f"| plain forward pass | {forward_ms:.1f} ms | 1.00 |")
    print(f"| one-class CAM (forward + hook + product) | {one_ms:.1f} ms | "
          f"{one_ms / forward_ms:.3f} (goal <= 1.02) |")
    print(f"| all-1000-class CAM | {all_ms:.1f} ms | {all_ms / forward_ms:.3f} |")
    print(f"| explorer alpha change, 224x224, render + PNG | {alpha_ms:.2f} ms | "
          f"{alpha_ms / 15:.2f} of the 15 ms goal |")
    print(f"| explorer class change, 224x224, render + PNG | {class_ms:.2f} ms | "
          f"{class_ms / 15:.2f} of the 15 ms goal |")
    print(f"model calls during {2 * (args.repeat + 3)} explorer updates: {len(calls) - 1}")


if __name__ == "__main__":
    main()
