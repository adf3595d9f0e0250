"""Scenes for the pointing game: the cat and the cup at seeded random places and scales.

The boxes of a generated scene are known exactly, so the pointing game needs no annotations.
:func:`batched_cam` gives lesson 02's CAM of many scenes in one forward pass.
"""

from __future__ import annotations

import random as _random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from ..cam import cam_from_features, cam_layers
from ..classification import Classifier
from ..core.errors import InputError
from ..core.hooks import capture, check_identity, not_cam
from ..core.inputs import check_batch, check_classes
from .pointing import Box

__all__ = [
    "CAT_CROP",
    "CUP_CROP",
    "Scene",
    "batched_cam",
    "make_scene",
    "pointing_scenes",
    "scene_batch",
]

#: Regions of the sample photos pasted into scenes: the cat's face, the cup on its saucer.
CAT_CROP: Box = (0, 0, 420, 300)  # in "chelsea" (451 x 300)
CUP_CROP: Box = (70, 20, 490, 395)  # in "coffee" (600 x 400)


@dataclass(frozen=True)
class Scene:
    """A generated picture with the boxes of what it shows.

    Attributes:
        image: the picture, ``size x size`` pixels.
        boxes: ``{"cat": box, "cup": box}``, ``(left, top, right, bottom)`` in its pixels.
        seed: the scene's seed (it is rebuilt identically from it).
    """

    image: Image.Image
    boxes: dict[str, Box]
    seed: int


def make_scene(seed: int, size: int = 224) -> Scene:
    """The cat and the cup pasted at seeded random places and scales on a plain background.

    Each object's longer side is 30-55% of ``size``; they never overlap; the background is a
    random light grey. The same seed gives the same scene.
    """
    from ..core.images import sample_image

    rng = _random.Random(seed)
    background = rng.randint(170, 235)
    canvas = Image.new("RGB", (size, size), (background,) * 3)
    sources = {
        "cat": sample_image("chelsea").crop(CAT_CROP),
        "cup": sample_image("coffee").crop(CUP_CROP),
    }
    boxes: dict[str, Box] = {}
    for name, picture in sources.items():
        for _ in range(200):
            longer = rng.uniform(0.30, 0.55) * size
            ratio = longer / max(picture.size)
            w, h = max(1, round(picture.width * ratio)), max(1, round(picture.height * ratio))
            left, top = rng.randint(0, size - w), rng.randint(0, size - h)
            box = (left, top, left + w, top + h)
            if all(_overlap(box, other) == 0 for other in boxes.values()):
                break
        canvas.paste(picture.resize((w, h), Image.Resampling.LANCZOS), (left, top))
        boxes[name] = box
    return Scene(canvas, boxes, seed)


def _overlap(a: Box, b: Box) -> float:
    """The area two boxes share, ``max(width, 0) * max(height, 0)`` of their intersection."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(width, 0) * max(height, 0)


def pointing_scenes(n: int = 50, seed: int = 0, size: int = 224) -> list[Scene]:
    """``n`` scenes from :func:`make_scene`, seeds ``seed, seed + 1, ...``."""
    if n < 1:
        raise InputError(f"n {n}: must be at least 1 scene")
    return [make_scene(seed + i, size) for i in range(n)]


def scene_batch(classifier: Classifier, scenes: Sequence[Scene]) -> torch.Tensor:
    """The scenes as one ``(N, 3, size, size)`` batch, normalized for ``classifier``.

    The scenes are already at the network's input size, so only ``to_tensor`` and ``normalize``
    apply: the boxes stay in the same pixels as the maps.
    """
    from torchvision.transforms.functional import to_tensor

    return torch.stack([classifier.normalize(to_tensor(s.image)) for s in scenes])


def batched_cam(
    classifier: Classifier, batch: torch.Tensor, classes: Sequence[int | str] | int | str
) -> torch.Tensor:
    """CAM of ``classes`` for every image of ``batch`` in one forward pass: ``(N, K, h, w)``.

    The same product as :func:`~xai_tutorial.evaluation.cam` (``CAM_c = sum_k w_ck F_k``, lesson
    02's :func:`~xai_tutorial.cam.cam_from_features`), for many scenes at once, with the same
    check of ``mean(CAM_c) + b_c = logit_c`` for every image
    (:func:`~xai_tutorial.core.hooks.check_identity`).

    Raises:
        InputError: a bad batch or class, or a model for which CAM is not exact.
    """
    x = check_batch(batch, single=False)
    pooling, fc = cam_layers(classifier)
    owner = classifier.name or type(classifier.model).__name__
    indices = check_classes(classes, classifier.categories, fc.out_features, owner=owner)
    with torch.no_grad(), capture(classifier.model, pooling, "input") as store:
        logits = classifier.model(x)
    features = store.get("features")
    if features is None or features.ndim != 4 or features.shape[1] != fc.in_features:
        shape = None if features is None else tuple(features.shape)
        raise not_cam(owner, f"the input of {pooling!r} is {shape}, not (N, "
                             f"{fc.in_features}, h, w)")
    weights = fc.weight.detach()[indices]
    bias = fc.bias.detach()[indices] if fc.bias is not None else torch.zeros(len(indices))
    n, channels, h, w = features.shape
    # all N images side by side as one (channels, N h, w) feature map: one product for the batch
    side_by_side = features.transpose(0, 1).reshape(channels, n * h, w)
    maps = cam_from_features(side_by_side, weights).view(-1, n, h, w).transpose(0, 1).contiguous()
    check_identity(maps.mean(dim=(2, 3)) + bias, logits[:, indices], model=owner,
                   what="mean(CAM) + bias")
    return maps
