"""Figures for lesson 05 (attribution beyond CAM): the path of Integrated Gradients, its
completeness gaps, and the scoreboard of every method.

A view module: it draws what :mod:`xai_tutorial.attribution` and :mod:`xai_tutorial.evaluation`
compute and computes nothing of its own. Every figure is a ``matplotlib.figure.Figure`` (no
pyplot state); maps go through :func:`xai_tutorial.evaluation_view.plot_maps` (a diverging map
centred on 0 for signed attributions, ``scale="signed"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from .attribution import PathProfile
from .classification import Classifier
from .core.inputs import check_batch
from .evaluation_view import plot_maps

__all__ = ["clipped", "input_picture", "plot_gaps", "plot_maps", "plot_path", "plot_scoreboard"]

DPI = 72
#: Line styles per rule, so the lines differ without colour too.
_STYLES = {"riemann_middle": ("o", "-"), "riemann_trapezoid": ("s", "--"),
           "riemann_left": ("^", ":"), "riemann_right": ("v", "-."), "gausslegendre": ("*", "")}


def input_picture(classifier: Classifier, x: torch.Tensor) -> Image.Image:
    """The RGB picture a ``(1, 3, H, W)`` model input shows (its normalization undone), to draw
    maps over exactly the pixels they attribute.

    Raises:
        InputError: ``x`` is not one finite ``(1, 3, H, W)`` image.
    """
    x = check_batch(x)  # type: ignore[assignment]
    mean = torch.tensor(classifier.mean).view(3, 1, 1)
    std = torch.tensor(classifier.std).view(3, 1, 1)
    pixels = (x.detach()[0].float() * std + mean).clamp(0, 1)
    return Image.fromarray((pixels.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def clipped(values: torch.Tensor, percentile: float = 99.0) -> torch.Tensor:
    """``values`` clipped to ``[-q, q]``, ``q`` the ``percentile`` of ``|values|``: a pixel map's
    few extreme values would otherwise scale every other pixel to nothing (white on a diverging
    map). For drawing only; the sign and the order below ``q`` are kept."""
    q = float(torch.quantile(values.detach().abs().flatten().float(), percentile / 100))
    return values.detach().clamp(-q, q) if q > 0 else values.detach()


def plot_path(profiles: Mapping[str, PathProfile], class_name: str = "") -> Figure:
    """The class logit along the straight path from each baseline (``a = 0``) to the photo
    (``a = 1``), and its slope ``g(a)``, the integrand whose integral completeness promises."""
    figure = Figure(figsize=(9.0, 3.2), dpi=DPI)
    left, right = figure.subplots(1, 2)
    for (name, profile), marker in zip(profiles.items(), "os^v", strict=False):
        alphas = profile.alphas.numpy()
        left.plot(alphas, profile.logits.numpy(), marker=marker, markersize=3, label=name)
        right.plot(alphas, profile.slopes.numpy(), marker=marker, markersize=3, label=name)
    left.set(xlabel="a (0 = baseline, 1 = photo)", ylabel="logit",
             title=f"logit of {class_name!r} along the path" if class_name else "logit")
    right.axhline(0, color="0.6", linewidth=0.8)
    right.set(xlabel="a", ylabel="g(a) = d logit / d a", title="the integrand g(a)")
    for ax in (left, right):
        ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def plot_gaps(gaps: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]]) -> Figure:
    """Completeness gap (percent of ``|f(x) - f(baseline)|``, log scale) against the number of
    steps, one panel per baseline, one line per rule: ``gaps[baseline][rule] = [(steps, gap)]``,
    gaps as fractions."""
    figure = Figure(figsize=(4.2 * len(gaps) + 0.6, 3.3), dpi=DPI)
    axes = np.atleast_1d(figure.subplots(1, len(gaps), sharey=True))
    for ax, (baseline, rules) in zip(axes, gaps.items(), strict=True):
        for rule, points in rules.items():
            marker, line = _STYLES.get(rule, ("x", "-"))
            steps, values = zip(*points, strict=True)
            ax.plot(steps, [100 * max(v, 1e-6) for v in values], marker=marker, linestyle=line,
                    markersize=7 if rule == "gausslegendre" else 4, label=rule)
        ax.axhline(1, color="0.5", linewidth=0.8, linestyle=":")
        ax.set(xscale="log", yscale="log", xlabel="steps", title=f"{baseline} baseline")
        ax.set_xticks([1, 2, 4, 8, 16, 32, 64], labels=["1", "2", "4", "8", "16", "32", "64"])
        ax.legend(fontsize=8)
    axes[0].set_ylabel("completeness gap (%)")
    figure.tight_layout()
    return figure


#: The scoreboard's panels: column, title, and which way is better.
_PANELS = (("deletion", "deletion AUC (lower is better)"),
           ("insertion", "insertion AUC (higher is better)"),
           ("pointing", "pointing game hit rate"),
           ("rho", "rank correlation after randomization\n(lower: depends on the weights)"),
           ("passes", "cost: forward + backward passes\n(log scale)"))


def _missing(row: Mapping[str, object], key: str) -> str:
    """What a panel says where a row has no number: the model cannot run the method ("n/a"),
    the judge skipped it ("not run"), or randomization made its map constant ("constant")."""
    if "error" in row:
        return "n/a"
    if key == "passes":
        return "0 (no model)"
    if key == "rho" and row.get("pointing") is not None:
        return "constant"
    return "not run"


def plot_scoreboard(rows: Sequence[Mapping[str, object]]) -> Figure:
    """One bar per method in each panel (deletion, insertion, pointing, randomization's last
    rho, and the cost: forward + backward passes of one map, log scale); where a row has no
    number the panel says why (:func:`_missing`). ``rows`` hold ``"method"``, ``"forward"``,
    ``"backward"`` and those four keys (a number or ``None``), or ``"error"`` for a method the
    model cannot run."""
    methods = [str(row["method"]) for row in rows]
    rows = [{**row, "passes": (int(row["forward"]) + int(row["backward"])) or None}  # type: ignore[call-overload]
            if "forward" in row else dict(row) for row in rows]
    figure = Figure(figsize=(13.0, 0.28 * len(rows) + 1.4), dpi=DPI)
    axes = figure.subplots(1, len(_PANELS), sharey=True)
    positions = np.arange(len(rows))
    for ax, (key, title) in zip(axes, _PANELS, strict=True):
        values = [row.get(key) for row in rows]
        shown = [i for i, v in enumerate(values) if v is not None]
        ax.barh(positions[shown], [float(values[i]) for i in shown], color="#3b6ea8")  # type: ignore[arg-type]
        for i in sorted(set(range(len(rows))) - set(shown)):
            ax.text(0.01, i, _missing(rows[i], key), va="center", fontsize=7, color="0.35",
                    transform=ax.get_yaxis_transform())  # x in the panel, y at the row
        if key == "passes":
            ax.set_xscale("log")
        else:
            ax.axvline(0, color="0.3", linewidth=0.8)
        ax.set_title(title, fontsize=9)
    axes[0].set_yticks(positions, labels=methods, fontsize=8)
    axes[0].invert_yaxis()
    figure.tight_layout()
    return figure
