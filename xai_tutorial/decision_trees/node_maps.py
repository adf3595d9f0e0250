"""Lesson 03's node activation maps: where each decision on the path looked.

Child ``k`` of node ``n`` scores ``s_k = mean_{c in leaves(k)} (w_c . g + b_c) = w_k . g + b_k``
with ``w_k = mean_{c in leaves(k)} w_c``, ``b_k`` likewise, and ``g = mean_{x,y} F(x, y)`` the
pooled features. Being linear in ``g``, it has a Class Activation Map of its own:

    M_k = sum_j w_kj F_j,   mean(M_k) + b_k = s_k.

:class:`NodeRows` holds one node's averaged rows, :class:`PathRows` those of every node on a
path stacked into one matrix (so all the path's maps are one product), and :class:`NodeMapper`
remembers both until the classifier's weights change.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from .explanation import Explanation
from .hierarchy import Hierarchy


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
        """The chosen child's name."""
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
        """The chosen child's bias minus the mean of the others' biases."""
        return float(self.biases[self.chosen] - self._others(self.biases))

    def identity_error(self) -> float:
        """``max_k |mean(maps[k]) + biases[k] - scores[k]|`` (0 up to float rounding)."""
        return float((self.maps.mean((1, 2)) + self.biases - self.scores).abs().max())


class NodeRows(NamedTuple):
    """One inner node's children as linear units over the pooled features.

    ``average`` is the ``(K, classes)`` averaging matrix (row ``k`` holds ``1/|leaves(k)|`` at
    child ``k``'s leaves), so ``average @ logits`` are nbdt's scores; ``weights = average @ W``
    (``(K, C)``) and ``biases = average @ b`` (``(K,)``), computed as the means of the leaves'
    rows; ``names`` are the children's names.
    """

    average: torch.Tensor
    weights: torch.Tensor
    biases: torch.Tensor
    names: tuple[str, ...]


class PathStep(NamedTuple):
    """One node of a path inside :class:`PathRows`: its rows are ``start:end`` of the stack."""

    name: str
    wnid: str
    children: tuple[str, ...]
    children_wnids: tuple[str, ...]
    biases: torch.Tensor
    start: int
    end: int


class PathRows(NamedTuple):
    """Every node of a path, stacked: ``average`` ``(sum K, classes)``, ``weights``
    ``(sum K, C)``, and each node's place in them."""

    average: torch.Tensor
    weights: torch.Tensor
    steps: tuple[PathStep, ...]


class NodeMapper:
    """Averaged rows per node and stacked rows per path for ``fc`` over ``hierarchy``.

    Both are remembered until ``fc``'s weight or bias changes (training, ``load_state_dict``):
    the key is the weight's storage and both tensors' version counters.
    """

    def __init__(self, hierarchy: Hierarchy, fc: nn.Linear) -> None:
        self.hierarchy, self.fc = hierarchy, fc
        self._rows: dict[str, NodeRows] = {}
        self._paths: dict[tuple[str, ...], PathRows] = {}
        self._key: tuple[int, int, int] | None = None

    def _refresh(self) -> None:
        """Forget the averaged rows when the classifier's weights have changed."""
        weight, bias = self.fc.weight, self.fc.bias
        key = (weight.data_ptr(), weight._version, bias._version)
        if self._key != key:
            self._rows, self._paths, self._key = {}, {}, key

    def rows(self, node: str) -> NodeRows:
        """:class:`NodeRows` of ``node``. Precondition: ``node`` is an inner node."""
        self._refresh()
        found = self._rows.get(node)
        if found is None:
            found = self._rows[node] = self._node_rows(node)
        return found

    def _node_rows(self, node: str) -> NodeRows:
        weight, bias = self.fc.weight.detach(), self.fc.bias.detach()
        kids = self.hierarchy.children[node]
        leaves = [self.hierarchy.leaf_indices(child) for child in kids]
        average = torch.zeros(len(kids), weight.shape[0], dtype=weight.dtype)
        for k, index in enumerate(leaves):
            average[k, index] = 1.0 / len(index)
        # the same sums nbdt and the learner write: the mean of the leaves' rows
        return NodeRows(average, torch.stack([weight[index].mean(0) for index in leaves]),
                        torch.stack([bias[index].mean() for index in leaves]),
                        tuple(self.hierarchy.name(k) for k in kids))

    def path_rows(self, inner: tuple[str, ...]) -> PathRows:
        """:class:`PathRows` of the inner nodes ``inner`` (root first). Precondition: each is an
        inner node."""
        self._refresh()
        found = self._paths.get(inner)
        if found is None:
            rows = [self.rows(parent) for parent in inner]
            ends = list(itertools.accumulate(len(r.weights) for r in rows))
            steps = tuple(
                PathStep(self.hierarchy.labels[parent], parent, row.names,
                         tuple(self.hierarchy.children[parent]), row.biases,
                         end - len(row.weights), end)
                for parent, row, end in zip(inner, rows, ends, strict=True))
            found = PathRows(torch.cat([r.average for r in rows]),
                             torch.cat([r.weights for r in rows]), steps)
            self._paths[inner] = found
        return found

    def maps(self, explanation: Explanation, features: torch.Tensor,
             logits: torch.Tensor) -> list[NodeMap]:
        """One :class:`NodeMap` per decision of ``explanation``.

        ``maps[k] = sum_j w_kj F_j`` for every child of every node on the path, in one matrix
        product (``(sum K, C) @ (C, h*w)``); the scores by nbdt's rule, ``average @ logits``.

        Preconditions: ``explanation`` was read from ``logits`` (``(classes,)``), and
        ``features`` (``(C, h, w)``) are the pooling's input in that same forward pass.
        """
        path = [self.hierarchy.root] + [d.wnid for d in explanation.decisions]
        stacked = self.path_rows(tuple(path[:-1]))
        channels, height, width = features.shape
        maps = torch.mm(stacked.weights, features.reshape(channels, -1)).view(-1, height, width)
        scores = torch.mv(stacked.average, logits)  # the mean of the leaves' logits
        return [
            NodeMap(node=step.name, node_wnid=step.wnid, children=step.children,
                    children_wnids=step.children_wnids, maps=maps[step.start:step.end],
                    biases=step.biases, scores=scores[step.start:step.end],
                    chosen=step.children_wnids.index(decision.wnid),
                    probability=decision.probability)  # the softmax of these scores, by nbdt
            for step, decision in zip(stacked.steps, explanation.decisions, strict=True)
        ]
