"""Lesson 01's figures: a top-k bar chart and the preprocessing steps side by side."""

from __future__ import annotations

from collections.abc import Sequence

from .classification import Classifier, Prediction, show_steps
from .core.images import ImageSource

__all__ = ["plot_predictions", "plot_steps"]


def plot_predictions(predictions: Sequence[Prediction], ax=None, title: str | None = None):
    """A horizontal bar chart of predictions, most probable on top; returns the figure."""
    from matplotlib.figure import Figure

    if ax is None:
        ax = Figure(figsize=(6, 0.45 * len(predictions) + 0.8)).subplots()
    labels = [p.label for p in predictions][::-1]
    values = [p.probability for p in predictions][::-1]
    bars = ax.barh(labels, values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:.1%}" for v in values], padding=3)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("probability (softmax)")
    ax.set_title(title or f"Top-{len(predictions)}")
    ax.figure.tight_layout()
    return ax.figure


def plot_steps(classifier: Classifier, image: ImageSource):
    """The preprocessing steps side by side, each titled with its size; returns the figure."""
    from matplotlib.figure import Figure

    steps = show_steps(classifier, image)
    figure = Figure(figsize=(4 * len(steps), 3.2))
    axes = figure.subplots(1, len(steps))
    for ax, (name, picture) in zip(axes, steps.items(), strict=False):
        ax.imshow(picture)
        ax.set_title(f"{name}: {picture.width}x{picture.height}")
        ax.axis("off")
    figure.tight_layout()
    return figure
