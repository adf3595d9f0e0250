"""Make nbdt 0.0.4 (2020) work on today's libraries, quietly and fast. Call :func:`apply` first.

nbdt is the library lesson 03 is about, so we keep it and mend it in one place:

* networkx >= 3.6 reads and writes node-link JSON under ``edges="links"``;
* scikit-learn renamed ``AgglomerativeClustering(affinity=)`` to ``metric=``;
* importing ``nbdt.utils`` runs ``stty size``, which prints noise on stdout and stderr;
* ``np.float`` (removed in numpy 2) in ``ConfusionMatrix.normalize``;
* every node of a hierarchy re-reads the graph JSON and the wnids file: ~2,000 reads for the
  ImageNet hierarchy. We read each file once per build, look up each node's leaves once, index
  wnids with a dict, and defer the WordNet look-up ``Node`` makes but never uses;
* without WordNet every node is named '(generated)', though the graph JSON has the names in its
  ``label`` fields. Names now come from those labels; WordNet is needed only to build new
  hierarchies.

The patches only change how nbdt reads files and names nodes, never a decision or a probability
(``tests/test_nbdt_compat.py`` compares patched and unpatched rules).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator

_applied = False
_labels: dict[str, str] = {}  # wnid -> name, from every graph JSON read
_graph_cache: dict[tuple[str, int, int], object] | None = None  # active only during a build
_wnid_cache: dict[tuple[str, int, int], list[str]] | None = None
_leaves_cache: dict[tuple[int, object], tuple[object, tuple[str, ...]]] | None = None


def _key(path: str | os.PathLike) -> tuple[str, int, int]:
    stat = os.stat(path)
    return (os.fspath(path), stat.st_mtime_ns, stat.st_size)


@contextlib.contextmanager
def _one_read_per_file() -> Iterator[None]:
    """Within the block, each graph JSON and wnids file is read and parsed once."""
    global _graph_cache, _wnid_cache, _leaves_cache
    outer = _graph_cache is not None
    if not outer:
        _graph_cache, _wnid_cache, _leaves_cache = {}, {}, {}
    try:
        yield
    finally:
        if not outer:
            _graph_cache = _wnid_cache = _leaves_cache = None


def _import_nbdt_quietly() -> None:
    """Import nbdt's modules without running ``stty`` (its output is the import noise)."""
    real_popen = os.popen

    def no_stty(command: str, *args: object, **kwargs: object):
        if command.strip().startswith("stty"):
            return io.StringIO("24 80\n")
        return real_popen(command, *args, **kwargs)  # type: ignore[arg-type]

    os.popen = no_stty  # type: ignore[assignment]
    try:
        import nbdt.analysis  # noqa: F401
        import nbdt.data.custom  # noqa: F401
        import nbdt.graph  # noqa: F401
        import nbdt.hierarchy  # noqa: F401
        import nbdt.loss  # noqa: F401
        import nbdt.model  # noqa: F401
        import nbdt.utils  # noqa: F401
    finally:
        os.popen = real_popen


def label_of(wnid: str) -> str | None:
    """The name recorded for ``wnid`` in a graph JSON read so far, if any."""
    return _labels.get(wnid)


def apply() -> None:
    """Patch nbdt in place (idempotent). Safe to call before every use."""
    global _applied
    if _applied:
        return
    _import_nbdt_quietly()

    import json

    import nbdt.analysis
    import nbdt.data.custom
    import nbdt.graph
    import nbdt.hierarchy
    import nbdt.loss
    import nbdt.model
    import nbdt.utils
    import networkx as nx
    import numpy as np
    import sklearn.cluster
    from networkx.readwrite import json_graph

    links = {"edges": "links"} if _networkx_has_edges_keyword() else {}

    def node_link_graph(data: dict, *args: object, **kwargs: object) -> nx.Graph:
        for node in data.get("nodes", ()):
            if node.get("label"):
                _labels[str(node["id"])] = str(node["label"])
        return json_graph.node_link_graph(data, *args, **{**links, **kwargs})

    def node_link_data(graph: nx.Graph, *args: object, **kwargs: object) -> dict:
        return json_graph.node_link_data(graph, *args, **{**links, **kwargs})

    original_read_graph = nbdt.graph.read_graph
    original_get_wnids = nbdt.graph.get_wnids

    def read_graph(path: str) -> nx.DiGraph:
        if _graph_cache is None or not os.path.exists(path):
            return original_read_graph(path)
        key = _key(path)
        if key not in _graph_cache:
            with open(path) as handle:
                _graph_cache[key] = node_link_graph(json.load(handle))
        return _graph_cache[key]  # type: ignore[return-value]

    def get_wnids(path: str) -> list[str]:
        if _wnid_cache is None or not os.path.exists(path):
            return original_get_wnids(path)
        key = _key(path)
        if key not in _wnid_cache:
            _wnid_cache[key] = original_get_wnids(path)
        return _wnid_cache[key]  # shared within a build; nbdt never mutates it

    original_get_leaves = nbdt.graph.get_leaves
    original_get_leaf_weights = nbdt.graph.get_leaf_weights

    def children_of(graph: nx.DiGraph) -> dict[str, list[str]]:
        """The graph's adjacency as plain lists (once per graph during a build)."""
        key = (id(graph), "children")
        if key not in _leaves_cache or _leaves_cache[key][0] is not graph:  # type: ignore[operator]
            _leaves_cache[key] = (graph, {n: list(graph.succ[n]) for n in graph})  # type: ignore[index]
        return _leaves_cache[key][1]  # type: ignore[index,return-value]

    def get_leaves(graph: nx.DiGraph, root: object = None) -> Iterator[str]:
        """nbdt's leaves of ``root`` in nbdt's own order, remembered during a build.

        nbdt iterates ``nx.descendants(G, root) | {root}``: a set filled in breadth-first order.
        We fill the same set in the same order from plain lists, so its iteration order (and so
        every float sum downstream) is exactly nbdt's.
        """
        if _leaves_cache is None or root is None:
            yield from original_get_leaves(graph, root)
            return
        key = (id(graph), root)
        if key not in _leaves_cache or _leaves_cache[key][0] is not graph:
            children = children_of(graph)
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
            nodes = {child for child in order} | {root}
            _leaves_cache[key] = (graph, tuple(n for n in nodes if not children[n]))
        yield from _leaves_cache[key][1]

    def get_leaf_weights(graph: nx.DiGraph, node: str, weight: float = 1) -> dict[str, float]:
        """nbdt's recursion, same arithmetic in the same order, on plain lists."""
        if _leaves_cache is None:
            return original_get_leaf_weights(graph, node, weight)
        children = children_of(graph)

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

    original_wnid_to_synset = nbdt.graph.wnid_to_synset
    synsets: dict[str, object] = {}

    def wnid_to_synset(wnid: str):
        if wnid not in synsets:  # one WordNet look-up per wnid; none when it is absent
            synsets[wnid] = (
                original_wnid_to_synset(wnid)
                if wordnet_available()
                else nbdt.graph.FakeSynset(wnid)
            )
        return synsets[wnid]

    class LazySynset:
        """Resolves ``wnid_to_synset`` on first use. ``Node.__init__`` stores a synset it never
        reads; looking it up eagerly loads all of WordNet (seconds) during every build."""

        def __init__(self, wnid: str) -> None:
            self._wnid = wnid

        def __getattr__(self, name: str):
            return getattr(wnid_to_synset(self._wnid), name)

    def wnid_to_name(wnid: str) -> str:
        label = _labels.get(wnid)
        if label:
            return label
        return nbdt.graph.synset_to_name(wnid_to_synset(wnid))

    class AgglomerativeClustering(sklearn.cluster.AgglomerativeClustering):
        """Accepts nbdt's ``affinity=`` and passes it on as ``metric=``."""

        def __init__(self, *args: object, affinity: str | None = None, **kwargs: object) -> None:
            if affinity is not None:
                kwargs.setdefault("metric", affinity)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    # sklearn reads constructor parameters by introspection; keep its own signature.
    AgglomerativeClustering.__init__.__signature__ = (  # type: ignore[attr-defined]
        __import__("inspect").signature(sklearn.cluster.AgglomerativeClustering.__init__)
    )

    def normalize(confusion_matrix: np.ndarray, axis: int) -> np.ndarray:
        total = confusion_matrix.astype(float).sum(axis=axis)
        total = total[:, None] if axis == 1 else total[None]
        return confusion_matrix / total

    for module in (nbdt.graph, nbdt.hierarchy, nbdt.data.custom, nbdt.analysis, nbdt.loss,
                   nbdt.model, nbdt.utils):
        for name, value in (
            ("node_link_graph", node_link_graph),
            ("node_link_data", node_link_data),
            ("read_graph", read_graph),
            ("get_wnids", get_wnids),
            ("get_leaves", get_leaves),
            ("get_leaf_weights", get_leaf_weights),
            ("wnid_to_synset", wnid_to_synset),
            ("wnid_to_name", wnid_to_name),
            ("AgglomerativeClustering", AgglomerativeClustering),
        ):
            if hasattr(module, name):
                setattr(module, name, value)
    nbdt.analysis.ConfusionMatrix.normalize = staticmethod(normalize)
    nbdt.data.custom.wnid_to_synset = LazySynset

    node = nbdt.data.custom.Node
    original_get_wnid_to_node = node.get_wnid_to_node

    def get_wnid_to_node(path_graph: str, path_wnids: str, classes: object) -> dict:
        with _one_read_per_file():
            return original_get_wnid_to_node(path_graph, path_wnids, classes)

    node.get_wnid_to_node = staticmethod(get_wnid_to_node)

    import torch

    indexes: dict[int, tuple[list[str], dict[str, int]]] = {}

    def wnid_to_class_index(self, wnid: str) -> int:
        """``self.wnids.index(wnid)`` through a dict built once per wnids list."""
        entry = indexes.get(id(self.wnids))
        if entry is None or entry[0] is not self.wnids:
            entry = (self.wnids, {w: i for i, w in reversed(list(enumerate(self.wnids)))})
            indexes[id(self.wnids)] = entry
        try:
            return entry[1][wnid]
        except KeyError:
            raise ValueError(f"{wnid!r} is not in list") from None

    def get_new_to_leaf_weights(self) -> dict[int, torch.Tensor]:
        """nbdt's loop, vectorized: the same tensor values for every child, as nbdt makes them."""
        leaves = list(self.leaf_weights.items())
        weights = torch.zeros(self.num_original_classes)
        index = torch.tensor([self.wnid_to_class_index(leaf) for leaf, _ in leaves])
        weights[index] = torch.tensor([weight for _, weight in leaves], dtype=weights.dtype)
        assert abs(float(weights.double().sum()) - 1) < 1e-3, "Leaf weights do not sum to 1."
        return {index: weights.clone() for index in range(len(self.get_children()))}

    node.wnid_to_class_index = wnid_to_class_index
    node.get_new_to_leaf_weights = get_new_to_leaf_weights
    _applied = True


def wordnet_available() -> bool:
    """Whether nltk finds WordNet offline (checked once; nltk never downloads here)."""
    global _wordnet
    if _wordnet is None:
        import nltk

        try:
            nltk.data.find("corpora/wordnet")
            _wordnet = True
        except LookupError:
            _wordnet = False
    return _wordnet


_wordnet: bool | None = None


def _networkx_has_edges_keyword() -> bool:
    import inspect

    from networkx.readwrite import json_graph

    return "edges" in inspect.signature(json_graph.node_link_graph).parameters
