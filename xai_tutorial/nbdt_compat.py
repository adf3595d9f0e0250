"""Make nbdt 0.0.4 (2020) work on today's libraries: a table of named, reversible patches.

nbdt is the library lesson 03 is about, so we keep it and mend it in one place. Each entry of
:data:`PATCHES` is one small function that returns ``{(owner, attribute): replacement}``; the
table says what each one fixes. :func:`apply` installs them all (idempotent), :func:`restore`
puts back every original object (the very same objects), and :func:`patched` does both around a
``with`` block.

Correctness patches (nbdt does not run, or runs wrongly, without them):

* ``networkx_node_link_edges``: networkx >= 3.6 reads and writes node-link JSON under
  ``edges="links"``;
* ``sklearn_affinity_is_metric``: scikit-learn renamed ``AgglomerativeClustering(affinity=)`` to
  ``metric=``;
* ``numpy2_confusion_normalize``: ``np.float`` (removed in numpy 2) in
  ``ConfusionMatrix.normalize``;
* ``numpy_printoptions_untouched``: building nbdt's rules calls ``set_np_printoptions()``, which
  makes numpy print every float with three decimals for the rest of the session (a learner's
  ``round(4)`` then shows three); the rules now leave numpy's print options alone;
* ``names_from_the_graph``: decisions are named by WordNet, so without WordNet every node is
  '(generated)'. Names now come from the ``label`` fields of the graph the rules were built from,
  so two hierarchies never share names through a cache.

Speed patches (the same decisions, sooner; they matter for the 1000-class ImageNet rules):

* ``one_read_per_build``: building nbdt's rules re-reads the graph JSON and the wnids file once
  per node (~2,000 reads for ImageNet) and walks every node's descendants with networkx; within
  one build each file is now read once and each node's leaves are found once, in nbdt's order;
* ``lazy_node_synsets``: ``Node`` looks up a WordNet synset it never uses (loading WordNet costs
  seconds); the look-up now happens on first use only;
* ``class_index_dict``: ``wnids.index(wnid)`` (a list scan) through a dict;
* ``vectorized_leaf_weights``: nbdt's per-child loop over leaf weights, vectorized.

Importing nbdt also runs ``stty size`` (noise on stdout and stderr); :func:`import_nbdt` imports
it quietly. ``tests/test_nbdt_compat.py`` tests every patch in-process, and compares patched and
unpatched rules decision for decision in subprocesses.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

NBDT_MODULES = ("nbdt.analysis", "nbdt.data.custom", "nbdt.graph", "nbdt.hierarchy", "nbdt.loss",
                "nbdt.model", "nbdt.utils")

Target = tuple[object, str]  # (module or class, attribute name)
_MISSING = object()


@dataclass(frozen=True)
class Patch:
    """One named change to nbdt: ``build()`` returns ``{(owner, attribute): replacement}``."""

    name: str
    layer: Literal["correctness", "speed"]
    fixes: str
    build: Callable[[], dict[Target, object]]


def import_nbdt() -> None:
    """Import nbdt's modules without running ``stty`` (its output is the import noise)."""
    real_popen = os.popen

    def no_stty(command: str, *args: object, **kwargs: object):
        if command.strip().startswith("stty"):
            return io.StringIO("24 80\n")
        return real_popen(command, *args, **kwargs)  # type: ignore[arg-type]

    os.popen = no_stty  # type: ignore[assignment]
    try:
        import importlib

        for name in NBDT_MODULES:
            importlib.import_module(name)
    finally:
        os.popen = real_popen


def _modules() -> list[object]:
    import sys

    return [sys.modules[name] for name in NBDT_MODULES]


def _everywhere(name: str, value: object, home: str = "nbdt.graph") -> dict[Target, object]:
    """Replace ``name`` in every nbdt module that holds ``home``'s current object."""
    import sys

    current = getattr(sys.modules[home], name, _MISSING)
    return {(module, name): value for module in _modules()
            if getattr(module, name, _MISSING) is current and current is not _MISSING}


def _original(owner: object, attribute: str) -> object:
    """The object nbdt had before :func:`apply` (the current one when not patched)."""
    return _saved.get((owner, attribute), vars(owner).get(attribute))


# ----------------------------------------------------------------------------------------------
# Correctness


def _networkx_node_link_edges() -> dict[Target, object]:
    import inspect

    from networkx.readwrite import json_graph

    keyword = "edges" in inspect.signature(json_graph.node_link_graph).parameters
    links = {"edges": "links"} if keyword else {}

    def node_link_graph(data: dict, *args: object, **kwargs: object):
        return json_graph.node_link_graph(data, *args, **{**links, **kwargs})

    def node_link_data(graph: object, *args: object, **kwargs: object) -> dict:
        return json_graph.node_link_data(graph, *args, **{**links, **kwargs})

    return {**_everywhere("node_link_graph", node_link_graph),
            **_everywhere("node_link_data", node_link_data)}


def _sklearn_affinity_is_metric() -> dict[Target, object]:
    import inspect

    import sklearn.cluster

    class AgglomerativeClustering(sklearn.cluster.AgglomerativeClustering):
        """Accepts nbdt's ``affinity=`` and passes it on as ``metric=``."""

        def __init__(self, *args: object, affinity: str | None = None, **kwargs: object) -> None:
            if affinity is not None:
                kwargs.setdefault("metric", affinity)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    # sklearn reads constructor parameters by introspection; keep its own signature.
    AgglomerativeClustering.__init__.__signature__ = (  # type: ignore[attr-defined]
        inspect.signature(sklearn.cluster.AgglomerativeClustering.__init__)
    )
    return _everywhere("AgglomerativeClustering", AgglomerativeClustering)


def _numpy2_confusion_normalize() -> dict[Target, object]:
    import nbdt.analysis
    import numpy as np

    def normalize(confusion_matrix: np.ndarray, axis: int) -> np.ndarray:
        total = confusion_matrix.astype(float).sum(axis=axis)
        total = total[:, None] if axis == 1 else total[None]
        return confusion_matrix / total

    return {(nbdt.analysis.ConfusionMatrix, "normalize"): staticmethod(normalize)}


def _numpy_printoptions_untouched() -> dict[Target, object]:
    def set_np_printoptions() -> None:
        """nbdt's global ``np.set_printoptions(formatter=...)``, left out: printing is ours."""

    return _everywhere("set_np_printoptions", set_np_printoptions, home="nbdt.utils")


def _graph_name(graph: object, wnid: str) -> str:
    """A node's ``label`` in ``graph``, else nbdt's WordNet name."""
    import nbdt.graph

    label = graph.nodes[wnid].get("label") if wnid in graph.nodes else None  # type: ignore[attr-defined]
    return str(label) if label else nbdt.graph.wnid_to_name(wnid)


def _names_from_the_graph() -> dict[Target, object]:
    import nbdt.analysis
    import nbdt.data.custom
    import nbdt.graph
    import torch

    hard = nbdt.analysis.HardEmbeddedDecisionRules
    node_class = nbdt.data.custom.Node

    def traverse_tree(self, _, wnid_to_pred_selector, n_samples):
        """nbdt's walk, with each decision named from ``self.G`` (this hierarchy's graph)."""
        wnid_root = nbdt.graph.get_root(self.G)
        node_root = self.wnid_to_node[wnid_root]
        decisions, preds = [], []
        for index in range(n_samples):
            decision = [{"node": node_root, "name": "root", "prob": 1}]
            wnid, node = wnid_root, node_root
            while node is not None:
                if node.wnid not in wnid_to_pred_selector:
                    wnid = node = None
                    break
                pred_sub, prob_sub, selector = wnid_to_pred_selector[node.wnid]
                if not selector[index]:
                    wnid = node = None
                    break
                index_new = sum(selector[:index + 1]) - 1
                index_child = pred_sub[index_new]
                prob_child = float(prob_sub[index_new][index_child])
                wnid = node.children[index_child]
                node = self.wnid_to_node.get(wnid, None)
                decision.append({"node": node, "name": _graph_name(self.G, wnid),
                                 "prob": prob_child})
            cls = self.wnid_to_class.get(wnid, None)
            preds.append(-1 if cls is None else self.classes.index(cls))
            decisions.append(decision)
        return torch.Tensor(preds).long(), decisions

    def get_leaf_to_path(nodes):
        """nbdt's leaf -> path table, each step named from the nodes' own graph."""
        graph = nodes[0].G
        wnid_to_node = {node.wnid: node for node in nodes}
        return {
            leaf: [{"node": wnid_to_node.get(wnid, None), "name": _graph_name(graph, wnid)}
                   for wnid in path]
            for leaf, path in nbdt.graph.get_leaf_to_path(graph).items()
        }

    return {(hard, "traverse_tree"): traverse_tree,
            (node_class, "get_leaf_to_path"): staticmethod(get_leaf_to_path)}


# ----------------------------------------------------------------------------------------------
# Speed


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


def _one_read_per_build() -> dict[Target, object]:
    import json

    import nbdt.data.custom
    import nbdt.graph

    original_read_graph = nbdt.graph.read_graph
    original_get_wnids = nbdt.graph.get_wnids
    original_get_leaves = nbdt.graph.get_leaves
    original_get_leaf_weights = nbdt.graph.get_leaf_weights
    node_class = nbdt.data.custom.Node
    original_get_wnid_to_node = node_class.get_wnid_to_node

    def read_graph(path: str):
        if _build is None or not os.path.exists(path):
            return original_read_graph(path)
        key = _key(path)
        if key not in _build.graphs:
            with open(path) as handle:
                _build.graphs[key] = nbdt.graph.node_link_graph(json.load(handle))
        return _build.graphs[key]

    def get_wnids(path: str) -> list[str]:
        if _build is None or not os.path.exists(path):
            return original_get_wnids(path)
        key = _key(path)
        if key not in _build.wnids:
            _build.wnids[key] = original_get_wnids(path)
        return _build.wnids[key]  # shared within a build; nbdt never mutates it

    def children_of(graph) -> dict[str, list[str]]:
        assert _build is not None
        entry = _build.children.get(id(graph))
        if entry is None or entry[0] is not graph:
            entry = (graph, {n: list(graph.succ[n]) for n in graph})
            _build.children[id(graph)] = entry
        return entry[1]

    def get_leaves(graph, root=None) -> Iterator[str]:
        """nbdt's leaves of ``root`` in nbdt's own order, found once per build.

        nbdt iterates ``nx.descendants(G, root) | {root}``: a set filled in breadth-first order.
        We fill the same set in the same order from plain lists, so its iteration order (and so
        every float sum downstream) is exactly nbdt's.
        """
        if _build is None or root is None:
            yield from original_get_leaves(graph, root)
            return
        key = (id(graph), root)
        entry = _build.leaves.get(key)
        if entry is None or entry[0] is not graph:
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
            nodes = set(order) | {root}
            entry = (graph, tuple(n for n in nodes if not children[n]))
            _build.leaves[key] = entry
        yield from entry[1]

    def get_leaf_weights(graph, node: str, weight: float = 1) -> dict[str, float]:
        """nbdt's recursion, same arithmetic in the same order, on plain lists."""
        if _build is None:
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

    def get_wnid_to_node(path_graph: str, path_wnids: str, classes: object) -> dict:
        global _build
        outer = _build is not None
        if not outer:
            _build = _BuildCache({}, {}, {}, {}, {})
        try:
            return original_get_wnid_to_node(path_graph, path_wnids, classes)
        finally:
            if not outer:
                _build = None

    return {
        **_everywhere("read_graph", read_graph),
        **_everywhere("get_wnids", get_wnids),
        **_everywhere("get_leaves", get_leaves),
        **_everywhere("get_leaf_weights", get_leaf_weights),
        (node_class, "get_wnid_to_node"): staticmethod(get_wnid_to_node),
    }


def _lazy_node_synsets() -> dict[Target, object]:
    import nbdt.data.custom
    import nbdt.graph

    original = nbdt.graph.wnid_to_synset
    synsets: dict[str, object] = {}

    def wnid_to_synset(wnid: str):
        """One WordNet look-up per wnid; none at all when WordNet is absent."""
        if wnid not in synsets:
            synsets[wnid] = (original(wnid) if wordnet_available()
                             else nbdt.graph.FakeSynset(wnid))
        return synsets[wnid]

    class LazySynset:
        """Resolves ``wnid_to_synset`` on first use (``Node`` stores a synset it never reads)."""

        def __init__(self, wnid: str) -> None:
            self._wnid = wnid

        def __getattr__(self, name: str):
            return getattr(wnid_to_synset(self._wnid), name)

    return {**_everywhere("wnid_to_synset", wnid_to_synset),
            (nbdt.data.custom, "wnid_to_synset"): LazySynset}


def _class_index_dict() -> dict[Target, object]:
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


def _vectorized_leaf_weights() -> dict[Target, object]:
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


#: Every patch, in the order :func:`apply` installs them.
PATCHES: dict[str, Patch] = {p.name: p for p in (
    Patch("networkx_node_link_edges", "correctness",
          "networkx >= 3.6 keeps node-link edges under 'links' only when told",
          _networkx_node_link_edges),
    Patch("sklearn_affinity_is_metric", "correctness",
          "AgglomerativeClustering(affinity=) is metric= in today's scikit-learn",
          _sklearn_affinity_is_metric),
    Patch("numpy2_confusion_normalize", "correctness",
          "ConfusionMatrix.normalize uses np.float, gone in numpy 2", _numpy2_confusion_normalize),
    Patch("numpy_printoptions_untouched", "correctness",
          "building the rules set numpy to print 3 decimals everywhere",
          _numpy_printoptions_untouched),
    Patch("names_from_the_graph", "correctness",
          "decisions are named from the graph's labels, not WordNet ('(generated)' without it)",
          _names_from_the_graph),
    Patch("one_read_per_build", "speed",
          "each graph JSON / wnids file read once, each node's leaves found once, per build",
          _one_read_per_build),
    Patch("lazy_node_synsets", "speed",
          "Node's unused WordNet synset is looked up on first use only", _lazy_node_synsets),
    Patch("class_index_dict", "speed", "wnids.index(wnid) through a dict", _class_index_dict),
    Patch("vectorized_leaf_weights", "speed",
          "per-child leaf weights built in one tensor operation", _vectorized_leaf_weights),
)}

_saved: dict[Target, object] = {}  # (owner, attribute) -> nbdt's original object
_applied: list[str] = []


def apply(names: tuple[str, ...] | None = None) -> None:
    """Install the patches (all, or those named) that are not installed yet. Idempotent."""
    import_nbdt()
    for name in names if names is not None else tuple(PATCHES):
        if name in _applied:
            continue
        for (owner, attribute), value in PATCHES[name].build().items():
            _saved.setdefault((owner, attribute), vars(owner).get(attribute, _MISSING))
            setattr(owner, attribute, value)
        _applied.append(name)


def restore() -> None:
    """Put back every original nbdt object that :func:`apply` replaced (the same objects)."""
    for (owner, attribute), original in reversed(list(_saved.items())):
        if original is _MISSING:
            delattr(owner, attribute)
        else:
            setattr(owner, attribute, original)
    _saved.clear()
    _applied.clear()


def applied() -> tuple[str, ...]:
    """The names of the installed patches, in the order they went in."""
    return tuple(_applied)


@contextlib.contextmanager
def patched(names: tuple[str, ...] | None = None) -> Iterator[None]:
    """nbdt patched inside the block; on leaving it, by any route, as it was before."""
    before = applied()
    apply(names)
    try:
        yield
    finally:
        if not before:
            restore()


def original(owner: object, attribute: str) -> object:
    """nbdt's own ``owner.attribute``, whether or not it is patched (for tests and comparison)."""
    return _original(owner, attribute)


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
