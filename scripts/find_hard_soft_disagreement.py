"""Pick the Fashion-MNIST test image lesson 03 uses to show hard and soft rules disagreeing.

    NLTK_DATA=.venv/data/nltk_data .venv/bin/python scripts/find_hard_soft_disagreement.py

The first test image (in the test set's order) on which the shipped hard NBDT is wrong and the
soft one is right; written to ``assets/fashion/hard-soft-disagree.png``.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from xai_tutorial.decision_trees import FASHION_CLASSES, FASHION_MEAN, FASHION_STD, load_nbdt
from xai_tutorial.decision_trees.training import fashion_mnist

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    x, y = fashion_mnist(ROOT / ".venv" / "data", train=False).tensors
    hard, soft = load_nbdt("fashion"), load_nbdt("fashion", soft=True)
    for start in range(0, len(y), 500):
        logits = hard.network(x[start:start + 500]).detach()
        pairs = zip(hard.explain_logits(logits), soft.explain_logits(logits), strict=True)
        for i, (h, s) in enumerate(pairs):
            truth = FASHION_CLASSES[int(y[start + i])]
            if h.prediction != truth and s.prediction == truth:
                index = start + i
                pixels = ((x[index, 0] * FASHION_STD + FASHION_MEAN) * 255).round().clamp(0, 255)
                path = ROOT / "assets" / "fashion" / "hard-soft-disagree.png"
                Image.fromarray(pixels.byte().numpy(), "L").save(path)
                print(f"test image {index} ({truth}): wrote {path}\n hard: {h}\n soft: {s}")
                return
    raise SystemExit("no test image where hard is wrong and soft is right")


if __name__ == "__main__":
    main()
