"""Reproduce the Fashion-MNIST NBDT that ships in xai_tutorial/data/fashion (seeded, offline).

    make data   # WordNet and Fashion-MNIST from Debian packages, into .venv/data
    NLTK_DATA=.venv/data/nltk_data .venv/bin/python scripts/train_fashion_nbdt.py

Writes weights.pt, graph.json, wnids.txt and metrics.json, and one test image per class into
assets/fashion/. About 3-4 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PIL import Image

from xai_tutorial.decision_trees import FASHION_CLASSES, FASHION_MEAN, FASHION_STD
from xai_tutorial.decision_trees.training import fashion_mnist, train_fashion_nbdt

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    # nbdt orders a node's leaves by iterating a set of strings, which Python's per-process hash
    # seed shuffles; the float sums then differ in their last bits and training drifts. A fixed
    # hash seed makes the run repeat exactly.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable, *sys.argv],
                  {**os.environ, "PYTHONHASHSEED": "0"})
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / ".venv" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "xai_tutorial" / "data" / "fashion")
    parser.add_argument("--assets", type=Path, default=ROOT / "assets" / "fashion")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--tree-epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--download", action="store_true", help="let torchvision download")
    args = parser.parse_args()

    train = fashion_mnist(args.data, train=True, download=args.download)
    test = fashion_mnist(args.data, train=False, download=args.download)
    metrics = train_fashion_nbdt(args.out, train, test, epochs=args.epochs,
                                 tree_epochs=args.tree_epochs, seed=args.seed)
    print(f"wrote {args.out} in {metrics['train_seconds']} s")

    args.assets.mkdir(parents=True, exist_ok=True)
    x, y = test.tensors
    for label, name in enumerate(FASHION_CLASSES):
        index = int((y == label).nonzero()[0])
        pixels = ((x[index, 0] * FASHION_STD + FASHION_MEAN) * 255).round().clamp(0, 255)
        slug = name.lower().replace("/", "-").replace(" ", "-")
        path = args.assets / f"{label}-{slug}.png"
        Image.fromarray(pixels.byte().numpy(), "L").save(path)
        print(f"wrote {path} (test image {index})")


if __name__ == "__main__":
    main()
