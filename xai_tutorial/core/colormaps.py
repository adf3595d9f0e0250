"""Colormap names to colour tables: the core's one use of matplotlib.

Only ``matplotlib.colormaps`` (the registry of colour tables) is imported, lazily, never pyplot or
a figure: a colour table is data the heatmap chain needs, not a view. The layering test allows
this module, and only this one outside the views and widgets, to import matplotlib.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .errors import InputError
from .inputs import shown

__all__ = ["COLORMAPS", "check_colormap", "colormap", "lookup_table"]

#: The colormaps the widgets offer (any matplotlib colormap name is accepted): perceptually
#: uniform ones first (the default, magma, leads), then ``jet``, the 2020 tutorial's rainbow, for
#: comparison only (lesson 02 shows why it misleads).
COLORMAPS: tuple[str, ...] = ("magma", "viridis", "inferno", "cividis", "gray", "jet")


@cache
def colormap(cmap: str):
    """The matplotlib ``Colormap`` called ``cmap`` (``KeyError`` if none). Precondition: a str."""
    import matplotlib

    return matplotlib.colormaps[cmap]


def check_colormap(cmap: object) -> str:
    """A matplotlib colormap name (e.g. ``"magma"``, ``"viridis"``).

    Raises:
        InputError: not a colormap name.
    """
    if isinstance(cmap, str):
        try:
            colormap(cmap)
            return cmap
        except KeyError:
            pass
    raise InputError(
        f"colormap {shown(cmap)}: not a matplotlib colormap (e.g. {', '.join(COLORMAPS)})"
    )


@cache
def lookup_table(cmap: str) -> np.ndarray:
    """The colormap's 256 colours as ``round(255 * rgb)``, uint8 ``(256, 3)``.

    Precondition: ``cmap`` passed :func:`check_colormap`."""
    colours = colormap(cmap)(np.arange(256))[:, :3]
    return (colours * 255).round().astype(np.uint8)
