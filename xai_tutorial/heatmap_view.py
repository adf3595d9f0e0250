"""Colour bars for the heatmap figures; the heatmap chain itself lives in the core.

The chain (scale -> upsample -> colour -> blend, :func:`heatmap_overlay`) is
:mod:`xai_tutorial.core.heatmap`; its names are re-exported here so the lessons' old imports
keep working. This module adds what only a figure needs: a colour bar that reads an overlay's
colours back as raw values.
"""

from __future__ import annotations

from .core.colormaps import COLORMAPS, check_colormap, colormap
from .core.heatmap import (
    DEFAULT_CMAP,
    HeatmapStyle,
    Scale,
    blend,
    colorize,
    heatmap_overlay,
    map_to_size,
    overlay,
    peak,
    scale_maps,
    shared_reference,
    upsample,
)

__all__ = [
    "COLORMAPS",
    "DEFAULT_CMAP",
    "HeatmapStyle",
    "Scale",
    "add_colorbar",
    "blend",
    "check_colormap",
    "colorize",
    "heatmap_overlay",
    "map_to_size",
    "overlay",
    "peak",
    "scale_maps",
    "shared_reference",
    "upsample",
]


def add_colorbar(figure, axes, lo: float, hi: float, cmap: str, label: str,
                 orientation: str = "vertical") -> None:
    """A colour bar that reads an overlay's colours back as raw values ``lo .. hi`` (the range
    the map was scaled with), so the colours mean numbers and not only "more" or "less"."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    horizontal = orientation == "horizontal"
    bar = figure.colorbar(ScalarMappable(Normalize(lo, hi), cmap=colormap(cmap)), ax=axes,
                          orientation=orientation, shrink=0.9,
                          **({"fraction": 0.06, "pad": 0.02, "aspect": 15} if horizontal else {}))
    bar.set_label(label, fontsize=7 if horizontal else 8)
    bar.ax.tick_params(labelsize=6 if horizontal else 8)
    if horizontal:  # a few ticks, and 0 whenever the range crosses it (where "for" turns "against")
        ticks = [t for t in MaxNLocator(3).tick_values(lo, hi) if lo <= t <= hi]
        if lo < 0 < hi and 0 not in ticks:
            ticks = sorted([*(t for t in ticks if abs(t) > 0.15 * (hi - lo)), 0.0])
        bar.set_ticks(ticks)
