"""Lesson 03's NBDTs by name: networks, preprocessing, checkpoints and :func:`load_nbdt`.

* ``"fashion"``: :class:`FashionCNN` trained offline on Fashion-MNIST with tree supervision; its
  weights, hierarchy and metrics ship in ``xai_tutorial/data/fashion``;
* ``"cifar10"``: the 2020 tutorial's WideResNet-28-10 NBDT, from the verified checkpoint that
  ``python -m xai_tutorial fetch nbdt_cifar10`` cached (:data:`CIFAR10_ARCH` builds the network;
  tests set it to a small one);
* ``"imagenet"``: the bundled EfficientNet-Lite0 read as a tree induced from its ``fc`` rows,
  NOT trained for trees.

Every builder leaves the network in eval mode, as nbdt does when it wraps one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn

from ..core._files import printable
from ..core.checkpoints import CheckpointMismatch, read_state_dict
from ..core.downloads import get_download, load_checkpoint
from ..core.errors import CacheError, InputError, UnknownNameError
from . import compat
from .explainer import NBDTExplainer
from .hierarchy import package_data

FASHION_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
#: The WordNet synset of each Fashion-MNIST class (its leaf in the hierarchy).
FASHION_SYNSETS: tuple[str, ...] = (
    "tee_shirt.n.01", "trouser.n.01", "pullover.n.01", "dress.n.01", "coat.n.01",
    "sandal.n.01", "shirt.n.01", "gym_shoe.n.01", "bag.n.04", "boot.n.01",
)
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530

#: The 1000 ImageNet wnids in class-index order (nbdt ships them).
IMAGENET_WNIDS_FILE = ("wnids", "Imagenet1000.txt")

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)


class FashionCNN(nn.Module):
    """A small CNN for 28x28 grey images that ends in global average pooling and one ``fc``."""

    def __init__(self, num_classes: int = 10, width: int = 32) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                    nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(1, width // 2), *block(width // 2, width), nn.MaxPool2d(2),
            *block(width, 2 * width), nn.MaxPool2d(2),
            *block(2 * width, 3 * width),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(3 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``fc(GAP(features(x)))``: ``(N, 1, 28, 28)`` -> ``(N, classes)`` logits."""
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


# ----------------------------------------------------------------------------------------------
# Preprocessing and checkpoints


def fashion_preprocess(image: Image.Image) -> torch.Tensor:
    """A photo -> a Fashion-MNIST-like ``(1, 1, 28, 28)`` tensor: grey, object bright on dark,
    padded to a square, ``(p - FASHION_MEAN) / FASHION_STD`` with ``p`` in [0, 1].

    Fashion-MNIST items are light on a black background; a photo with a light background (border
    mean > 127) is inverted so the model sees the same kind of picture. Precondition: a PIL image
    (any mode ``ImageOps.grayscale`` takes).
    """
    grey = ImageOps.grayscale(image)
    pixels = np.asarray(grey, dtype=np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if border.mean() > 127:
        grey = ImageOps.invert(grey)
    grey = ImageOps.pad(grey, (28, 28), color=0) if grey.size != (28, 28) else grey
    x = torch.from_numpy(np.asarray(grey, dtype=np.float32) / 255.0)
    return ((x - FASHION_MEAN) / FASHION_STD)[None, None]


def cifar_preprocess(image: Image.Image) -> torch.Tensor:
    """The tutorial's CIFAR-10 preprocessing: resize and center-crop to 32 px, then
    ``(p - CIFAR10_MEAN) / CIFAR10_STD`` per channel. Precondition: an RGB PIL image."""
    from torchvision import transforms

    transform = transforms.Compose([
        transforms.Resize(32), transforms.CenterCrop(32), transforms.ToTensor(),
        transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD),
    ])
    return transform(image)[None]


def load_fashion_network(path: Path | None = None) -> FashionCNN:
    """The shipped Fashion-MNIST CNN (trained with tree supervision), in eval mode."""
    model = FashionCNN()
    source = path or package_data("fashion", "weights.pt")
    state = torch.load(source, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in state.items()})
    return model.eval()


def _wrn28_10_cifar10() -> nn.Module:
    from pytorchcv.models.wrn_cifar import wrn28_10_cifar10

    return wrn28_10_cifar10()


#: Builds the CIFAR-10 network (tests swap in a small one; the tutorial's is WRN-28-10, whose
#: pooling is ``features.final_pool`` and whose classifier is ``output``).
CIFAR10_ARCH: tuple[str, Callable[[], nn.Module]] = ("wrn28_10_cifar10", _wrn28_10_cifar10)


def load_cifar10_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """Load a CIFAR-10 checkpoint file safely (``weights_only=True`` plus numpy's scalar types,
    the only extra types such training checkpoints hold), through the core's one loader.

    Raises:
        InputError: not a regular file, not a loadable checkpoint, or not a dict.
    """
    try:
        return read_state_dict(Path(path), None)
    except CheckpointMismatch as exc:
        raise InputError(f"{printable(path)}: {exc}") from None


def _nbdt_file(path: Path) -> Path:
    """nbdt's data paths are relative to its package folder."""
    if path.is_file():
        return path
    import importlib.util

    spec = importlib.util.find_spec("nbdt")
    assert spec is not None and spec.origin is not None
    parts = [part for part in path.parts if part != "."]
    if parts and parts[0] == "nbdt":
        parts = parts[1:]
    return Path(spec.origin).parent.joinpath(*parts)


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet wnids in class-index order."""
    return _nbdt_file(Path(*IMAGENET_WNIDS_FILE)).read_text().split()


# ----------------------------------------------------------------------------------------------
# The registry


def _rules_kind(soft: bool) -> type:
    compat.apply()
    from nbdt.model import HardNBDT, SoftNBDT

    return SoftNBDT if soft else HardNBDT


def _fashion(soft: bool) -> NBDTExplainer:
    path_graph = package_data("fashion", "graph.json")
    path_wnids = package_data("fashion", "wnids.txt")
    model = _rules_kind(soft)(dataset="FashionMNIST", model=load_fashion_network(),
                              path_graph=str(path_graph), path_wnids=str(path_wnids),
                              classes=FASHION_CLASSES)
    return NBDTExplainer("fashion", model, FASHION_CLASSES, path_graph, path_wnids,
                         fashion_preprocess, soft, pooling_layer="pool", fc_layer="fc",
                         mean=(FASHION_MEAN,), std=(FASHION_STD,))


def _cifar10(soft: bool) -> NBDTExplainer:
    item = get_download("nbdt_cifar10")
    state = load_checkpoint(item)  # verified: hash record, size, keys and shapes (CacheError)
    arch, build = CIFAR10_ARCH
    # The tutorial's call, minus pretrained=True (which would download): we load the verified
    # checkpoint from our cache instead. nbdt puts the network in eval mode.
    model = _rules_kind(soft)(pretrained=False, dataset="CIFAR10", arch=arch, model=build())
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError) as exc:  # a network other than the checkpoint's
        first = " ".join(str(exc).split())[:160]
        raise CacheError(f"nbdt_cifar10: {printable(item.path)} does not fit the {arch} "
                         f"network ({first})") from None
    from nbdt.utils import dataset_to_default_path_wnids, hierarchy_to_path_graph

    path_graph = Path(hierarchy_to_path_graph("CIFAR10", "induced-wrn28_10_cifar10"))
    path_wnids = Path(dataset_to_default_path_wnids("CIFAR10"))
    return NBDTExplainer("cifar10", model, CIFAR10_CLASSES, _nbdt_file(path_graph),
                         _nbdt_file(path_wnids), cifar_preprocess, soft,
                         pooling_layer="features.final_pool", fc_layer="output",
                         mean=CIFAR10_MEAN, std=CIFAR10_STD)


def _imagenet(soft: bool) -> NBDTExplainer:
    from ..classification import load_classifier

    classifier = load_classifier("efficientnet_lite0", quiet=True)
    path_graph = package_data("imagenet", "graph.json")
    path_wnids = package_data("imagenet", "wnids.txt")
    wnids = path_wnids.read_text().split()
    # ImageNet repeats two class names ("crane", "maillot"); nbdt maps names back to indices,
    # so it gets the (unique) wnids as its class names and we keep the readable ones.
    model = _rules_kind(soft)(dataset="Imagenet1000", model=classifier.model,
                              path_graph=str(path_graph), path_wnids=str(path_wnids),
                              classes=wnids)
    return NBDTExplainer(
        "imagenet", model, classifier.categories, path_graph, path_wnids,
        lambda image: classifier.preprocess(image), soft,
        pooling_layer=classifier.pooling_layer or "_avg_pooling",
        fc_layer=classifier.fc_layer or "_fc",
        mean=tuple(classifier.normalize.mean), std=tuple(classifier.normalize.std),
        trained_for_trees=False,
    )


#: NBDTs by name: ``builder(soft) -> NBDTExplainer``.
NBDTS: dict[str, Callable[[bool], NBDTExplainer]] = {
    "fashion": _fashion,
    "cifar10": _cifar10,
    "imagenet": _imagenet,
}

#: One line per NBDT, for listings and the notebook.
NBDT_DESCRIPTIONS: dict[str, str] = {
    "fashion": "small CNN trained on Fashion-MNIST with tree supervision (ships with the package)",
    "cifar10": "the 2020 tutorial's WideResNet-28-10 CIFAR-10 NBDT (needs `fetch nbdt_cifar10`)",
    "imagenet": "the bundled EfficientNet-Lite0 read as a tree induced from its fc rows; "
                "NOT trained for trees",
}


def load_nbdt(name: str = "fashion", soft: bool = False) -> NBDTExplainer:
    """Load an NBDT by name, offline.

    Args:
        name: a key of :data:`NBDTS`: ``"fashion"`` (ships with the package), ``"cifar10"``
            (the tutorial's; needs ``python -m xai_tutorial fetch nbdt_cifar10`` once) or
            ``"imagenet"`` (the bundled EfficientNet-Lite0, not trained for trees).
        soft: soft decision rules instead of hard ones.

    Raises:
        xai_tutorial.errors.UnknownNameError: unknown name (the message lists the choices).
        xai_tutorial.downloads.CacheError: the CIFAR-10 checkpoint is not downloaded.
    """
    try:
        build = NBDTS[name]
    except (KeyError, TypeError):
        raise UnknownNameError("NBDT", name, NBDTS) from None
    return build(soft)


def default_nbdt_name() -> tuple[str, str]:
    """``cifar10`` when its checkpoint is cached (and verified), else ``fashion``; and why."""
    if get_download("nbdt_cifar10").state() == "cached":
        return "cifar10", "the tutorial's CIFAR-10 NBDT checkpoint is cached"
    return "fashion", (
        "the tutorial's CIFAR-10 NBDT is not downloaded (`python -m xai_tutorial fetch "
        "nbdt_cifar10`); using the Fashion-MNIST NBDT that ships with the package"
    )


def shipped_metrics() -> dict:
    """The metrics file written by ``scripts/train_fashion_nbdt.py`` with the shipped model."""
    return json.loads(package_data("fashion", "metrics.json").read_text())
