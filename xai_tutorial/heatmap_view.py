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
    DIVERGING_CMAP,
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
    "DIVERGING_CMAP",
    "HeatmapStyle",
    "Scale",
    "add_colorbar",
    "blend",
    "check_colormap",
    "colorize",
    "colorbar_range",
    "heatmap_overlay",
    "map_to_size",
    "overlay",
    "peak",
    "scale_maps",
    "shared_reference",
    "upsample",
]


#: The smallest font of any figure: 7 pt is 9.7 px at the 100 dpi the notebooks are saved at.
MIN_FONT_PT = 7


def colorbar_range(map_, scale: Scale = "minmax", reference=None) -> tuple[float, float]:
    """The raw values ``(lo, hi)`` that the colours of a map scaled with ``scale`` stand for:
    its own minimum and maximum (``"minmax"``), the reference's (``"shared"``), or
    ``(-max |m|, max |m|)`` (``"signed"``, so 0 sits in the middle of the bar)."""
    if scale == "signed":
        bound = float(map_.abs().max())
        return -bound, bound
    source = reference if scale == "shared" and reference is not None else map_
    return float(source.min()), float(source.max())


def add_colorbar(figure, axes, lo: float, hi: float, cmap: str = DEFAULT_CMAP,
                 label: str = "raw value", orientation: str = "vertical") -> None:
    """A colour bar that reads an overlay's colours back as raw values ``lo .. hi`` (the range
    the map was scaled with), so the colours mean numbers and not only "more" or "less".

    Its label and tick labels are at least :data:`MIN_FONT_PT` points (legible when saved at
    100 dpi)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    horizontal = orientation == "horizontal"
    norm = Normalize(lo, hi)
    bar = figure.colorbar(ScalarMappable(norm, cmap=colormap(cmap)), ax=axes,
                          orientation=orientation, shrink=0.9,
                          **({"fraction": 0.06, "pad": 0.02, "aspect": 15} if horizontal else {}))
    bar.set_label(label, fontsize=MIN_FONT_PT if horizontal else 8)
    bar.ax.tick_params(labelsize=MIN_FONT_PT if horizontal else 8)
    # A few ticks, and 0 whenever the range crosses it (where "for" turns "against").
    ticks = [t for t in MaxNLocator(3 if horizontal else 6).tick_values(lo, hi) if lo <= t <= hi]
    if lo < 0 < hi:
        if 0 not in ticks:
            ticks = sorted([*(t for t in ticks if abs(t) > 0.15 * (hi - lo)), 0.0])
        _mark_zero(bar, colormap(cmap)(norm(0.0)), horizontal)
    bar.set_ticks(ticks)


def _mark_zero(bar, colour_at_zero: tuple[float, ...], horizontal: bool) -> None:
    """A thin line across the bar at 0, dark on a light colour and light on a dark one."""
    red, green, blue = colour_at_zero[:3]
    line = "black" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.4 else "white"
    draw = bar.ax.axvline if horizontal else bar.ax.axhline
    draw(0.0, color=line, linewidth=0.8)
