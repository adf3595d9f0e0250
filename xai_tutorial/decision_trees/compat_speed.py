"""nbdt's speed patches (see :mod:`.compat`, whose table :data:`~.compat.PATCHES` lists them).

The same decisions, sooner; they matter for the 1000-class ImageNet rules. Building nbdt's rules
(``Node.get_wnid_to_node``) re-reads the graph JSON and the wnids file once per node and walks
every node's descendants with networkx; during one build a :class:`_BuildCache` now remembers
each file and each node's leaves, and is dropped when the build ends. Every replacement keeps
nbdt's arithmetic and iteration order, so every float is nbdt's own.

This module does not import :mod:`.compat` at load time (``compat`` imports it for its table).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .compat import Target


@dataclass
class _BuildCache:
    """Files and leaves remembered during one ``Node.get_wnid_to_node`` call, then dropped."""

    graphs: dict[tuple[str, int, int], object]
    wnids: dict[tuple[str, int, int], list[str]]
    children: dict[int, tuple[object, dict[str, list[str]]]]
    leaves: dict[tuple[int, str], tuple[object, tuple[str, ...]]]
    indexes: dict[int, tuple[list[str], dict[str, int]]]


_build: _BuildCache | None = None


def _key(path: str | os.PathLike) -> tuple[str, int, int]:
    stat = os.stat(path)
    return (os.fspath(path), stat.st_mtime_ns, stat.st_size)


def _cached_read_graph(original: Callable[[str], object]) -> Callable[[str], object]:
    """nbdt's ``read_graph``, reading each file once per build (keyed by path, mtime, size)."""
    import json

    import nbdt.graph

    def read_graph(path: str):
        if _build is None or not os.path.exists(path):
            return original(path)
        key = _key(path)
        if key not in _build.graphs:
            with open(path) as handle:
                _build.graphs[key] = nbdt.graph.node_link_graph(json.load(handle))
        return _build.graphs[key]

    return read_graph


def _cached_get_wnids(original: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """nbdt's ``get_wnids``, reading each file once per build."""

    def get_wnids(path: str) -> list[str]:
        if _build is None or not os.path.exists(path):
            return original(path)
        key = _key(path)
        if key not in _build.wnids:
            _build.wnids[key] = original(path)
        return _build.wnids[key]  # shared within a build; nbdt never mutates it

    return get_wnids


def _children_of(graph) -> dict[str, list[str]]:
    """Each node's successors as plain lists, once per graph per build. Precondition: a build
    is running (``_build`` is set)."""
    assert _build is not None
    entry = _build.children.get(id(graph))
    if entry is None or entry[0] is not graph:
        entry = (graph, {n: list(graph.succ[n]) for n in graph})
        _build.children[id(graph)] = entry
    return entry[1]


def _leaves_in_nbdt_order(children: dict[str, list[str]], root: str) -> tuple[str, ...]:
    """The leaves under ``root`` in the order nbdt iterates ``nx.descendants(G, root) | {root}``:
    a set filled in breadth-first order. We fill the same set in the same order from plain
    lists, so its iteration order (and so every float sum downstream) is exactly nbdt's."""
    seen, order, frontier = {root}, [], [root]
    while frontier:
        following = []
        for node in frontier:
            for child in children[node]:
                if child not in seen:
                    seen.add(child)
                    order.append(child)
                    following.append(child)
        frontier = following
    nodes = set(order) | {root}
    return tuple(n for n in nodes if not children[n])


def _cached_get_leaves(original: Callable[..., Iterator[str]]) -> Callable[..., Iterator[str]]:
    """nbdt's ``get_leaves``: the leaves of ``root`` in nbdt's own order, found once per build."""

    def get_leaves(graph, root=None) -> Iterator[str]:
        if _build is None or root is None:
            yield from original(graph, root)
            return
        key = (id(graph), root)
        entry = _build.leaves.get(key)
        if entry is None or entry[0] is not graph:
            entry = (graph, _leaves_in_nbdt_order(_children_of(graph), root))
            _build.leaves[key] = entry
        yield from entry[1]

    return get_leaves


def _plain_leaf_weights(original: Callable[..., dict[str, float]]
                        ) -> Callable[..., dict[str, float]]:
    """nbdt's ``get_leaf_weights`` recursion, same arithmetic in the same order, on plain lists:
    ``weight(leaf) = sum over paths of weight / prod(number of children along the path)``."""

    def get_leaf_weights(graph, node: str, weight: float = 1) -> dict[str, float]:
        if _build is None:
            return original(graph, node, weight)
        children = _children_of(graph)

        def walk(node: str, weight: float) -> dict[str, float]:
            kids = children[node]
            if not kids:
                return {node: weight}
            share = weight / float(len(kids))
            weights: dict[str, float] = {}
            for child in kids:
                for wnid, value in walk(child, share).items():
                    weights[wnid] = weights.get(wnid, 0) + value
            return weights

        return walk(node, weight)

    return get_leaf_weights


def _one_build_scope(original: Callable[..., dict]) -> Callable[..., dict]:
    """``Node.get_wnid_to_node`` with a :class:`_BuildCache` for its duration (the outermost
    call owns it; it is dropped on leaving, by any route)."""

    def get_wnid_to_node(path_graph: str, path_wnids: str, classes: object) -> dict:
        global _build
        outer = _build is not None
        if not outer:
            _build = _BuildCache({}, {}, {}, {}, {})
        try:
            return original(path_graph, path_wnids, classes)
        finally:
            if not outer:
                _build = None

    return get_wnid_to_node


def one_read_per_build() -> dict[Target, object]:
    """The ``one_read_per_build`` patch: within one ``Node.get_wnid_to_node`` build, each graph
    JSON and wnids file is read once and each node's leaves are found once, in nbdt's order."""
    import nbdt.data.custom
    import nbdt.graph

    from . import compat

    node_class = nbdt.data.custom.Node
    return {
        **compat.everywhere("read_graph", _cached_read_graph(nbdt.graph.read_graph)),
        **compat.everywhere("get_wnids", _cached_get_wnids(nbdt.graph.get_wnids)),
        **compat.everywhere("get_leaves", _cached_get_leaves(nbdt.graph.get_leaves)),
        **compat.everywhere("get_leaf_weights", _plain_leaf_weights(nbdt.graph.get_leaf_weights)),
        (node_class, "get_wnid_to_node"): staticmethod(
            _one_build_scope(node_class.get_wnid_to_node)),
    }


def lazy_node_synsets() -> dict[Target, object]:
    """The ``lazy_node_synsets`` patch: ``Node``'s WordNet synset is looked up on first use."""
    import nbdt.data.custom
    import nbdt.graph

    from . import compat

    original = nbdt.graph.wnid_to_synset
    synsets: dict[str, object] = {}

    def wnid_to_synset(wnid: str):
        """One WordNet look-up per wnid; none at all when WordNet is absent."""
        if wnid not in synsets:
            synsets[wnid] = (original(wnid) if compat.wordnet_available()
                             else nbdt.graph.FakeSynset(wnid))
        return synsets[wnid]

    class LazySynset:
        """Resolves ``wnid_to_synset`` on first use (``Node`` stores a synset it never reads)."""

        def __init__(self, wnid: str) -> None:
            self._wnid = wnid

        def __getattr__(self, name: str):
            return getattr(wnid_to_synset(self._wnid), name)

    return {**compat.everywhere("wnid_to_synset", wnid_to_synset),
            (nbdt.data.custom, "wnid_to_synset"): LazySynset}


def class_index_dict() -> dict[Target, object]:
    """The ``class_index_dict`` patch: ``wnids.index(wnid)`` through a dict."""
    import nbdt.data.custom

    def wnid_to_class_index(self, wnid: str) -> int:
        """``self.wnids.index(wnid)`` through a dict (first index wins).

        The dict is kept on the node and, during a build, shared by every node holding the same
        wnids list (one list per build: see ``one_read_per_build``), so it is made once per build
        rather than once per node.
        """
        entry = self.__dict__.get("_xai_wnid_index")
        if entry is None or entry[0] is not self.wnids:
            shared = _build.indexes if _build is not None else {}
            entry = shared.get(id(self.wnids))
            if entry is None or entry[0] is not self.wnids:
                entry = (self.wnids, {w: i for i, w in reversed(list(enumerate(self.wnids)))})
                shared[id(self.wnids)] = entry
            self._xai_wnid_index = entry
        try:
            return entry[1][wnid]
        except KeyError:
            raise ValueError(f"{wnid!r} is not in list") from None

    return {(nbdt.data.custom.Node, "wnid_to_class_index"): wnid_to_class_index}


def vectorized_leaf_weights() -> dict[Target, object]:
    """The ``vectorized_leaf_weights`` patch: per-child leaf weights in one tensor operation."""
    import nbdt.data.custom
    import torch

    def get_new_to_leaf_weights(self) -> dict[int, torch.Tensor]:
        """nbdt's loop, vectorized: the same tensor values for every child, as nbdt makes them."""
        leaves = list(self.leaf_weights.items())
        weights = torch.zeros(self.num_original_classes)
        index = torch.tensor([self.wnid_to_class_index(leaf) for leaf, _ in leaves])
        weights[index] = torch.tensor([weight for _, weight in leaves], dtype=weights.dtype)
        assert abs(float(weights.double().sum()) - 1) < 1e-3, "Leaf weights do not sum to 1."
        return {index: weights.clone() for index in range(len(self.get_children()))}

    return {(nbdt.data.custom.Node, "get_new_to_leaf_weights"): get_new_to_leaf_weights}
