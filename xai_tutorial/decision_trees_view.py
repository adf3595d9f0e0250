"""Lesson 03's figures: the tree with its decision path, and node activation maps (view).

The method (explanations, node maps) is in :mod:`xai_tutorial.decision_trees`; this module only
draws. Overlays go through one chain: scale -> upsample -> colour -> blend.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from .core.heatmap import DEFAULT_CMAP, DIVERGING_CMAP, Scale
from .core.images import ImageSource, load_image
from .decision_trees import Explanation, NBDTExplainer, NodeMap

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 80  # modest: figures are saved in the notebooks
#: The smallest font these figures use, in points (7 pt is 9.7 px at the notebooks' 100 dpi).
SMALL_FONT = 7


def overlay_map(picture: Image.Image, raw: torch.Tensor, alpha: float = 0.5,
                cmap: str = DEFAULT_CMAP, scale: Scale = "minmax") -> Image.Image:
    """A raw ``(h, w)`` map, scaled, upsampled, coloured and blended over ``picture`` (the
    package's one chain, :func:`xai_tutorial.heatmap_view.overlay`).

    The defaults suit a magnitude (``DEFAULT_CMAP``, each map min to max); a signed map such as a
    decision's contrast takes ``cmap=DIVERGING_CMAP, scale="signed"`` (``0.5 + 0.5 m / max|m|``:
    0 is the map's middle colour, white)."""
    from .heatmap_view import overlay

    return overlay(picture.convert("RGB"), raw.detach().float(), scale=scale, alpha=alpha,
                   cmap=cmap)


def contrast_overlay(picture: Image.Image, contrast: torch.Tensor, alpha: float = 0.5,
                     cmap: str = DIVERGING_CMAP) -> Image.Image:
    """A decision's signed contrast map over ``picture``, centred on zero: with the default
    diverging map, red is evidence for the chosen child, blue evidence against it, and 0 is the
    map's white with ``alpha=1`` (the map alone), and white mixed with the picture below 1 (with
    ``alpha=0.5``, mid-grey over a black background)."""
    return overlay_map(picture, contrast, alpha, cmap, scale="signed")


def _contrast_colorbar(figure: Figure, ax: Axes, contrast: torch.Tensor, cmap: str) -> None:
    """A horizontal bar reading the overlay's colours back as raw contrast: symmetric about 0,
    ``-max|m| .. +max|m|`` (the range :func:`contrast_overlay` scales with), ticks at both ends
    and at 0, in ``SMALL_FONT``-point type."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from .core.colormaps import colormap

    bound = max(float(contrast.abs().max()), 1e-12)
    bar = figure.colorbar(ScalarMappable(Normalize(-bound, bound), cmap=colormap(cmap)), ax=ax,
                          orientation="horizontal", shrink=0.9, fraction=0.06, pad=0.02,
                          aspect=15)
    bar.set_ticks([-bound, 0.0, bound])
    bar.set_ticklabels([f"{-bound:.3g}", "0", f"{bound:.3g}"])
    bar.ax.tick_params(labelsize=SMALL_FONT)
    bar.set_label("contrast (red: for, blue: against)", fontsize=SMALL_FONT)


def decision_caption(node_map: NodeMap, width: int = 44) -> str:
    """``"→ garment (97.31%)"``: the branch taken (long names shortened) and its probability."""
    name = textwrap.shorten(node_map.decision, width, placeholder=" …")
    return f"→ {name} ({node_map.probability:.2%})"


def _enlarged(picture: Image.Image, side: int = 224) -> Image.Image:
    """Small model inputs (28 px) enlarged with visible pixels, for overlays."""
    if max(picture.size) >= side:
        return picture
    factor = max(1, side // max(picture.size))
    return picture.resize((picture.width * factor, picture.height * factor), Image.NEAREST)


def _outline(ax: Axes, picture: Image.Image, shown_size: tuple[int, int], grid: int = 28) -> None:
    """A thin black contour of ``picture`` (greyed and shrunk to ``grid`` px on its longer side)
    at the midpoint of its darkest and brightest values, drawn over an image of ``shown_size``:
    where the object is, without tinting the map's colours."""
    factor = max(picture.size) / grid
    small = picture.convert("L")
    if factor > 1:
        small = small.resize((max(1, round(picture.width / factor)),
                              max(1, round(picture.height / factor))), Image.BILINEAR)
    grey = np.asarray(small, dtype=np.float32)
    low, high = float(grey.min()), float(grey.max())
    if high - low < 1.0:
        return  # a flat picture has no outline
    rows, cols = grey.shape
    xs = (np.arange(cols) + 0.5) * shown_size[0] / cols - 0.5
    ys = (np.arange(rows) + 0.5) * shown_size[1] / rows - 0.5
    ax.contour(xs, ys, grey, levels=[(low + high) / 2], colors="black", linewidths=0.9)


def plot_node_maps(explainer: NBDTExplainer, image: ImageSource,
                   explanation: Explanation | None = None,
                   node_maps: Sequence[NodeMap] | None = None, alpha: float = 1.0,
                   columns: int = 6, colorbar: bool = True,
                   cmap: str = DIVERGING_CMAP, outline: bool = True) -> Figure:
    """The input, the picture the model sees, then one contrast map per decision on the path.

    Each map is the decision's contrast (the chosen child's map minus the mean of the other
    children's), captioned with the decision and its probability, coloured centred on zero
    (:func:`contrast_overlay`, ``scale="signed"``: red for the chosen child, blue against it).
    By default (``alpha=1``) the map is drawn on its own, not blended with the picture, so its
    colours are exactly the bar's: 0 is white (a 50/50 blend over a black background would turn
    it grey). ``outline`` draws the picture the model sees as a thin black contour over each map;
    ``alpha < 1`` blends the map over the picture instead. With ``colorbar`` (the default) a bar
    under each map, symmetric about 0, reads its colours back as raw contrast values. Each map is
    scaled by its own ``max |m|``, so the same shade of red means different values in different
    panels; 0 is white in all of them.
    """
    from matplotlib.figure import Figure

    picture = load_image(image)  # free for an image load_image returned: decoded once
    x = explainer.model_input(picture)  # preprocessed once, for the maps and the picture
    if explanation is None or node_maps is None:
        explanation, node_maps = explainer.explain_with_maps(x)
    model_picture = explainer.model_picture(x)
    seen = _enlarged(model_picture)
    panels = [(picture, "input", None), (seen, "what the model sees", None)]
    panels += [(contrast_overlay(seen, m.contrast, alpha, cmap),
                f"{step}. {decision_caption(m)}", m.contrast)
               for step, m in enumerate(node_maps, 1)]
    rows = -(-len(panels) // columns)
    cols = min(columns, len(panels))
    figure = Figure(figsize=(2.0 * cols, (3.2 if colorbar else 2.6) * rows + 0.3), dpi=DPI,
                    layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (shown, title, raw) in zip(axes.flat, panels, strict=False):
        ax.imshow(shown, cmap="gray" if shown.mode == "L" else None)
        ax.set_title("\n".join(textwrap.wrap(title, 28)), fontsize=8)
        if raw is not None and outline:
            _outline(ax, model_picture, shown.size)
        if colorbar and raw is not None:
            _contrast_colorbar(figure, ax, raw, cmap)
    figure.suptitle(f"{explainer.name} NBDT: {explanation.prediction}", fontsize=10)
    return figure


def save_node_maps(explainer: NBDTExplainer, image: ImageSource, folder: Path,
                   alpha: float = 0.5, node_maps: Sequence[NodeMap] | None = None) -> list[Path]:
    """Write one overlay per decision into ``folder`` (``01-<child>.png``, ...): all or none.

    Each is the decision's contrast map blended 50/50 over the picture the model sees, centred
    on zero (:func:`contrast_overlay`: red for the branch taken, blue against; 0 is white mixed
    with the picture, mid-grey over a black background). ``node_maps``, if the caller already has
    them (from ``explain_with_maps``), saves a second forward pass.

    Returns:
        The paths written, in path order.
    """
    from .core._files import atomic_paths

    x = explainer.model_input(load_image(image))  # decoded once (free if already loaded)
    if node_maps is None:
        _, node_maps = explainer.explain_with_maps(x)
    seen = _enlarged(explainer.model_picture(x))
    folder = Path(folder)
    pictures = {}
    for step, node_map in enumerate(node_maps, 1):
        slug = "".join(c if c.isalnum() else "-" for c in node_map.decision.lower())
        slug = "-".join(part for part in slug.split("-") if part)[:60]
        pictures[folder / f"{step:02d}-{slug}.png"] = contrast_overlay(seen, node_map.contrast,
                                                                       alpha)
    with atomic_paths(*pictures) as partials:
        for shown, partial in zip(pictures.values(), partials, strict=True):
            shown.save(partial, "PNG")
    return list(pictures)


def plot_tree(explainer: NBDTExplainer, explanation: Explanation | None = None,
              ax: Axes | None = None, show_leaves: bool = False) -> Figure:
    """Draw the hierarchy top-down; the decision path, if given, in red with its probabilities.

    With ``show_leaves``, each inner node lists the classes under it.
    """
    from matplotlib.figure import Figure

    children, root = explainer.children, explainer.root

    positions: dict[str, tuple[float, float]] = {}
    next_x = [0.0]

    def place(node: str, depth: int) -> float:
        kids = children.get(node, [])
        if kids:
            x = float(np.mean([place(k, depth + 1) for k in kids]))
        else:
            x = next_x[0]
            next_x[0] += 1.0
        positions[node] = (x, -depth)
        return x

    place(root, 0)
    depth = -min(y for _, y in positions.values())
    if ax is None:
        width = max(8.0, 0.95 * next_x[0])
        ax = Figure(figsize=(width, 1.3 * depth + 1.8), dpi=DPI).subplots()
    path = [root] + ([d.wnid for d in explanation.decisions] if explanation else [])
    on_path = set(zip(path, path[1:], strict=False))
    probability = {d.wnid: d.probability for d in (explanation.decisions if explanation else ())}
    for parent, child in explainer.edges:
        (x0, y0), (x1, y1) = positions[parent], positions[child]
        hot = (parent, child) in on_path
        ax.plot([x0, x1], [y0, y1], color="#d62728" if hot else "#bbbbbb",
                linewidth=2.5 if hot else 1.0, zorder=1)
        if hot:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2, f"{probability[child]:.2%}", fontsize=8,
                    color="#d62728", ha="center", va="center",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"}, zorder=3)
    for node, (x, y) in positions.items():
        hot = node in path
        leaf = node not in children
        text = explainer.labels.get(node, node)
        if show_leaves and not leaf:
            text = "\n".join(textwrap.wrap(text, 18))
            text += "\n[" + "\n".join(textwrap.wrap(", ".join(explainer.leaves(node)), 22)) + "]"
        ax.text(x, y, text, ha="center",
                va="top" if leaf else "center", rotation=90 if leaf else 0,
                fontsize=7 if show_leaves else 8, fontweight="bold" if hot else "normal",
                zorder=4,
                bbox={"boxstyle": "round,pad=0.25", "fc": "#fde0dc" if hot else "white",
                      "ec": "#d62728" if hot else "#999999"})
    title = f"{explainer.name} NBDT"
    if explanation is not None:
        title += f": {explanation.prediction}"
    ax.set_title(title)
    ax.set_xlim(-0.8, next_x[0] - 0.2)
    ax.set_ylim(-depth - 1.4, 0.6)
    ax.axis("off")
    ax.figure.tight_layout()
    return ax.figure
