"""The shared heatmap chain's colour and blend steps: matplotlib's colours, in row blocks."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from xai_tutorial.core import heatmap
from xai_tutorial.core.heatmap import blend, colorize


@pytest.mark.parametrize("cmap", ["jet", "viridis", "gray", "coolwarm"])
def test_colorize_is_matplotlibs_colormap_exactly(cmap, monkeypatch):
    monkeypatch.setattr(heatmap, "_BLOCK_PIXELS", 37)  # many blocks, the last one ragged
    rng = np.random.default_rng(0)
    values = rng.random((23, 17)).astype(np.float32)
    values[0, :4] = [0.0, 1.0, 255 / 256, 1 / 256]  # the table's edges
    expected = (matplotlib.colormaps[cmap](values)[..., :3] * 255).round().astype(np.uint8)
    assert np.array_equal(colorize(torch.from_numpy(values), cmap), expected)
    assert np.array_equal(colorize(values.clip(-1, 2) * 3 - 1, cmap)[0, 0], expected[0, 0])


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_blend_in_blocks_is_the_formula(alpha, monkeypatch):
    monkeypatch.setattr(heatmap, "_BLOCK_PIXELS", 41)
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (19, 13, 3), dtype=np.uint8)
    heat = rng.integers(0, 256, (19, 13, 3), dtype=np.uint8)
    expected = photo.astype(np.float32) * (1 - alpha) + heat.astype(np.float32) * alpha
    assert np.array_equal(blend(photo, heat, alpha), expected.round().astype(np.uint8))


def test_a_horizontal_colour_bar_marks_zero_when_the_range_crosses_it():
    from matplotlib.figure import Figure

    from xai_tutorial.heatmap_view import add_colorbar

    for lo, hi in ((-0.42, 17.5), (-5.8, 18.6), (-11.8, 9.2), (0.5, 19.2)):
        figure = Figure()
        add_colorbar(figure, figure.subplots(), lo, hi, "jet", "contrast", orientation="horizontal")
        bar = next(ax for ax in figure.axes if ax.get_label() == "<colorbar>")
        ticks = list(bar.get_xticks())
        assert all(lo <= t <= hi for t in ticks) and len(ticks) >= 2, ticks
        assert (0.0 in ticks) == (lo < 0 < hi), (lo, hi, ticks)
