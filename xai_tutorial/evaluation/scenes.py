"""Scenes for the pointing game: two pictures pasted at seeded random places and scales.

By default the cat's face (from the sample "chelsea") and the cup (from "coffee"); a lesson passes
its own photos (:func:`scene_object`). The boxes of a generated scene are known exactly, so the
pointing game needs no annotations. :func:`batched_cam` gives lesson 02's CAM of many scenes, a
few images per forward pass.
"""

from __future__ import annotations

import random as _random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from ..cam import cam_from_features, cam_layers
from ..classification import Classifier
from ..core.errors import InputError
from ..core.hooks import capture, check_identity, not_cam
from ..core.images import ImageSource
from ..core.inputs import check_batch, check_classes, check_whole
from .methods import BATCH_PIXELS
from .pointing import Box

__all__ = [
    "CAT_CROP",
    "CUP_CROP",
    "SCENE_CROPS",
    "Scene",
    "batched_cam",
    "make_scene",
    "pointing_scenes",
    "scene_batch",
    "scene_object",
]

#: Regions of the sample photos pasted into scenes: the cat's face, the cup on its saucer.
CAT_CROP: Box = (0, 0, 420, 300)  # in "chelsea" (451 x 300)
CUP_CROP: Box = (70, 20, 490, 395)  # in "coffee" (600 x 400)
#: The part of a bundled sample that :func:`scene_object` pastes; any other picture goes whole.
SCENE_CROPS: dict[str, Box] = {"chelsea": CAT_CROP, "coffee": CUP_CROP}


def scene_object(source: ImageSource) -> Image.Image:
    """The picture a scene pastes for ``source`` (anything :func:`~xai_tutorial.load_image`
    takes): a sample named in :data:`SCENE_CROPS` cropped to its object, any other picture whole.

    Raises:
        InputError / ImageLoadError: what :func:`~xai_tutorial.load_image` raises for ``source``.
    """
    from ..core.images import load_image

    picture = load_image(source)
    crop = SCENE_CROPS.get(source) if isinstance(source, str) else None
    if crop is not None and crop[2] <= picture.width and crop[3] <= picture.height:
        picture = picture.crop(crop)
    return picture


def _default_objects() -> dict[str, Image.Image]:
    return {"cat": scene_object("chelsea"), "cup": scene_object("coffee")}


def _check_objects(objects: object) -> dict[str, Image.Image]:
    """``objects`` as a dict of RGB pictures (default: the cat and the cup)."""
    if objects is None:
        return _default_objects()
    if not isinstance(objects, Mapping) or not objects or not all(
        isinstance(k, str) and isinstance(v, Image.Image) for k, v in objects.items()
    ):
        raise InputError("objects: give a dict of names to PIL images, e.g. {'first': "
                         "scene_object(PHOTO), 'second': scene_object(SECOND_PHOTO)}")
    if len(objects) > 4:
        raise InputError(f"objects: {len(objects)} pictures; a scene holds at most 4")
    return {name: picture.convert("RGB") for name, picture in objects.items()}


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


def make_scene(seed: int, size: int = 224,
               objects: Mapping[str, Image.Image] | None = None) -> Scene:
    """The ``objects`` (default: the cat's face and the cup, as ``"cat"`` and ``"cup"``) pasted
    at seeded random places and scales on a plain background, ``size x size`` pixels.

    Each object's longer side is 30-55% of ``size``; they never overlap (200 tries each); the
    background is a random light grey. The same seed and objects give the same scene; its boxes
    are keyed by the objects' names.
    """
    return _make_scene(seed, _check_size(size), _check_objects(objects))


def _check_size(size: object) -> int:
    return check_whole("size", size, "must be a whole number of pixels, 16 to 1024", low=16,
                       high=1025)


def _make_scene(seed: int, size: int, sources: dict[str, Image.Image]) -> Scene:
    """:func:`make_scene` of a checked size and objects."""
    rng = _random.Random(seed)
    background = rng.randint(170, 235)
    canvas = Image.new("RGB", (size, size), (background,) * 3)
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


def pointing_scenes(n: int = 50, seed: int = 0, size: int = 224,
                    objects: Mapping[str, Image.Image] | None = None) -> list[Scene]:
    """``n`` scenes from :func:`make_scene` with the same ``objects``, seeds ``seed, seed + 1,
    ...`` (at most 2,000 scenes)."""
    n = check_whole("n", n, "must be a whole number of scenes, 1 to 2000", low=1, high=2001)
    size, sources = _check_size(size), _check_objects(objects)
    return [_make_scene(seed + i, size, sources) for i in range(n)]


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
    """CAM of ``classes`` for every image of ``batch``: ``(N, K, h, w)``.

    The same product as :func:`~xai_tutorial.evaluation.cam` (``CAM_c = sum_k w_ck F_k``, lesson
    02's :func:`~xai_tutorial.cam.cam_from_features`), for many scenes, with the same check of
    ``mean(CAM_c) + b_c = logit_c`` for every image (:func:`~xai_tutorial.core.hooks.
    check_identity`). The images go through the network a few at a time (at most
    :data:`~xai_tutorial.evaluation.BATCH_PIXELS` pixels per forward pass), so memory stays near
    one small batch's activations however many scenes there are.

    Raises:
        InputError: a bad batch or class, or a model for which CAM is not exact.
    """
    x = check_batch(batch, single=False)
    pooling, fc = cam_layers(classifier)
    owner = classifier.name or type(classifier.model).__name__
    indices = check_classes(classes, classifier.categories, fc.out_features, owner=owner)
    chunk = max(1, BATCH_PIXELS // (int(x.shape[2]) * int(x.shape[3])))
    return torch.cat([_cam_chunk(classifier, x[first : first + chunk], pooling, fc, indices,
                                 owner) for first in range(0, int(x.shape[0]), chunk)])


def _cam_chunk(classifier: Classifier, x: torch.Tensor, pooling: str, fc: torch.nn.Linear,
               indices: list[int], owner: str) -> torch.Tensor:
    """:func:`batched_cam` of one checked chunk: one forward pass, ``(n, K, h, w)``."""
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
    # the chunk's images side by side as one (channels, n h, w) feature map: one product
    side_by_side = features.transpose(0, 1).reshape(channels, n * h, w)
    maps = cam_from_features(side_by_side, weights).view(-1, n, h, w).transpose(0, 1).contiguous()
    check_identity(maps.mean(dim=(2, 3)) + bias, logits[:, indices], model=owner,
                   what="mean(CAM) + bias")
    return maps
