"""Lesson 02: Class Activation Maps (Zhou et al., 2016), done right.

A network that ends in global average pooling (GAP) and one linear layer computes the score of
class ``c`` as

    logit_c = sum_k w_ck * mean_{i,j} F_k[i, j] + b_c = mean_{i,j} CAM_c[i, j] + b_c,

where ``F`` (``K x h x w``) is the input of the pooling layer and ``w_c`` the classifier's row for
``c``. The Class Activation Map ``CAM_c[i, j] = sum_k w_ck F_k[i, j]`` is therefore exactly how
much each location adds to the class score. This module computes it from the tensor the pooling
actually sees (the 2020 tutorial hooked an earlier layer), without transposing it, for one class
or all classes in one batched product, and with hooks that never outlive the computation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ._files import atomic_path
from .classification import Classifier
from .images import ImageSource, load_image

Scale = Literal["minmax", "shared"]
SCALES: tuple[str, ...] = ("minmax", "shared")


# ----------------------------------------------------------------------------------------------
# Finding the layers and capturing the features


def find_cam_layers(model: nn.Module) -> tuple[str, str]:
    """Names of the global-average-pooling module and the final linear layer of ``model``.

    Works for the registry's models and any torchvision-style network whose head is
    ``AdaptiveAvgPool2d(1) -> flatten -> (dropout) -> Linear``.

    Raises:
        ValueError: no such pair exists; pass the names explicitly.
    """
    pooling = linear = None
    for name, module in model.named_modules():
        if isinstance(module, nn.AdaptiveAvgPool2d) and module.output_size in (1, (1, 1)):
            pooling = name
        elif isinstance(module, nn.Linear):
            linear = name
    if pooling is None or linear is None:
        raise ValueError(
            f"{type(model).__name__}: found no global-average-pooling layer followed by a linear "
            "classifier; pass pooling_layer= and fc_layer= by name"
        )
    return pooling, linear


def _module(model: nn.Module, name: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise ValueError(f"{name!r}: {type(model).__name__} has no such layer") from None


@contextmanager
def capture(model: nn.Module, layer: str, what: Literal["input", "output"] = "input") -> Iterator[
    dict[str, torch.Tensor]
]:
    """Record the input (or output) of ``model.<layer>`` during the forward passes in the block.

    The model is switched to eval mode inside the block; on leaving it, by any route, the hook is
    removed and every module's training mode is restored, so nothing of the capture survives.

    Yields:
        A dict that holds the tensor under ``"features"`` once the layer has run.
    """
    module = _module(model, layer)
    store: dict[str, torch.Tensor] = {}

    def hook(_: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        store["features"] = (inputs[0] if what == "input" else output).detach()

    # Remember each module's own mode (a model may mix them) and switch only if needed:
    # model.eval() walks every module, which costs more than the CAM product itself.
    training = [m for m in model.modules() if m.training]
    handle = module.register_forward_hook(hook)
    try:
        if training:
            model.eval()
        yield store
    finally:
        handle.remove()
        for m in training:
            m.training = True


def hook_count(model: nn.Module) -> int:
    """How many forward hooks are registered on ``model`` and its submodules (for tests)."""
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()
    )


# ----------------------------------------------------------------------------------------------
# The maps


@dataclass
class CAMResult:
    """Class Activation Maps of one image, with the forward pass they came from.

    Attributes:
        maps: raw, un-normalized maps ``(K, h, w)``; ``maps[i]`` belongs to ``classes[i]``.
        classes: the class indices, in the order of ``maps``.
        logits: the model's scores ``(num_classes,)`` from the same forward pass.
        features: the pooling layer's input ``(channels, h, w)``.
        weights: the classifier rows of ``classes``, ``(K, channels)``.
        bias: the classifier biases of ``classes``, ``(K,)`` (zeros when it has none).
        image: the picture the maps cover, when one was given (not a tensor).
        input_size: ``(H, W)`` of the tensor the network saw.
    """

    maps: torch.Tensor
    classes: list[int]
    logits: torch.Tensor
    features: torch.Tensor
    weights: torch.Tensor
    bias: torch.Tensor
    image: Image.Image | None = None
    input_size: tuple[int, int] = (0, 0)
    categories: list[str] = field(default_factory=list)

    @property
    def probabilities(self) -> torch.Tensor:
        return self.logits.softmax(0)

    def identity_error(self) -> float:
        """max over classes of |mean(CAM_c) + b_c - logit_c|: zero up to float rounding."""
        rebuilt = self.maps.mean(dim=(1, 2)) + self.bias
        return float((rebuilt - self.logits[self.classes]).abs().max())

    def map_for(self, index: int) -> torch.Tensor:
        """The raw map of class ``index`` (which must be among ``classes``)."""
        try:
            return self.maps[self.classes.index(index)]
        except ValueError:
            raise ValueError(f"class {index} is not among the computed maps") from None


def cam_from_features(
    features: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """CAM_c[i, j] = sum_k w_ck F_k[i, j] for every row ``c`` of ``weights`` at once.

    Args:
        features: ``(channels, h, w)``.
        weights: ``(K, channels)``.

    Returns:
        ``(K, h, w)``: rows stay rows and columns stay columns (no transposition).
    """
    return torch.einsum("kc,chw->khw", weights, features)


@torch.no_grad()
def class_activation_maps(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    classes: Sequence[int] | int | None = None,
    *,
    pooling_layer: str | None = None,
    fc_layer: str | None = None,
) -> CAMResult:
    """Class Activation Maps of ``inputs`` for ``classes`` (all classes when ``None``).

    One forward pass records the input of the global-average-pooling layer, ``F``; then one
    batched product with the classifier's weights gives ``CAM_c = sum_k w_ck F_k`` for every
    requested class. An image is preprocessed *without* cropping (shorter side resized to the
    network's input size), so the maps cover the whole picture.

    Args:
        classifier: a :class:`~xai_tutorial.Classifier`.
        inputs: anything :func:`~xai_tutorial.load_image` takes, or a preprocessed
            ``(1, 3, H, W)`` tensor.
        classes: class indices, one index, or ``None`` for all.
        pooling_layer: overrides the pooling layer's name (default: the classifier's, else found).
        fc_layer: overrides the linear layer's name (default: the classifier's, else found).

    Returns:
        A :class:`CAMResult` whose ``maps`` are raw scores, ``mean(maps[c]) + bias[c]`` being
        ``logit_c``.
    """
    model = classifier.model
    found = None
    if not (pooling_layer or classifier.pooling_layer) or not (fc_layer or classifier.fc_layer):
        found = find_cam_layers(model)
    pooling_name = pooling_layer or classifier.pooling_layer or found[0]  # type: ignore[index]
    fc_name = fc_layer or classifier.fc_layer or found[1]  # type: ignore[index]
    fc = _module(model, fc_name)
    if not isinstance(fc, nn.Linear):
        raise ValueError(f"{fc_name!r} is a {type(fc).__name__}, not a linear layer")

    image = None
    if isinstance(inputs, torch.Tensor):
        x = inputs
        if x.ndim != 4 or x.shape[0] != 1:
            raise ValueError(f"expected a (1, 3, H, W) tensor, got shape {tuple(x.shape)}")
    else:
        image = load_image(inputs)
        x = classifier.preprocess(image, crop=False)

    with capture(model, pooling_name, "input") as store:
        logits = model(x)[0]
    features = store["features"][0]

    if classes is None:
        indices = list(range(fc.out_features))
    elif isinstance(classes, int):
        indices = [classes]
    else:
        indices = [int(c) for c in classes]
    for c in indices:
        if not 0 <= c < fc.out_features:
            raise ValueError(f"class {c} is out of range: {fc_name} has {fc.out_features} outputs")
    weights = fc.weight[indices]
    bias = fc.bias[indices] if fc.bias is not None else torch.zeros(len(indices))
    return CAMResult(
        maps=cam_from_features(features, weights),
        classes=indices,
        logits=logits,
        features=features,
        weights=weights,
        bias=bias,
        image=image,
        input_size=(int(x.shape[2]), int(x.shape[3])),
        categories=list(classifier.categories),
    )


# ----------------------------------------------------------------------------------------------
# From raw maps to pictures


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(K, h, w)`` or ``(h, w)`` maps to ``size = (H, W)`` (rows, columns)."""
    maps = maps.detach()
    batch = maps if maps.ndim == 3 else maps[None]
    out = F.interpolate(batch[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    return out if maps.ndim == 3 else out[0]


def scale_maps(
    maps: torch.Tensor, scale: Scale = "minmax", reference: torch.Tensor | None = None
) -> torch.Tensor:
    """Map raw CAM values into [0, 1] for display.

    * ``"minmax"`` (the tutorial's): each map on its own, ``(m - min m) / (max m - min m)``, so
      every map uses the full colour range, however weak its evidence;
    * ``"shared"``: one range for all, ``(m - lo) / (hi - lo)`` with ``lo, hi`` the minimum and
      maximum over ``reference`` (default: ``maps`` themselves), so a class with weaker evidence
      looks weaker.

    Args:
        maps: ``(K, h, w)`` or ``(h, w)``.
        scale: ``"minmax"`` or ``"shared"``.
        reference: the maps that fix the shared range (e.g. all 1000 classes of the image).
    """
    if scale not in SCALES:
        raise ValueError(f"scale {scale!r}: choose one of {', '.join(SCALES)}")
    maps = maps.detach()
    batch = maps if maps.ndim == 3 else maps[None]
    if scale == "minmax":
        lo = batch.amin(dim=(1, 2), keepdim=True)
        hi = batch.amax(dim=(1, 2), keepdim=True)
    else:
        ref = batch if reference is None else reference
        lo, hi = ref.min(), ref.max()
    out = ((batch - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)
    return out if maps.ndim == 3 else out[0]


def colorize(map01: torch.Tensor | np.ndarray, cmap: str = "jet") -> np.ndarray:
    """An ``(H, W)`` map in [0, 1] as ``(H, W, 3)`` uint8 RGB, through a matplotlib colormap."""
    import matplotlib

    values = map01.detach().cpu().numpy() if isinstance(map01, torch.Tensor) else np.asarray(map01)
    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(f"colormap {cmap!r}: not a matplotlib colormap") from None
    return (colormap(values)[..., :3] * 255).round().astype(np.uint8)


def blend(photo: np.ndarray, heat: np.ndarray, alpha: float) -> np.ndarray:
    """``(1 - alpha) * photo + alpha * heat``: ``alpha`` is the heatmap's opacity.

    ``alpha = 0`` shows the photo only, ``1`` the heatmap only, ``0.5`` the tutorial's 50/50 mix.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {alpha}: must be between 0 (photo only) and 1 (heatmap only)")
    mixed = photo.astype(np.float32) * (1.0 - alpha) + heat.astype(np.float32) * alpha
    return mixed.round().astype(np.uint8)


def overlay(
    image: ImageSource, map01: torch.Tensor, alpha: float = 0.5, cmap: str = "jet"
) -> Image.Image:
    """The map coloured and laid over ``image`` at the image's own size."""
    picture = load_image(image)
    size = (picture.height, picture.width)
    if tuple(map01.shape) != size:
        map01 = upsample(map01, size)
    return Image.fromarray(blend(np.asarray(picture), colorize(map01, cmap), alpha))


def peak(map_: torch.Tensor) -> tuple[int, int]:
    """``(row, column)`` of a map's maximum."""
    flat = int(torch.argmax(map_))
    return divmod(flat, int(map_.shape[-1]))


def _save_jpeg(picture: Image.Image, path: Path) -> None:
    with atomic_path(path) as partial:
        picture.save(partial, "JPEG", quality=92)


def save_cam(
    image: ImageSource,
    map01: torch.Tensor,
    out_dir: str | Path = ".",
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
) -> tuple[Path, Path]:
    """Write the tutorial's ``heatmap.jpg`` and ``combined.jpg`` at the image's size.

    Each file is written to a temporary name and moved into place, so a failure never leaves a
    half-written JPEG.

    Returns:
        The paths of ``heatmap.jpg`` and ``combined.jpg``.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{str(out)!r}: is a file, not a folder for heatmap.jpg and combined.jpg")
    picture = load_image(image)
    size = (picture.height, picture.width)
    full = upsample(map01, size) if tuple(map01.shape) != size else map01
    heat = colorize(full, cmap)
    combined = blend(np.asarray(picture), heat, alpha)  # checks alpha before writing anything
    out.mkdir(parents=True, exist_ok=True)
    heatmap_path, combined_path = out / "heatmap.jpg", out / "combined.jpg"
    _save_jpeg(Image.fromarray(heat), heatmap_path)
    _save_jpeg(Image.fromarray(combined), combined_path)
    return heatmap_path, combined_path


# ----------------------------------------------------------------------------------------------
# The 2020 tutorial's mistakes, reproduced so the lesson can show them next to the fix


def tutorial_transposed_cam(features: torch.Tensor, weight_row: torch.Tensor) -> torch.Tensor:
    """The 2020 tutorial's ``(features.T * weights).sum(2)``, kept only to show its bug.

    With ``features`` of shape ``(channels, h, w)``, ``features.T`` is ``(w, h, channels)``, so the
    result is ``(w, h)``: the map comes out transposed. On a square input this goes unnoticed
    (the picture is merely mirrored along its diagonal); on a non-square one the shape is wrong.
    """
    return (features.permute(2, 1, 0) * weight_row).sum(2)  # what .T does to a 3-D tensor


# ----------------------------------------------------------------------------------------------
# Figures for the lesson


def plot_raw_map(map_: torch.Tensor, title: str = "raw CAM", cmap: str = "jet"):
    """The raw map as its small grid of cells, with a colour bar of its values."""
    from matplotlib.figure import Figure

    h, w = map_.shape
    figure = Figure(figsize=(1.2 + 0.45 * w, 0.6 + 0.45 * h))
    ax = figure.subplots()
    shown = ax.imshow(map_.detach().cpu().numpy(), cmap=cmap)
    figure.colorbar(shown, ax=ax)
    ax.set_title(f"{title} ({h}x{w})")
    ax.set_xticks([])
    ax.set_yticks([])
    figure.tight_layout()
    return figure


def plot_overlays(
    image: ImageSource,
    maps: dict[str, torch.Tensor],
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    scale: Scale = "minmax",
    reference: torch.Tensor | None = None,
    columns: int | None = None,
):
    """Raw maps, titled, each scaled, upsampled to the image and laid over it.

    With ``scale="shared"`` the range comes from ``reference`` (e.g. ``result.maps``, all classes)
    or, by default, from the maps shown.
    """
    from matplotlib.figure import Figure

    picture = load_image(image)
    size = (picture.height, picture.width)
    if scale == "shared" and reference is None:
        lo = min(float(m.min()) for m in maps.values())
        hi = max(float(m.max()) for m in maps.values())
        reference = torch.tensor([lo, hi])
    columns = columns or len(maps)
    rows = -(-len(maps) // columns)
    aspect = picture.height / picture.width
    figure = Figure(figsize=(4.2 * columns, 4.2 * aspect * rows + 0.5))
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for ax, (title, map_) in zip(axes, maps.items(), strict=False):
        map01 = scale_maps(map_, scale, reference if scale == "shared" else None)
        ax.imshow(overlay(picture, upsample(map01, size), alpha=alpha, cmap=cmap))
        ax.set_title(title)
        ax.axis("off")
    for ax in axes[len(maps):]:
        ax.axis("off")
    figure.tight_layout()
    return figure
