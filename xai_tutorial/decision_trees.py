"""Lesson 03: Neural-Backed Decision Trees (Wan et al., 2021) with the ``nbdt`` library.

An NBDT keeps a network's features and replaces its final linear layer by a tree. Every inner
node ``n`` decides between its children; child ``k``'s score is the mean of the logits of the
classes (leaves) under it, which is the same as using the *average of those classes' weight
vectors*:

    score_k(x) = mean_{c in leaves(k)} (w_c . f(x) + b_c) = w_k . f(x) + b_k,
    w_k = mean_{c in leaves(k)} w_c.

A hard NBDT follows the most probable child (softmax over the children's scores) from the root
to a leaf; a soft NBDT multiplies the probabilities along every path and picks the most likely
leaf. The hierarchy is *induced* from the classifier's weights (agglomerative clustering of the
rows of ``W``), and its inner nodes are named after WordNet's common hypernyms of their leaves.

Two NBDTs are available through :func:`load_nbdt`:

* ``"fashion"``: a small CNN trained offline on Fashion-MNIST with nbdt's tree supervision loss;
  its weights, WordNet-named hierarchy and metrics ship with this package;
* ``"cifar10"``: the 2020 tutorial's WideResNet-28-10 CIFAR-10 NBDT, once its checkpoint has been
  fetched (``python -m xai_tutorial fetch nbdt_cifar10``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn

from . import nbdt_compat
from .downloads import get_download, verify
from .images import ImageSource, load_image

# ----------------------------------------------------------------------------------------------
# Fashion-MNIST

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
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def package_data(*parts: str) -> Path:
    """A file shipped in ``xai_tutorial/data``."""
    return Path(str(resources.files("xai_tutorial").joinpath("data", *parts)))


# ----------------------------------------------------------------------------------------------
# Hierarchies


def synset_wnid(name: str) -> str:
    """WordNet's id (``n`` + 8-digit offset) of a synset such as ``"boot.n.01"``."""
    from nltk.corpus import wordnet as wn

    synset = wn.synset(name)
    return f"{synset.pos()}{synset.offset():08d}"


def induce_hierarchy(
    fc_weight: torch.Tensor,
    wnids: Sequence[str],
    class_names: Sequence[str],
    path_graph: Path,
    path_wnids: Path,
) -> dict[str, str]:
    """Induce a binary hierarchy from classifier rows and name its inner nodes with WordNet.

    Uses nbdt's own ``build_induced_graph`` (Ward clustering of the rows of ``fc_weight``;
    each merge is named after the deepest WordNet hypernym its leaves share). Leaves are then
    labelled with ``class_names`` and underscores become spaces, so that the graph JSON carries
    every name and WordNet is not needed to *use* the hierarchy.

    Returns:
        ``{wnid: label}`` for every node.
    """
    nbdt_compat.apply()
    if not nbdt_compat.wordnet_available():
        raise RuntimeError(
            "WordNet is not installed for nltk: it is needed to name a new hierarchy "
            "(`make data` installs it offline from Debian's wordnet-base)"
        )
    import networkx as nx
    from nbdt.graph import build_induced_graph, write_graph

    graph = build_induced_graph(list(wnids), checkpoint=None,
                                state_dict={"fc.weight": fc_weight.detach().float()})
    labels = {wnid: name for wnid, name in zip(wnids, class_names, strict=True)}
    for node, data in graph.nodes(data=True):
        if node not in labels:
            labels[node] = str(data.get("label", node)).replace("_", " ")
    nx.set_node_attributes(graph, labels, "label")
    path_graph.parent.mkdir(parents=True, exist_ok=True)
    write_graph(graph, str(path_graph))
    path_wnids.write_text("".join(f"{w}\n" for w in wnids))
    return labels


def read_hierarchy(path_graph: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """``({wnid: label}, [(parent, child), ...])`` from a graph JSON, in one read (no WordNet)."""
    data = json.loads(Path(path_graph).read_text())
    labels = {str(n["id"]): str(n.get("label") or "") for n in data["nodes"]}
    edges = [(str(e["source"]), str(e["target"])) for e in data["links"]]
    return labels, edges


def read_labels(path_graph: Path) -> dict[str, str]:
    """``{wnid: label}`` from a graph JSON (no WordNet)."""
    return read_hierarchy(path_graph)[0]


# ----------------------------------------------------------------------------------------------
# Explanations


@dataclass(frozen=True)
class Decision:
    """One step down the tree: the child chosen and the probability of choosing it."""

    name: str
    probability: float
    wnid: str = ""


@dataclass(frozen=True)
class Explanation:
    """An NBDT's prediction and the decisions that led to it (root excluded)."""

    prediction: str
    decisions: tuple[Decision, ...]

    def __str__(self) -> str:
        steps = ", ".join(f"{d.name} ({d.probability:.2%})" for d in self.decisions)
        return f"Prediction: {self.prediction} // Decisions: {steps}"

    def as_dict(self) -> dict:
        return {
            "prediction": self.prediction,
            "decisions": [{"name": d.name, "probability": d.probability}
                          for d in self.decisions],
        }


class NBDTExplainer:
    """An nbdt ``HardNBDT``/``SoftNBDT`` with its preprocessing and readable names.

    Args:
        name: ``"fashion"`` or ``"cifar10"``.
        nbdt_model: the nbdt model (wraps the network and its decision rules).
        classes: class names, index-aligned with the network's outputs.
        path_graph: the hierarchy's graph JSON (its ``label`` fields name every node).
        preprocess: image -> ``(1, C, H, W)`` tensor.
        soft: whether the rules are soft.
    """

    def __init__(self, name: str, nbdt_model: nn.Module, classes: Sequence[str],
                 path_graph: Path, path_wnids: Path,
                 preprocess: Callable[[Image.Image], torch.Tensor], soft: bool) -> None:
        self.name = name
        self.nbdt = nbdt_model.eval()
        self.network = nbdt_model.model
        self.classes = list(classes)
        self.path_graph = Path(path_graph)
        self.path_wnids = Path(path_wnids)
        self.labels, self.edges = read_hierarchy(path_graph)
        self.wnids = self.path_wnids.read_text().split()  # leaf wnid of each class index
        self.children: dict[str, list[str]] = {}  # each inner node's children, in order
        for parent, child in self.edges:
            self.children.setdefault(parent, []).append(child)
        targets = {child for _, child in self.edges}
        self.root = next(parent for parent, _ in self.edges if parent not in targets)
        self.preprocess = preprocess
        self.soft = soft

    def __repr__(self) -> str:
        kind = "soft" if self.soft else "hard"
        return f"NBDTExplainer({self.name!r}, {kind}, {len(self.labels)} nodes)"

    def _name(self, wnid: str) -> str:
        label = self.labels.get(wnid) or ""
        if not label or label == "(generated)":
            raise ValueError(f"hierarchy node {wnid} has no name in {self.path_graph}")
        return label

    @torch.no_grad()
    def explain_tensor(self, x: torch.Tensor) -> list[Explanation]:
        """Explanations for a preprocessed batch."""
        logits = self.network(x)
        outputs, decisions = self.nbdt.rules.forward_with_decisions(logits)
        explanations = []
        for i, (row, path) in enumerate(zip(outputs, decisions, strict=True)):
            predicted = int(row.argmax())
            leaf = self.wnids[predicted]
            steps = []
            for parent, step in zip(path, path[1:], strict=False):  # path[0] is the root
                node = step.get("node")
                wnid = node.wnid if node is not None else leaf  # nbdt gives no node for leaves
                probability = step.get("prob")
                if probability is None:  # nbdt's soft rules give the path without them
                    probability = self._child_probability(parent["node"], wnid, logits[i])
                steps.append((wnid, float(probability)))
            explanations.append(Explanation(
                prediction=self.classes[predicted],
                decisions=tuple(Decision(self._name(w), p, w) for w, p in steps),
            ))
        return explanations

    def _child_probability(self, parent, child: str, logits: torch.Tensor) -> float:
        """softmax over the parent's child scores (mean leaf logits), at the chosen child."""
        from nbdt.loss import HardTreeSupLoss

        scores = HardTreeSupLoss.get_output_sub(logits[None], parent)[0].softmax(0)
        return float(scores[parent.children.index(child)])

    def explain(self, image: ImageSource) -> Explanation:
        """Classify ``image`` and say which decisions led there."""
        return self.explain_tensor(self.preprocess(load_image(image)))[0]

    def leaf_indices(self, node: str) -> list[int]:
        """The class indices of the leaves under ``node`` (itself, if a leaf)."""
        def walk(n: str) -> list[int]:
            if n not in self.children:
                return [self.wnids.index(n)]
            return [i for c in self.children[n] for i in walk(c)]

        return walk(node)

    def node_weights(self) -> dict[str, torch.Tensor]:
        """Each inner node's child weight vectors: the mean of the ``fc`` rows of its leaves."""
        fc = getattr(self.network, "fc", None) or self.network.output  # pytorchcv: .output
        rows = fc.weight.detach()
        return {
            node: torch.stack([rows[self.leaf_indices(c)].mean(0) for c in kids])
            for node, kids in self.children.items()
        }


def _fashion_preprocess(image: Image.Image) -> torch.Tensor:
    """A photo -> a Fashion-MNIST-like 28x28 tensor: grey, object bright on dark, centred.

    Fashion-MNIST items are light on a black background; a photo with a light background is
    inverted so the model sees the same kind of picture.
    """
    grey = ImageOps.grayscale(image)
    pixels = np.asarray(grey, dtype=np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if border.mean() > 127:
        grey = ImageOps.invert(grey)
    grey = ImageOps.pad(grey, (28, 28), color=0) if grey.size != (28, 28) else grey
    x = torch.from_numpy(np.asarray(grey, dtype=np.float32) / 255.0)
    return ((x - FASHION_MEAN) / FASHION_STD)[None, None]


def _cifar_preprocess(image: Image.Image) -> torch.Tensor:
    """The tutorial's CIFAR-10 preprocessing: resize and center-crop to 32 px, normalize."""
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


#: Builds the CIFAR-10 network (tests swap in a small one; the tutorial's is WRN-28-10).
CIFAR10_ARCH: tuple[str, Callable[[], nn.Module]] = ("wrn28_10_cifar10", _wrn28_10_cifar10)


def load_cifar10_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """Load nbdt's released checkpoint safely: ``weights_only=True`` plus numpy's scalar types,
    the only extra types such training checkpoints hold (e.g. a numpy ``acc``)."""
    core = getattr(np, "_core", None) or np.core  # numpy 2 moved numpy.core to numpy._core
    scalar = core.multiarray.scalar
    allowed: list = [
        np.dtype, scalar,
        (scalar, "numpy.core.multiarray.scalar"),  # the name in pickles made with numpy 1.x
        *(type(np.dtype(kind)) for kind in (np.float64, np.float32, np.int64, np.int32)),
    ]
    try:
        with torch.serialization.safe_globals(allowed):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors come in many types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: not a loadable checkpoint ({first})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict of tensors, found {type(data).__name__}")
    return data


def load_nbdt(name: str = "fashion", soft: bool = False) -> NBDTExplainer:
    """Load an NBDT by name, offline.

    Args:
        name: ``"fashion"`` (ships with the package) or ``"cifar10"`` (the tutorial's; needs
            ``python -m xai_tutorial fetch nbdt_cifar10`` once).
        soft: soft decision rules instead of hard ones.

    Raises:
        ValueError: unknown name.
        xai_tutorial.downloads.CacheError: the CIFAR-10 checkpoint is not downloaded.
    """
    nbdt_compat.apply()
    from nbdt.model import HardNBDT, SoftNBDT

    kind = SoftNBDT if soft else HardNBDT
    if name == "fashion":
        path_graph = package_data("fashion", "graph.json")
        path_wnids = package_data("fashion", "wnids.txt")
        model = kind(dataset="FashionMNIST", model=load_fashion_network(),
                     path_graph=str(path_graph), path_wnids=str(path_wnids),
                     classes=FASHION_CLASSES)
        return NBDTExplainer("fashion", model, FASHION_CLASSES, path_graph, path_wnids,
                             _fashion_preprocess, soft)
    if name == "cifar10":
        checkpoint = verify(get_download("nbdt_cifar10"))
        arch, build = CIFAR10_ARCH
        # The tutorial's call, minus pretrained=True (which would download): we load the
        # verified checkpoint from our cache instead.
        model = kind(pretrained=False, dataset="CIFAR10", arch=arch, model=build())
        model.load_state_dict(load_cifar10_checkpoint(checkpoint))
        from nbdt.utils import dataset_to_default_path_wnids, hierarchy_to_path_graph

        path_graph = Path(hierarchy_to_path_graph("CIFAR10", "induced-wrn28_10_cifar10"))
        path_wnids = Path(dataset_to_default_path_wnids("CIFAR10"))
        return NBDTExplainer("cifar10", model, CIFAR10_CLASSES, _nbdt_file(path_graph),
                             _nbdt_file(path_wnids), _cifar_preprocess, soft)
    raise ValueError(f"{name!r}: no such NBDT; choose fashion or cifar10")


def _nbdt_file(path: Path) -> Path:
    """nbdt's data paths are relative to its package folder."""
    if path.is_file():
        return path
    import nbdt

    return Path(nbdt.__file__).parent / str(path).replace("./nbdt/", "", 1)


def default_nbdt_name() -> tuple[str, str]:
    """``cifar10`` when its checkpoint is cached, else ``fashion``; and why."""
    if get_download("nbdt_cifar10").is_cached():
        return "cifar10", "the tutorial's CIFAR-10 NBDT checkpoint is cached"
    return "fashion", (
        "the tutorial's CIFAR-10 NBDT is not downloaded (`python -m xai_tutorial fetch "
        "nbdt_cifar10`); using the Fashion-MNIST NBDT that ships with the package"
    )


def shipped_metrics() -> dict:
    """The metrics file written by ``scripts/train_fashion_nbdt.py`` with the shipped model."""
    return json.loads(package_data("fashion", "metrics.json").read_text())


# ----------------------------------------------------------------------------------------------
# The tree picture


def plot_tree(explainer: NBDTExplainer, explanation: Explanation | None = None, ax=None):
    """Draw the hierarchy top-down; the decision path, if given, in red with its probabilities."""
    from matplotlib.figure import Figure

    children, root = explainer.children, explainer.root

    positions: dict[str, tuple[float, float]] = {}
    next_x = [0.0]

    def place(node: str, depth: int) -> float:
        kids = children.get(node, [])
        if kids:
            x = float(np.mean([place(k, depth + 1) for k in kids]))
        else:
            x = next_x[0]
            next_x[0] += 1.0
        positions[node] = (x, -depth)
        return x

    place(root, 0)
    depth = -min(y for _, y in positions.values())
    if ax is None:
        width = max(8.0, 1.25 * next_x[0])
        ax = Figure(figsize=(width, 1.1 * depth + 1.6)).subplots()
    path = [root] + ([d.wnid for d in explanation.decisions] if explanation else [])
    on_path = set(zip(path, path[1:], strict=False))
    probability = {d.wnid: d.probability for d in (explanation.decisions if explanation else ())}
    for parent, child in explainer.edges:
        (x0, y0), (x1, y1) = positions[parent], positions[child]
        hot = (parent, child) in on_path
        ax.plot([x0, x1], [y0, y1], color="#d62728" if hot else "#bbbbbb",
                linewidth=2.5 if hot else 1.0, zorder=1)
        if hot:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2, f"{probability[child]:.2%}", fontsize=8,
                    color="#d62728", ha="center", va="center",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"}, zorder=3)
    for node, (x, y) in positions.items():
        hot = node in path
        leaf = node not in children
        ax.text(x, y, explainer.labels.get(node, node), ha="center",
                va="top" if leaf else "center", rotation=90 if leaf else 0,
                fontsize=8, fontweight="bold" if hot else "normal", zorder=4,
                bbox={"boxstyle": "round,pad=0.25", "fc": "#fde0dc" if hot else "white",
                      "ec": "#d62728" if hot else "#999999"})
    title = f"{explainer.name} NBDT"
    if explanation is not None:
        title += f": {explanation.prediction}"
    ax.set_title(title)
    ax.set_xlim(-0.8, next_x[0] - 0.2)
    ax.set_ylim(-depth - 1.4, 0.6)
    ax.axis("off")
    ax.figure.tight_layout()
    return ax.figure


# ----------------------------------------------------------------------------------------------
# Lesson helpers


@dataclass
class TryYourPhotoNBDT:
    """State of lesson 03's upload widget: explain a learner's photo with an NBDT."""

    explainer: NBDTExplainer
    explanation: Explanation | None = None
    error: str = ""

    def classify(self, source: ImageSource) -> Explanation | None:
        from .images import ImageLoadError

        try:
            self.explanation, self.error = self.explainer.explain(source), ""
        except ImageLoadError as exc:
            self.explanation, self.error = None, str(exc)
        return self.explanation

    @property
    def headline(self) -> str:
        if self.error:
            return f"Could not use that photo: {self.error}"
        if self.explanation is None:
            return "Upload a photo or paste an image URL."
        return str(self.explanation)

    def figure(self):
        return None if self.explanation is None else plot_tree(self.explainer, self.explanation)


def try_your_photo_nbdt(explainer: NBDTExplainer):
    """Upload a photo and see the NBDT's decisions on the tree."""
    from .widgets import photo_upload_view

    return photo_upload_view(TryYourPhotoNBDT(explainer))


@torch.no_grad()
def node_scores(explainer: NBDTExplainer, image: ImageSource, node: str | None = None):
    """At ``node`` (default: the root), each child's score two ways: from the averaged leaf
    weights, ``w_k . f(x) + b_k``, and from nbdt's rule (mean of the leaves' logits).

    Returns:
        ``[(child name, score from averaged weights, score from nbdt), ...]``
    """
    from nbdt.loss import HardTreeSupLoss

    net = explainer.network
    x = explainer.preprocess(load_image(image))
    features = torch.flatten(net.pool(net.features(x)), 1)[0]
    logits = net.fc(features[None])
    rules = {n.wnid: n for n in explainer.nbdt.rules.nodes}
    node = node or explainer.root
    children = explainer.children[node]
    weights = explainer.node_weights()[node]
    bias = torch.stack([net.fc.bias[explainer.leaf_indices(c)].mean() for c in children])
    ours = weights @ features + bias
    theirs = HardTreeSupLoss.get_output_sub(logits, rules[node])[0]
    return [(explainer.labels[c], float(a), float(b))
            for c, a, b in zip(children, ours, theirs, strict=True)]


def metrics_table() -> str:
    """The shipped model's before/after accuracies as a small text table."""
    metrics = shipped_metrics()
    rows = [("", "network", "hard NBDT", "soft NBDT")]
    for key, name in (("before_tree_supervision", "before tree supervision"),
                      ("after_tree_supervision", "after tree supervision")):
        m = metrics[key]
        rows.append((name, f"{m['network']:.1%}", f"{m['nbdt_hard']:.1%}",
                     f"{m['nbdt_soft']:.1%}"))
    return "\n".join(f"{a:<25}{b:>10}{c:>11}{d:>11}" for a, b, c, d in rows)
