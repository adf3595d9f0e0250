"""The CAM figures' colour bars read the overlay's colours back as raw CAM values, in the
package's colormaps, with text legible at the notebooks' 100 dpi; the colormap comparison of
lesson 02."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from xai_tutorial import InputError, load_image
from xai_tutorial.cam_view import plot_colormap_comparison, plot_overlays, plot_raw_map
from xai_tutorial.heatmap_view import DEFAULT_CMAP, DIVERGING_CMAP, add_colorbar

MAPS = {"a": torch.arange(12.0).reshape(3, 4), "b": -torch.arange(12.0).reshape(3, 4) / 2}


def colorbars(figure):
    return [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]


def test_minmax_gives_each_map_its_own_range():
    bars = colorbars(plot_overlays(load_image("chelsea"), MAPS))
    assert [ax.get_ylim() for ax in bars] == [(0.0, 11.0), (-5.5, 0.0)]
    assert all(ax.get_ylabel() == "raw CAM value" for ax in bars)


def test_shared_gives_one_bar_for_the_reference_range():
    photo = load_image("chelsea")
    bars = colorbars(plot_overlays(photo, MAPS, scale="shared"))
    assert len(bars) == 1 and bars[0].get_ylim() == (-5.5, 11.0)
    reference = torch.tensor([-20.0, 30.0])
    bars = colorbars(plot_overlays(photo, MAPS, scale="shared", reference=reference))
    assert bars[0].get_ylim() == (-20.0, 30.0)


def test_colorbars_can_be_left_out():
    figure = plot_overlays(load_image("chelsea"), MAPS, colorbar=False)
    assert colorbars(figure) == [] and len(figure.axes) == 2


def test_signed_gives_each_map_a_bar_centred_on_zero():
    bars = colorbars(plot_overlays(load_image("chelsea"), MAPS, scale="signed",
                                   cmap=DIVERGING_CMAP))
    assert [ax.get_ylim() for ax in bars] == [(-11.0, 11.0), (-5.5, 5.5)]


def test_the_colour_bars_default_to_the_packages_colormap():
    figure = plot_overlays(load_image("chelsea"), MAPS)
    assert [bar._colorbar.cmap.name for bar in colorbars(figure)] == [DEFAULT_CMAP] * 2
    assert plot_raw_map(MAPS["a"]).axes[0].images[0].cmap.name == DEFAULT_CMAP


def lightness_of(names):
    from skimage.color import rgb2lab

    ramp = np.linspace(0, 1, 256)
    return {n: rgb2lab(matplotlib.colormaps[n](ramp)[:, :3])[:, 0] for n in names}


def test_colormap_comparison_shows_each_colormap_and_its_lightness():
    lightness = lightness_of(["jet", DEFAULT_CMAP])
    figure = plot_colormap_comparison(load_image("chelsea"), MAPS["a"], lightness)
    pictures = [ax for ax in figure.axes if ax.images]
    assert [ax.get_title() for ax in pictures] == [
        "jet", "jet: lightness L*", DEFAULT_CMAP, f"{DEFAULT_CMAP}: lightness L*"]
    grey = pictures[3].images[0].get_array()
    assert grey.shape == (300, 451) and grey.min() >= 0 and grey.max() <= 100
    curve = next(ax for ax in figure.axes if not ax.images and ax.collections)
    assert len(curve.collections) == 2 and curve.get_ylim() == (0, 100)
    with pytest.raises(InputError, match="256 colours"):
        plot_colormap_comparison(load_image("chelsea"), MAPS["a"], {"jet": np.zeros(10)})
    with pytest.raises(InputError, match="colormap"):
        plot_colormap_comparison(load_image("chelsea"), MAPS["a"], {"nope": np.zeros(256)})


@pytest.mark.parametrize("draw", [
    lambda: plot_overlays(load_image("chelsea"), MAPS),
    lambda: plot_overlays(load_image("chelsea"), MAPS, scale="signed", cmap=DIVERGING_CMAP),
    lambda: plot_raw_map(MAPS["a"]),
    lambda: plot_colormap_comparison(load_image("chelsea"), MAPS["a"],
                                     lightness_of(["jet", DEFAULT_CMAP])),
], ids=["overlays", "signed", "raw", "comparison"])
def test_no_text_under_7_points(draw):
    """Saved at 100 dpi (``make notebooks``), 7 pt is 9.7 px: legible."""
    from test_figures import drawn_texts

    sizes = [points for _, points in drawn_texts(draw(), dpi=100)]
    assert sizes and min(sizes) >= 7, sorted(set(sizes))


def test_a_horizontal_colour_bar_is_legible_too():
    from matplotlib.figure import Figure
    from test_figures import drawn_texts

    figure = Figure(figsize=(3, 2))
    add_colorbar(figure, figure.subplots(), -1.0, 2.0, DIVERGING_CMAP, "contrast",
                 orientation="horizontal")
    assert min(points for _, points in drawn_texts(figure, dpi=100)) >= 7


def zero_lines(bar_ax):
    return [line for line in bar_ax.lines if set(line.get_ydata()) == {0.0}]


@pytest.mark.parametrize("lo, hi", [(-1.8, 33.1), (-12.9, 33.1), (-0.42, 17.5), (-5.4, 0.71),
                                    (1.4, 15.7), (-11.0, -2.0)])
def test_a_vertical_colour_bar_marks_zero_when_the_range_crosses_it(lo, hi):
    """A CAM is signed: where its range crosses 0 the bar has a tick "0" and a line at 0, so
    magma's dark end reads as "lowest, maybe against", not "no evidence"."""
    from matplotlib.figure import Figure

    figure = Figure()
    add_colorbar(figure, figure.subplots(), lo, hi, DEFAULT_CMAP, "raw CAM value")
    bar = colorbars(figure)[0]
    ticks = list(bar.get_yticks())
    assert all(lo <= t <= hi for t in ticks) and len(ticks) >= 2, ticks
    crosses = lo < 0 < hi
    assert (0.0 in ticks) == crosses, (lo, hi, ticks)
    assert len(zero_lines(bar)) == int(crosses)


def test_overlay_and_raw_map_bars_mark_zero():
    bars = colorbars(plot_overlays(load_image("chelsea"), {"signed": MAPS["a"] - 3.0,
                                                             "positive": MAPS["a"] + 1.0}))
    assert [0.0 in bar.get_yticks() for bar in bars] == [True, False]
    assert [len(zero_lines(bar)) for bar in bars] == [1, 0]
    shared = colorbars(plot_overlays(load_image("chelsea"), MAPS, scale="shared"))[0]
    assert 0.0 in shared.get_yticks() and len(zero_lines(shared)) == 1
    raw = colorbars(plot_raw_map(MAPS["b"] + 2.0))[0]
    assert raw.get_ylim() == (-3.5, 2.0) and 0.0 in raw.get_yticks()
    assert len(zero_lines(raw)) == 1 and raw.get_ylabel() == "raw CAM value"
