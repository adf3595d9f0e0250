"""The shared heatmap chain's colour and blend steps: matplotlib's colours, in row blocks."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from xai_tutorial.core import heatmap
from xai_tutorial.core.heatmap import (
    DEFAULT_CMAP,
    DIVERGING_CMAP,
    blend,
    colorize,
    heatmap_overlay,
    scale_maps,
)


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
        add_colorbar(figure, figure.subplots(), lo, hi, DIVERGING_CMAP, "contrast",
                     orientation="horizontal")
        bar = next(ax for ax in figure.axes if ax.get_label() == "<colorbar>")
        ticks = list(bar.get_xticks())
        assert all(lo <= t <= hi for t in ticks) and len(ticks) >= 2, ticks
        assert (0.0 in ticks) == (lo < 0 < hi), (lo, hi, ticks)


def test_signed_scale_puts_zero_in_the_middle_and_is_symmetric():
    """``0.5 + 0.5 m / max |m|`` per map: 0 -> 0.5 (the diverging map's white), +-max|m| -> 1 and
    0, and m and -m mirror each other around 0.5, whatever the map's own min and max."""
    maps = torch.tensor([[[-2.0, 0.0, 1.0], [4.0, -1.0, 0.5]],
                         [[0.0, 3.0, 1.5], [0.0, 0.75, 3.0]]])  # the second: never negative
    signed = scale_maps(maps, "signed")
    assert torch.allclose(signed[0], 0.5 + 0.5 * maps[0] / 4.0)
    assert torch.allclose(signed[1], 0.5 + 0.5 * maps[1] / 3.0)
    assert float(signed[0, 0, 1]) == 0.5 and float(signed[1, 0, 0]) == 0.5  # 0 is the middle
    assert float(signed[0, 1, 0]) == 1.0 and float(signed[1, 1, 2]) == 1.0
    assert torch.allclose(scale_maps(-maps, "signed"), 1.0 - signed)  # symmetric
    assert torch.equal(scale_maps(maps[0], "signed"), signed[0])  # one 2-d map alike
    assert torch.equal(scale_maps(torch.zeros(2, 3), "signed"), torch.full((2, 3), 0.5))
    # min-max would have put 0 somewhere else: at 1/3 of the first map's range
    assert float(scale_maps(maps[0], "minmax")[0, 1]) == pytest.approx(2 / 6)


def test_signed_maps_draw_zero_in_the_diverging_maps_middle_colour():
    """Coloured with ``DIVERGING_CMAP`` (RdBu_r), 0 is its near-white middle, evidence for is red,
    against is blue, and equal and opposite values get mirrored colours."""
    from PIL import Image

    picture = Image.new("RGB", (3, 1))
    raw = torch.tensor([[-3.0, 0.0, 3.0]])
    heat, _ = heatmap_overlay(picture, raw, scale="signed", cmap=DIVERGING_CMAP, alpha=1.0)
    middle = (np.array(matplotlib.colormaps[DIVERGING_CMAP](0.5)[:3]) * 255).round()
    assert np.array_equal(heat[0, 1], middle.astype(np.uint8))
    assert heat[0, 1].min() > 230  # near white
    blue, red = heat[0, 0].astype(int), heat[0, 2].astype(int)
    assert red[0] > red[2] and blue[2] > blue[0]


def test_the_default_colormaps_are_perceptual_and_not_rainbows():
    """Lesson 02's argument, as a test: the default's lightness L* only rises along its ramp;
    jet's rises and falls. The diverging map's lightness peaks in its middle (at 0)."""
    from skimage.color import rgb2lab

    ramp = np.linspace(0, 1, 256)

    def lightness(name):
        return rgb2lab(matplotlib.colormaps[name](ramp)[:, :3])[:, 0]

    assert DEFAULT_CMAP not in ("jet", "hsv", "rainbow", "turbo", "gist_rainbow", "nipy_spectral")
    assert np.all(np.diff(lightness(DEFAULT_CMAP)) > 0)
    jet = np.diff(lightness("jet"))
    assert (jet > 0).any() and (jet < 0).any()
    diverging = lightness(DIVERGING_CMAP)
    assert abs(int(diverging.argmax()) - 127.5) < 8
