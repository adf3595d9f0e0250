"""Lesson 03's picture of what the network sees: a preprocessed input, un-normalized.

Preprocessing normalizes each channel, ``x = (p - mean) / std`` with ``p`` in [0, 1]; undoing it
gives ``p = clamp(x * std + mean, 0, 1)``, shown as 8-bit pixels ``round(255 p)``. No figure is
drawn here (that is :mod:`xai_tutorial.decision_trees_view`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from ..core.errors import InputError


def unnormalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> Image.Image:
    """The picture ``round(255 * clamp(x * std + mean, 0, 1))`` of one preprocessed input.

    Args:
        x: ``(C, H, W)``, ``C`` 1 (an ``"L"`` picture) or 3 (``"RGB"``).
        mean, std: the preprocessing's per-channel normalization (one value for all channels,
            or one per channel).

    Raises:
        InputError: ``x`` has another number of channels (there is no picture of it).
    """
    if x.ndim != 3 or x.shape[0] not in (1, 3):
        raise InputError(f"a model input of shape {tuple(x.shape)} has no picture: only 1 "
                         "(grey) or 3 (RGB) channels can be shown")
    shift = torch.tensor(tuple(mean), dtype=torch.float32)[:, None, None]
    scale = torch.tensor(tuple(std), dtype=torch.float32)[:, None, None]
    pixels = ((x.detach().float() * scale + shift).clamp(0, 1) * 255).round().byte()
    if pixels.shape[0] == 1:
        return Image.fromarray(pixels[0].numpy(), "L")
    return Image.fromarray(pixels.permute(1, 2, 0).numpy(), "RGB")
