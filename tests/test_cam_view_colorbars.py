"""The CAM figures' colour bars read the overlay's colours back as raw CAM values."""

from __future__ import annotations

import torch

from xai_tutorial import load_image
from xai_tutorial.cam_view import plot_overlays

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
