"""Lesson 03: Neural-Backed Decision Trees (Wan et al., 2021) with the ``nbdt`` library (method).

An NBDT keeps a network's features and replaces its final linear layer by a tree. Every inner
node ``n`` decides between its children; child ``k``'s score is the mean of the logits of the
classes (leaves) under it, which is the same as using the *average of those classes' weight
vectors*:

    score_k(x) = mean_{c in leaves(k)} (w_c . f(x) + b_c) = w_k . f(x) + b_k,
    w_k = mean_{c in leaves(k)} w_c.

A hard NBDT follows the most probable child (softmax over the children's scores) from the root
to a leaf; a soft NBDT multiplies the probabilities along every path and picks the most likely
leaf. The hierarchy is *induced* from the classifier's weights (agglomerative clustering of the
rows of ``W``), and its inner nodes are named by :mod:`xai_tutorial.nbdt_naming`.

Because a child's score is linear in the pooled features, it has a Class Activation Map of its
own: with ``F`` the last feature maps (``C x h x w``),

    M_k = sum_j w_kj F_j,   mean(M_k) + b_k = score_k,

so :func:`node_activation_maps` shows where each decision on the path looked.

Three NBDTs are available through :func:`load_nbdt` (the registry :data:`NBDTS`):

* ``"fashion"``: a small CNN trained offline on Fashion-MNIST with nbdt's tree supervision loss;
  its weights, WordNet-named hierarchy and metrics ship with this package;
* ``"cifar10"``: the 2020 tutorial's WideResNet-28-10 CIFAR-10 NBDT, once its checkpoint has been
  fetched (``python -m xai_tutorial fetch nbdt_cifar10``);
* ``"imagenet"``: the bundled EfficientNet-Lite0 read as a tree, with a hierarchy induced from its
  own ``fc`` rows. It was NOT trained for trees: it shows what tree supervision is for.

Figures live in :mod:`xai_tutorial.decision_trees_view`, the upload widget in
:mod:`xai_tutorial.decision_trees_widgets`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn

from . import nbdt_compat
from .core.downloads import get_download, verify
from .core.errors import InputError, UnknownNameError
from .core.images import ImageSource, load_image

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


def wnid_synset(wnid: str) -> str:
    """The synset name (``"boot.n.01"``) of a WordNet id such as ``"n02872752"``."""
    from nltk.corpus import wordnet as wn

    return wn.synset_from_pos_and_offset(wnid[0], int(wnid[1:])).name()


def _require_wordnet() -> None:
    if not nbdt_compat.wordnet_available():
        raise RuntimeError(
            "WordNet is not installed for nltk: it is needed to name a new hierarchy "
            "(`make data` installs it offline from Debian's wordnet-base)"
        )


def write_hierarchy(path_graph: Path, nodes: Sequence[tuple[str, str]],
                    edges: Sequence[tuple[str, str]]) -> None:
    """Write nbdt's node-link graph JSON: ``nodes`` as ``(id, label)``, ``edges`` in order."""
    from .core._files import atomic_path

    data = {"directed": True, "multigraph": False, "graph": {},
            "nodes": [{"label": label, "id": wnid} for wnid, label in nodes],
            "links": [{"source": parent, "target": child} for parent, child in edges]}
    path_graph.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path_graph) as partial:
        partial.write_text(json.dumps(data, separators=(",", ":")))


def induce_hierarchy(
    fc_weight: torch.Tensor,
    wnids: Sequence[str],
    class_names: Sequence[str],
    path_graph: Path,
    path_wnids: Path,
    leaf_synsets: Sequence[str] | None = None,
) -> dict[str, str]:
    """Induce a binary hierarchy from classifier rows, name it, and write it for nbdt.

    The structure is nbdt's induced hierarchy (``build_induced_graph``): Ward clustering of the
    rows of ``fc_weight``, one inner node per merge. The inner nodes are named by
    :func:`xai_tutorial.nbdt_naming.name_hierarchy`, which also works at ImageNet size where
    nbdt's own naming fails. Leaves keep their wnids and are labelled with ``class_names``.

    Args:
        leaf_synsets: each class's WordNet synset name; by default looked up from ``wnids``.

    Returns:
        ``{wnid: label}`` for every node.
    """
    from sklearn.cluster import AgglomerativeClustering

    from .nbdt_naming import name_hierarchy

    _require_wordnet()
    n = len(wnids)
    centers = fc_weight.detach().float().numpy()
    merges = AgglomerativeClustering(linkage="ward", n_clusters=2, metric="euclidean").fit(
        centers).children_
    children: dict[str, list[str]] = {}
    ids = list(wnids)
    for index, pair in enumerate(merges):
        ids.append(f"merge{index}")
        children[ids[-1]] = [ids[int(child)] for child in pair]
    synsets = list(leaf_synsets) if leaf_synsets is not None else [wnid_synset(w) for w in wnids]
    names = name_hierarchy(children, ids[-1], dict(zip(wnids, synsets, strict=True)),
                           dict(zip(wnids, class_names, strict=True)))
    final = {node: names[node].wnid if node in names else node for node in ids}
    labels = {**dict(zip(wnids, class_names, strict=True)),
              **{final[node]: name.label for node, name in names.items()}}
    edges = [(final[parent], final[child]) for parent in ids[n:] for child in children[parent]]
    write_hierarchy(path_graph, [(final[node], labels[final[node]]) for node in ids], edges)
    path_wnids.parent.mkdir(parents=True, exist_ok=True)
    path_wnids.write_text("".join(f"{w}\n" for w in wnids))
    return labels


def rename_hierarchy(path_graph: Path, leaf_synsets: Mapping[str, str], out: Path) -> dict:
    """Re-name an existing hierarchy's inner nodes by :mod:`~xai_tutorial.nbdt_naming`, keeping
    its structure, the order of its nodes and children, and its leaves.

    Returns:
        ``{old inner wnid: NodeName}``.
    """
    from .nbdt_naming import name_hierarchy

    _require_wordnet()
    labels, edges = read_hierarchy(path_graph)
    children: dict[str, list[str]] = {}
    for parent, child in edges:
        children.setdefault(parent, []).append(child)
    targets = {child for _, child in edges}
    root = next(parent for parent, _ in edges if parent not in targets)
    leaves = {node: label for node, label in labels.items() if node not in children}
    names = name_hierarchy(children, root, leaf_synsets, leaves)
    final = {node: names[node].wnid if node in names else node for node in labels}
    write_hierarchy(out, [(final[node], names[node].label if node in names else labels[node])
                          for node in labels],
                    [(final[parent], final[child]) for parent, child in edges])
    return names


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
    """One step down the tree: the child chosen and the probability of choosing it there
    (the softmax over the node's children's scores, at the chosen child)."""

    name: str
    probability: float
    wnid: str = ""


@dataclass(frozen=True)
class Explanation:
    """An NBDT's prediction and the decisions that led to it (root excluded).

    ``probability`` is the product of the decisions' probabilities: the probability of the
    predicted leaf under the soft rule (for a soft NBDT it is exactly what the rule computes).
    """

    prediction: str
    decisions: tuple[Decision, ...]
    soft: bool = False
    index: int = -1  # the predicted class index (names can repeat: ImageNet has two "crane")

    @property
    def probability(self) -> float:
        return float(np.prod([d.probability for d in self.decisions]))

    def __str__(self) -> str:
        return self.text()

    def text(self, width: int | None = None) -> str:
        """The tutorial's line, ``Prediction: cat // Decisions: animal (99.34%), ...``.

        When that line is longer than ``width`` characters (long node names, as in an induced
        1000-class tree), the prediction comes first and then one numbered decision per line.
        """
        steps = [f"{d.name} ({d.probability:.2%})" for d in self.decisions]
        head = self.prediction
        if self.soft:
            head += f" ({self.probability:.2%}, the product of the decisions)"
        line = f"Prediction: {head} // Decisions: {', '.join(steps)}"
        if width is None or len(line) <= width:
            return line
        return "\n".join([f"Prediction: {head}", "Decisions:"]
                         + [f"  {i}. {step}" for i, step in enumerate(steps, 1)])

    def as_dict(self) -> dict:
        return {
            "prediction": self.prediction,
            "probability": self.probability,
            "decisions": [{"name": d.name, "probability": d.probability}
                          for d in self.decisions],
        }


@dataclass(frozen=True)
class NodeMap:
    """Where one decision looked: the Class Activation Map of each child of a node.

    Attributes:
        node: the deciding node's name; ``node_wnid`` its id.
        children: the children's names, in nbdt's order; ``children_wnids`` their ids.
        maps: ``(K, h, w)``, ``maps[k] = sum_j w_kj F_j`` with ``w_k`` the mean of child ``k``'s
            leaves' classifier rows and ``F`` the features the pooling averages (the image's own
            orientation: rows are the image's rows).
        biases: ``(K,)`` the mean of child ``k``'s leaves' biases.
        scores: ``(K,)`` nbdt's child scores (mean of the leaves' logits);
            ``maps.mean((1, 2)) + biases == scores``.
        chosen: index of the child the path takes.
        probability: softmax of ``scores`` at ``chosen``.
    """

    node: str
    node_wnid: str
    children: tuple[str, ...]
    children_wnids: tuple[str, ...]
    maps: torch.Tensor
    biases: torch.Tensor
    scores: torch.Tensor
    chosen: int
    probability: float

    @property
    def decision(self) -> str:
        return self.children[self.chosen]

    def _others(self, values: torch.Tensor) -> torch.Tensor:
        keep = [k for k in range(len(self.children)) if k != self.chosen]
        return values[keep].mean(0)

    @property
    def contrast(self) -> torch.Tensor:
        """``(h, w)``: the chosen child's map minus the mean of the others' maps."""
        return self.maps[self.chosen] - self._others(self.maps)

    @property
    def margin(self) -> float:
        """The chosen child's score minus the mean of the others' scores;
        ``contrast.mean() + (bias of chosen - mean bias of others)``."""
        return float(self.scores[self.chosen] - self._others(self.scores))

    @property
    def bias_difference(self) -> float:
        return float(self.biases[self.chosen] - self._others(self.biases))

    def identity_error(self) -> float:
        """``max_k |mean(maps[k]) + biases[k] - scores[k]|`` (0 up to float rounding)."""
        return float((self.maps.mean((1, 2)) + self.biases - self.scores).abs().max())


class NBDTExplainer:
    """An nbdt ``HardNBDT``/``SoftNBDT`` with its preprocessing, layers and readable names.

    Args:
        name: the registry name (``"fashion"``, ``"cifar10"``, ``"imagenet"``).
        nbdt_model: the nbdt model (wraps the network and its decision rules).
        classes: class names, index-aligned with the network's outputs.
        path_graph: the hierarchy's graph JSON (its ``label`` fields name every node).
        path_wnids: the leaves' wnids, in class-index order.
        preprocess: image -> ``(1, C, H, W)`` tensor.
        soft: whether the rules are soft.
        pooling_layer: the global-average-pooling module (node maps read its input).
        fc_layer: the final linear layer.
        mean, std: the preprocessing's normalization (to show the picture the model sees).
        trained_for_trees: whether the network was fine-tuned with tree supervision.
    """

    def __init__(self, name: str, nbdt_model: nn.Module, classes: Sequence[str],
                 path_graph: Path, path_wnids: Path,
                 preprocess: Callable[[Image.Image], torch.Tensor], soft: bool, *,
                 pooling_layer: str, fc_layer: str,
                 mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,),
                 trained_for_trees: bool = True) -> None:
        self.name = name
        self.nbdt = nbdt_model.eval()
        self.network = nbdt_model.model
        self.classes = list(classes)
        self.path_graph = Path(path_graph)
        self.path_wnids = Path(path_wnids)
        self.labels, self.edges = read_hierarchy(path_graph)
        self.wnids = self.path_wnids.read_text().split()  # leaf wnid of each class index
        self._class_of = {wnid: i for i, wnid in enumerate(self.wnids)}
        self.children: dict[str, list[str]] = {}  # each inner node's children, in order
        for parent, child in self.edges:
            self.children.setdefault(parent, []).append(child)
        targets = {child for _, child in self.edges}
        self.root = next(parent for parent, _ in self.edges if parent not in targets)
        self.preprocess = preprocess
        self.soft = soft
        self.pooling_layer, self.fc_layer = pooling_layer, fc_layer
        self.mean, self.std = tuple(mean), tuple(std)
        self.trained_for_trees = trained_for_trees
        self._rows: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[str, ...]]] = {}
        self._rows_key: tuple[int, int, int] | None = None
        # per path (its inner nodes): every step's (A, w) stacked, and each step's rows in them
        self._paths: dict[tuple[str, ...], tuple[torch.Tensor, torch.Tensor, list[tuple]]] = {}
        self._leaves: dict[str, list[int]] = {}
        try:
            self._fc = self.network.get_submodule(fc_layer)
            self._pooling = self.network.get_submodule(pooling_layer)
        except AttributeError:
            raise InputError(f"{type(self.network).__name__} has no layer {fc_layer!r} or "
                             f"{pooling_layer!r}") from None
        self._checked = False

    def __repr__(self) -> str:
        kind = "soft" if self.soft else "hard"
        trained = "" if self.trained_for_trees else ", NOT trained for trees"
        return f"NBDTExplainer({self.name!r}, {kind}, {len(self.labels)} nodes{trained})"

    def _name(self, wnid: str) -> str:
        label = self.labels.get(wnid) or ""
        if not label or label == "(generated)":
            raise ValueError(f"hierarchy node {wnid} has no name in {self.path_graph}")
        return label

    # -- the forward pass ------------------------------------------------------------------

    @property
    def fc(self) -> nn.Linear:
        return self._fc

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass: ``(logits, F)``, ``F`` the ``(N, C, h, w)`` input of the pooling.

        The first call also checks that the pooling is global average pooling feeding
        ``fc_layer`` alone (``fc(mean F) == logits``), so that node maps add up to the scores.

        Raises:
            InputError: the network is not global average pooling + one linear layer.
        """
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` for callers already under ``torch.no_grad()``."""
        store: list[torch.Tensor] = []
        handle = self._pooling.register_forward_pre_hook(lambda _, inputs: store.append(inputs[0]))
        try:
            logits = self.network(x)
        finally:
            handle.remove()
        if len(store) != 1:
            raise InputError(f"{type(self.network).__name__}: {self.pooling_layer!r} ran "
                             f"{len(store)} times in one forward pass; expected once")
        features = store[0]
        if not self._checked:
            again = self.fc(features.mean((2, 3)))
            tolerance = 1e-4 * max(1.0, float(logits.abs().max()))
            if again.shape != logits.shape or float((again - logits).abs().max()) > tolerance:
                raise InputError(
                    f"{type(self.network).__name__}: {self.pooling_layer!r} followed by "
                    f"{self.fc_layer!r} is not global average pooling + one linear layer, so "
                    "node maps would not add up to the decisions' scores"
                )
            self._checked = True
        return logits, features

    def _explain_logits(self, logits: torch.Tensor) -> list[Explanation]:
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
                soft=self.soft, index=predicted,
            ))
        return explanations

    @torch.no_grad()
    def explain_tensor(self, x: torch.Tensor) -> list[Explanation]:
        """Explanations for a preprocessed batch."""
        return self._explain_logits(self.network(x))

    def _child_probability(self, parent, child: str, logits: torch.Tensor) -> float:
        """softmax over the parent's child scores (mean leaf logits), at the chosen child."""
        from nbdt.loss import HardTreeSupLoss

        scores = HardTreeSupLoss.get_output_sub(logits[None], parent)[0].softmax(0)
        return float(scores[parent.children.index(child)])

    def _input(self, image: ImageSource | torch.Tensor) -> torch.Tensor:
        if isinstance(image, torch.Tensor):
            return image if image.dim() == 4 else image[None]
        return self.preprocess(load_image(image))

    @torch.no_grad()
    def explain(self, image: ImageSource | torch.Tensor) -> Explanation:
        """Classify ``image`` and say which decisions led there."""
        return self.explain_tensor(self._input(image))[0]

    @torch.no_grad()
    def explain_with_maps(self, image: ImageSource | torch.Tensor
                          ) -> tuple[Explanation, list[NodeMap]]:
        """The explanation and its node maps, from one forward pass."""
        logits, features = self._forward(self._input(image))
        explanation = self._explain_logits(logits)[0]
        return explanation, self._node_maps(explanation, features[0], logits[0])

    # -- the tree ---------------------------------------------------------------------------

    def leaf_indices(self, node: str) -> list[int]:
        """The class indices of the leaves under ``node`` (itself, if a leaf), left to right."""
        if node not in self._leaves:
            if node not in self.children:
                self._leaves[node] = [self._class_of[node]]
            else:
                self._leaves[node] = [i for c in self.children[node]
                                      for i in self.leaf_indices(c)]
        return list(self._leaves[node])

    def leaves(self, node: str) -> list[str]:
        """The class names under ``node``, left to right."""
        return [self.classes[i] for i in self.leaf_indices(node)]

    def wnid_of(self, name: str) -> str:
        """The id of the node called ``name``."""
        for wnid, label in self.labels.items():
            if label == name:
                return wnid
        raise UnknownNameError("node", name, sorted(set(self.labels.values())))

    def _refresh_rows(self) -> None:
        """Forget the averaged rows when the classifier's weights have changed (training)."""
        weight, bias = self.fc.weight, self.fc.bias
        key = (weight.data_ptr(), weight._version, bias._version)
        if self._rows_key != key:
            self._rows, self._paths, self._rows_key = {}, {}, key

    def _node_rows(self, node: str
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[str, ...]]:
        """``(A, w, b, names)`` for ``node``: ``A`` the ``(K, classes)`` averaging matrix (row
        ``k`` holds ``1/|leaves(k)|`` at child ``k``'s leaves), ``w`` the averaged classifier
        rows, ``b`` the averaged biases, and the children's names. Remembered until the
        classifier's weights change."""
        weight, bias = self.fc.weight, self.fc.bias
        self._refresh_rows()
        if node not in self._rows:
            kids = self.children[node]
            average = torch.zeros(len(kids), weight.shape[0], dtype=weight.dtype)
            for k, child in enumerate(kids):
                index = self.leaf_indices(child)
                average[k, index] = 1.0 / len(index)
            # the same sums nbdt and the learner write: the mean of the leaves' rows
            rows = torch.stack([weight.detach()[self.leaf_indices(c)].mean(0) for c in kids])
            means = torch.stack([bias.detach()[self.leaf_indices(c)].mean() for c in kids])
            self._rows[node] = (average, rows, means, tuple(self._name(k) for k in kids))
        return self._rows[node]

    def node_weights(self) -> dict[str, torch.Tensor]:
        """Each inner node's child weight vectors: the mean of the ``fc`` rows of its leaves."""
        return {node: self._node_rows(node)[1] for node in self.children}

    def node_biases(self) -> dict[str, torch.Tensor]:
        """Each inner node's child biases: the mean of the ``fc`` biases of its leaves."""
        return {node: self._node_rows(node)[2] for node in self.children}

    def _node_maps(self, explanation: Explanation, features: torch.Tensor,
                   logits: torch.Tensor) -> list[NodeMap]:
        """``maps[k] = sum_j w_kj F_j`` for every child of every node on the path, in one
        matrix product (``(sum K, C) @ (C, h*w)``); scores by nbdt's rule, from the logits."""
        path = [self.root] + [d.wnid for d in explanation.decisions]
        self._refresh_rows()
        inner = tuple(path[:-1])
        stacked = self._paths.get(inner)
        if stacked is None:
            rows = [self._node_rows(parent) for parent in inner]
            ends = list(itertools.accumulate(len(r[1]) for r in rows))
            stacked = (torch.cat([r[0] for r in rows]), torch.cat([r[1] for r in rows]),
                       [(self.labels[parent], parent, row[3], tuple(self.children[parent]),
                         row[2], end - len(row[1]), end)
                        for parent, row, end in zip(inner, rows, ends, strict=True)])
            self._paths[inner] = stacked
        average, weights, steps = stacked
        channels, height, width = features.shape
        maps = torch.mm(weights, features.reshape(channels, -1)).view(-1, height, width)
        scores = torch.mv(average, logits)  # the mean of the leaves' logits
        return [
            NodeMap(node=name, node_wnid=parent, children=names, children_wnids=kids,
                    maps=maps[start:end], biases=biases, scores=scores[start:end],
                    chosen=kids.index(decision.wnid),
                    probability=decision.probability)  # the softmax of these scores, by nbdt
            for (name, parent, names, kids, biases, start, end), decision
            in zip(steps, explanation.decisions, strict=True)
        ]

    def model_picture(self, image: ImageSource | torch.Tensor) -> Image.Image:
        """The picture the network sees: the preprocessed input, un-normalized."""
        x = self._input(image)[0].detach().float()
        mean = torch.tensor(self.mean)[:, None, None]
        std = torch.tensor(self.std)[:, None, None]
        pixels = ((x * std + mean).clamp(0, 1) * 255).round().byte()
        if pixels.shape[0] == 1:
            return Image.fromarray(pixels[0].numpy(), "L")
        return Image.fromarray(pixels.permute(1, 2, 0).numpy(), "RGB")


def node_activation_maps(explainer: NBDTExplainer,
                         image: ImageSource | torch.Tensor) -> list[NodeMap]:
    """One :class:`NodeMap` per decision on the path the NBDT takes for ``image``.

    For the node deciding at each step, child ``k``'s map is ``M_k = sum_j w_kj F_j`` with
    ``w_k`` the mean of the classifier rows of ``k``'s leaves and ``F`` the last feature maps
    (the pooling's input): ``mean(M_k) + b_k = score_k``, nbdt's score for the child. The maps
    come from the same forward pass as the explanation.

    Args:
        explainer: from :func:`load_nbdt`.
        image: anything :func:`~xai_tutorial.load_image` takes, or a preprocessed tensor.
    """
    return explainer.explain_with_maps(image)[1]


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


#: Builds the CIFAR-10 network (tests swap in a small one; the tutorial's is WRN-28-10, whose
#: pooling is ``features.final_pool`` and whose classifier is ``output``).
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
        raise InputError(f"{path}: not a loadable checkpoint ({first})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a dict of tensors, found {type(data).__name__}")
    return data


# ----------------------------------------------------------------------------------------------
# The registry


def _rules_kind(soft: bool):
    nbdt_compat.apply()
    from nbdt.model import HardNBDT, SoftNBDT

    return SoftNBDT if soft else HardNBDT


def _fashion(soft: bool) -> NBDTExplainer:
    path_graph = package_data("fashion", "graph.json")
    path_wnids = package_data("fashion", "wnids.txt")
    model = _rules_kind(soft)(dataset="FashionMNIST", model=load_fashion_network(),
                              path_graph=str(path_graph), path_wnids=str(path_wnids),
                              classes=FASHION_CLASSES)
    return NBDTExplainer("fashion", model, FASHION_CLASSES, path_graph, path_wnids,
                         _fashion_preprocess, soft, pooling_layer="pool", fc_layer="fc",
                         mean=(FASHION_MEAN,), std=(FASHION_STD,))


def _cifar10(soft: bool) -> NBDTExplainer:
    checkpoint = verify(get_download("nbdt_cifar10"))
    arch, build = CIFAR10_ARCH
    # The tutorial's call, minus pretrained=True (which would download): we load the verified
    # checkpoint from our cache instead.
    model = _rules_kind(soft)(pretrained=False, dataset="CIFAR10", arch=arch, model=build())
    model.load_state_dict(load_cifar10_checkpoint(checkpoint))
    from nbdt.utils import dataset_to_default_path_wnids, hierarchy_to_path_graph

    path_graph = Path(hierarchy_to_path_graph("CIFAR10", "induced-wrn28_10_cifar10"))
    path_wnids = Path(dataset_to_default_path_wnids("CIFAR10"))
    return NBDTExplainer("cifar10", model, CIFAR10_CLASSES, _nbdt_file(path_graph),
                         _nbdt_file(path_wnids), _cifar_preprocess, soft,
                         pooling_layer="features.final_pool", fc_layer="output",
                         mean=CIFAR10_MEAN, std=CIFAR10_STD)


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet wnids in class-index order."""
    return _nbdt_file(Path(*IMAGENET_WNIDS_FILE)).read_text().split()


def _imagenet(soft: bool) -> NBDTExplainer:
    from .classification import load_classifier

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


# ----------------------------------------------------------------------------------------------
# Lesson helpers


@torch.no_grad()
def node_scores(explainer: NBDTExplainer, image: ImageSource | torch.Tensor,
                node: str | None = None) -> list[tuple[str, float, float]]:
    """At ``node`` (default: the root), each child's score two ways: from the averaged leaf
    weights, ``w_k . GAP(F) + b_k``, and from nbdt's rule (mean of the leaves' logits).

    Returns:
        ``[(child name, score from averaged weights, score from nbdt), ...]``
    """
    from nbdt.loss import HardTreeSupLoss

    logits, features = explainer.forward(explainer._input(image))
    pooled = features.mean((2, 3))[0]
    rules = {n.wnid: n for n in explainer.nbdt.rules.nodes}
    node = node or explainer.root
    weights, biases = explainer.node_weights()[node], explainer.node_biases()[node]
    ours = weights @ pooled + biases
    theirs = HardTreeSupLoss.get_output_sub(logits, rules[node])[0]
    return [(explainer.labels[c], float(a), float(b))
            for c, a, b in zip(explainer.children[node], ours, theirs, strict=True)]


def photo_variants(image: ImageSource) -> dict[str, Image.Image]:
    """The photo, its mirror image, and three 75% crops (centre, top left, bottom right) with
    the centre crop mirrored too: six views on which a faithful tree should agree with its
    network."""
    picture = load_image(image)
    w, h = picture.size
    cw, ch = round(0.75 * w), round(0.75 * h)
    centre = picture.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))
    return {
        "photo": picture,
        "mirrored": ImageOps.mirror(picture),
        "centre crop": centre,
        "centre crop mirrored": ImageOps.mirror(centre),
        "top-left crop": picture.crop((0, 0, cw, ch)),
        "bottom-right crop": picture.crop((w - cw, h - ch, w, h)),
    }


@torch.no_grad()
def agreement_with_network(explainer: NBDTExplainer,
                           images: Sequence[ImageSource]) -> tuple[int, int]:
    """``(agreeing, total)``: on how many images the NBDT's prediction is the network's top-1."""
    agreeing = 0
    for image in images:
        x = explainer._input(image)
        logits = explainer.network(x)
        agreeing += explainer._explain_logits(logits)[0].index == int(logits.argmax())
    return agreeing, len(images)


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
