"""Lesson 03's explainer: an nbdt model with its preprocessing, layers and readable names.

:class:`NBDTExplainer` is where inputs come in: a photo is loaded once (:func:`load_image`) and
preprocessed, a tensor must already be one ``(1, C, H, W)`` image (nothing is added to it). One
forward pass gives the logits and, through :func:`xai_tutorial.core.hooks.capture`, the features
``F`` the global average pooling reads; the model's training flags are as they were afterwards.
The jobs behind it live beside it: the tree in :mod:`.hierarchy`, the decisions in
:mod:`.explanation`, the maps in :mod:`.node_maps`, the picture in :mod:`.display`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from PIL import Image
from torch import nn

from ..core.errors import InputError
from ..core.hooks import capture, eval_mode, get_layer, identity_gap, input_errors
from ..core.images import ImageSource, load_image
from ..core.inputs import check_batch
from .display import unnormalize
from .explanation import Explanation, read_decisions
from .hierarchy import Hierarchy
from .node_maps import NodeMap, NodeMapper, NodeRows


class NodeScore(NamedTuple):
    """One child's score at a node, two ways: ``w_k . GAP(F) + b_k`` from the averaged leaf
    weights, and nbdt's rule, the mean of the leaves' logits (equal up to float rounding)."""

    child: str
    from_weights: float
    from_nbdt: float


def checked_input(x: object, channels: int, *, single: bool) -> torch.Tensor:
    """``x`` if it is a float ``(1, channels, H, W)`` tensor (``(N, ...)`` unless ``single``)
    holding finite values only.

    Raises:
        InputError: anything else; a missing batch dimension is not added.
    """
    return check_batch(x, channels=channels, single=single)  # type: ignore[return-value]


class NBDTExplainer:
    """An nbdt ``HardNBDT``/``SoftNBDT`` with its preprocessing, layers and readable names.

    The model's training flags are never changed for good: every forward pass runs in
    :func:`~xai_tutorial.core.hooks.eval_mode` (nbdt itself puts a model in eval mode when it
    wraps it).

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
        channels: the input's channel count ``C`` (default: one per entry of ``mean``).

    Raises:
        InputError: the network has no layer ``pooling_layer`` or ``fc_layer``.
    """

    def __init__(self, name: str, nbdt_model: nn.Module, classes: Sequence[str],
                 path_graph: Path, path_wnids: Path,
                 preprocess: Callable[[Image.Image], torch.Tensor], soft: bool, *,
                 pooling_layer: str, fc_layer: str,
                 mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,),
                 trained_for_trees: bool = True, channels: int | None = None) -> None:
        self.name = name
        self.nbdt = nbdt_model
        self.network: nn.Module = nbdt_model.model  # type: ignore[assignment]
        self.classes = list(classes)
        self.hierarchy = Hierarchy(path_graph, path_wnids)
        self.preprocess = preprocess
        self.soft = soft
        self.pooling_layer, self.fc_layer = pooling_layer, fc_layer
        self.mean, self.std = tuple(mean), tuple(std)
        self.channels = len(self.mean) if channels is None else int(channels)
        self.trained_for_trees = trained_for_trees
        fc = get_layer(self.network, fc_layer)
        get_layer(self.network, pooling_layer)  # captured by name in every forward pass
        if not isinstance(fc, nn.Linear):
            raise InputError(f"{type(self.network).__name__}: {fc_layer!r} is a "
                             f"{type(fc).__name__}, not the final linear layer")
        self._fc = fc
        self._nodes = NodeMapper(self.hierarchy, fc)
        self._checked = False

    def __repr__(self) -> str:
        kind = "soft" if self.soft else "hard"
        trained = "" if self.trained_for_trees else ", NOT trained for trees"
        return f"NBDTExplainer({self.name!r}, {kind}, {len(self.labels)} nodes{trained})"

    # -- the tree (see Hierarchy) ------------------------------------------------------------

    @property
    def path_graph(self) -> Path:
        return self.hierarchy.path_graph

    @property
    def path_wnids(self) -> Path:
        return self.hierarchy.path_wnids

    @property
    def labels(self) -> dict[str, str]:
        """``{wnid: name}`` of every node."""
        return self.hierarchy.labels

    @property
    def edges(self) -> list[tuple[str, str]]:
        return self.hierarchy.edges

    @property
    def wnids(self) -> list[str]:
        """The leaf wnid of each class index."""
        return self.hierarchy.wnids

    @property
    def children(self) -> dict[str, list[str]]:
        """Each inner node's children, in order."""
        return self.hierarchy.children

    @property
    def root(self) -> str:
        return self.hierarchy.root

    def leaf_indices(self, node: str) -> list[int]:
        """The class indices of the leaves under ``node`` (itself, if a leaf), left to right."""
        return self.hierarchy.leaf_indices(node)

    def leaves(self, node: str) -> list[str]:
        """The class names under ``node``, left to right."""
        return [self.classes[i] for i in self.hierarchy.leaf_indices(node)]

    def wnid_of(self, name: str) -> str:
        """The id of the node called ``name``."""
        return self.hierarchy.wnid_of(name)

    # -- inputs and forward passes ----------------------------------------------------------

    @property
    def fc(self) -> nn.Linear:
        return self._fc

    def model_input(self, image: ImageSource | torch.Tensor) -> torch.Tensor:
        """The network's ``(1, C, H, W)`` input for ``image``, checked once here.

        A tensor must already be that (:func:`checked_input`: float, finite, ``C`` =
        :attr:`channels`); anything else is loaded by :func:`load_image` (free for an image it
        returned already) and preprocessed.
        """
        if isinstance(image, torch.Tensor):
            return checked_input(image, self.channels, single=True)
        return self.preprocess(load_image(image))

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass of a batch: ``(logits, F)``, ``F`` the ``(N, C, h, w)`` input of the
        pooling.

        The first call also checks that the pooling is global average pooling feeding
        ``fc_layer`` alone (``fc(mean F) == logits``), so that node maps add up to the scores.

        Raises:
            InputError: ``x`` is not an ``(N, C, H, W)`` float tensor, the network cannot run on
                it (too small, or shaped for another network), or the network is not global
                average pooling + one linear layer.
        """
        return self._forward(checked_input(x, self.channels, single=False))

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` of a checked batch, under ``torch.no_grad()``."""
        with input_errors(x, self.network), capture(self.network, self.pooling_layer,
                                                    "input") as store:
            logits = self.network(x)
        calls = int(store["calls"])
        if calls != 1:
            raise InputError(f"{type(self.network).__name__}: {self.pooling_layer!r} ran "
                             f"{calls} times in one forward pass; expected once")
        features = store["features"]
        if not self._checked:
            again = self.fc(features.mean((2, 3)))  # fc(GAP(F)), to compare with the logits
            error, allowed = identity_gap(again, logits) if again.shape == logits.shape else (
                float("inf"), 0.0)
            if not error <= allowed:  # also refuses NaN
                raise InputError(
                    f"{type(self.network).__name__}: {self.pooling_layer!r} followed by "
                    f"{self.fc_layer!r} is not global average pooling + one linear layer, so "
                    "node maps would not add up to the decisions' scores"
                )
            self._checked = True
        return logits, features

    @torch.no_grad()
    def network_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The network's ``(N, classes)`` logits for a preprocessed ``(N, C, H, W)`` batch (in
        eval mode, without gradients).

        Raises:
            InputError: ``x`` is not such a batch, or the network cannot run on it.
        """
        return self._logits(checked_input(x, self.channels, single=False))

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """The network's logits for a checked batch, under ``torch.no_grad()``."""
        with input_errors(x, self.network), eval_mode(self.network):
            return self.network(x)

    # -- explanations -----------------------------------------------------------------------

    def explain_logits(self, logits: torch.Tensor) -> list[Explanation]:
        """Explanations for the ``(N, classes)`` logits of this explainer's network.

        Raises:
            InputError: ``logits`` is not a 2-D tensor with one column per class.
        """
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or (
                logits.shape[1] != len(self.classes)):
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits)
            raise InputError(f"expected (N, {len(self.classes)}) logits, got {shape}")
        with torch.no_grad():
            return self._explanations(logits.detach())

    def _explanations(self, logits: torch.Tensor) -> list[Explanation]:
        """Precondition: ``logits`` ``(N, classes)`` from the network, without gradients."""
        return read_decisions(self.nbdt.rules, self.hierarchy, self.classes, logits,
                              soft=self.soft)

    @torch.no_grad()
    def explain_tensor(self, x: torch.Tensor) -> list[Explanation]:
        """Explanations for a preprocessed ``(N, C, H, W)`` batch."""
        return self._explanations(self._logits(checked_input(x, self.channels, single=False)))

    @torch.no_grad()
    def explain(self, image: ImageSource | torch.Tensor) -> Explanation:
        """Classify ``image`` and say which decisions led there."""
        return self._explanations(self._logits(self.model_input(image)))[0]

    @torch.no_grad()
    def explain_with_logits(self, image: ImageSource | torch.Tensor
                            ) -> tuple[Explanation, torch.Tensor]:
        """The explanation and the network's ``(classes,)`` logits, from one forward pass."""
        logits = self._logits(self.model_input(image))
        return self._explanations(logits)[0], logits[0]

    @torch.no_grad()
    def explain_with_maps(self, image: ImageSource | torch.Tensor
                          ) -> tuple[Explanation, list[NodeMap]]:
        """The explanation and its node maps (see :mod:`.node_maps`), from one forward pass."""
        logits, features = self._forward(self.model_input(image))
        explanation = self._explanations(logits)[0]
        return explanation, self._nodes.maps(explanation, features[0], logits[0])

    # -- node maps and scores ---------------------------------------------------------------

    @torch.no_grad()
    def node_maps(self, explanation: Explanation, features: torch.Tensor,
                  logits: torch.Tensor) -> list[NodeMap]:
        """The node maps of one image of a batch that :meth:`forward` and
        :meth:`explain_logits` went through: ``features`` ``(C, h, w)``, ``logits``
        ``(classes,)``, ``explanation`` read from those logits.

        Raises:
            InputError: the shapes do not fit this explainer's network.
        """
        if features.ndim != 3 or features.shape[0] != self.fc.in_features or (
                tuple(logits.shape) != (len(self.classes),)):
            raise InputError(f"expected features ({self.fc.in_features}, h, w) and logits "
                             f"({len(self.classes)},), got {tuple(features.shape)} and "
                             f"{tuple(logits.shape)}")
        return self._nodes.maps(explanation, features, logits)

    def node_rows(self, node: str) -> NodeRows:
        """The averaged classifier of inner node ``node``'s children (:class:`NodeRows`)."""
        return self._nodes.rows(self.hierarchy.check_inner(node))

    def node_weights(self) -> dict[str, torch.Tensor]:
        """Each inner node's child weight vectors: the mean of the ``fc`` rows of its leaves."""
        return {node: self._nodes.rows(node).weights for node in self.children}

    def node_biases(self) -> dict[str, torch.Tensor]:
        """Each inner node's child biases: the mean of the ``fc`` biases of its leaves."""
        return {node: self._nodes.rows(node).biases for node in self.children}

    @torch.no_grad()
    def node_scores(self, image: ImageSource | torch.Tensor,
                    node: str | None = None) -> list[NodeScore]:
        """At ``node`` (an inner node's wnid; default: the root), each child's :class:`NodeScore`:
        ``w_k . GAP(F) + b_k`` and nbdt's rule (the mean of the leaves' logits)."""
        from nbdt.loss import HardTreeSupLoss

        node = self.root if node is None else self.hierarchy.check_inner(node)
        logits, features = self._forward(self.model_input(image))
        rows = self._nodes.rows(node)
        ours = rows.weights @ features.mean((2, 3))[0] + rows.biases
        rule = next(n for n in self.nbdt.rules.nodes if n.wnid == node)
        theirs = HardTreeSupLoss.get_output_sub(logits, rule)[0]
        return [NodeScore(self.labels[c], float(a), float(b))
                for c, a, b in zip(self.children[node], ours, theirs, strict=True)]

    # -- display ----------------------------------------------------------------------------

    def model_picture(self, image: ImageSource | torch.Tensor) -> Image.Image:
        """The picture the network sees: the preprocessed input, un-normalized
        (:func:`~.display.unnormalize`)."""
        return unnormalize(self.model_input(image)[0], self.mean, self.std)
