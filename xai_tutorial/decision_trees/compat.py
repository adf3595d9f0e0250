"""Make nbdt 0.0.4 (2020) work on today's libraries: a table of named, reversible patches.

nbdt is the library lesson 03 is about, so we keep it and mend it in one place. Each entry of
:data:`PATCHES` is one small function that returns ``{(owner, attribute): replacement}``; the
table says what each one fixes. :func:`apply` installs them all or some (idempotent),
:func:`restore` takes them all or some out (every target gets back the very same object), and
:func:`patched` does both around a ``with`` block: on leaving it, exactly the patches it
installed are taken out, and those installed before stay.

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

Speed patches (the same decisions, sooner; they matter for the 1000-class ImageNet rules; they
live in :mod:`.compat_speed`):

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

from . import compat_speed

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


def everywhere(name: str, value: object, home: str = "nbdt.graph") -> dict[Target, object]:
    """Replace ``name`` in every nbdt module that holds ``home``'s current object."""
    import sys

    current = getattr(sys.modules[home], name, _MISSING)
    return {(module, name): value for module in _modules()
            if getattr(module, name, _MISSING) is current and current is not _MISSING}


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

    return {**everywhere("node_link_graph", node_link_graph),
            **everywhere("node_link_data", node_link_data)}


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
    return everywhere("AgglomerativeClustering", AgglomerativeClustering)


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

    return everywhere("set_np_printoptions", set_np_printoptions, home="nbdt.utils")


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
          compat_speed.one_read_per_build),
    Patch("lazy_node_synsets", "speed",
          "Node's unused WordNet synset is looked up on first use only",
          compat_speed.lazy_node_synsets),
    Patch("class_index_dict", "speed", "wnids.index(wnid) through a dict",
          compat_speed.class_index_dict),
    Patch("vectorized_leaf_weights", "speed",
          "per-child leaf weights built in one tensor operation",
          compat_speed.vectorized_leaf_weights),
)}

#: Each installed patch's targets and what they held before it went in (``_MISSING``: no such
#: attribute), by patch name, in the order the patches went in.
_saved: dict[str, dict[Target, object]] = {}


def apply(names: tuple[str, ...] | None = None) -> None:
    """Install the patches (all, or those named) that are not installed yet. Idempotent."""
    import_nbdt()
    for name in names if names is not None else tuple(PATCHES):
        if name in _saved:
            continue
        replacements = PATCHES[name].build()
        _saved[name] = {(owner, attribute): vars(owner).get(attribute, _MISSING)
                        for owner, attribute in replacements}
        for (owner, attribute), value in replacements.items():
            setattr(owner, attribute, value)


def _undo(name: str) -> None:
    """Take patch ``name`` out. A target that a later patch replaced again keeps that later
    value; the later patch then remembers this one's original instead, so undoing it too puts
    back what was there before either."""
    order = list(_saved)
    later = [_saved[other] for other in order[order.index(name) + 1:]]
    before = _saved.pop(name)
    for target, original in reversed(list(before.items())):
        newer = next((saved for saved in later if target in saved), None)
        if newer is not None:
            newer[target] = original
            continue
        owner, attribute = target
        if original is _MISSING:
            delattr(owner, attribute)
        else:
            setattr(owner, attribute, original)


def restore(names: tuple[str, ...] | None = None) -> None:
    """Take out the installed patches (all, or those named), the last installed first; every
    target gets back the very object it held before."""
    for name in reversed(list(_saved)):
        if names is None or name in names:
            _undo(name)


def applied() -> tuple[str, ...]:
    """The names of the installed patches, in the order they went in."""
    return tuple(_saved)


@contextlib.contextmanager
def patched(names: tuple[str, ...] | None = None) -> Iterator[None]:
    """nbdt patched inside the block; on leaving it, by any route, as it was before.

    Patches installed before the block stay installed; those the block installed are taken out.
    """
    before = set(applied())
    try:
        apply(names)
        yield
    finally:
        restore(tuple(name for name in applied() if name not in before))


def original(owner: object, attribute: str) -> object:
    """nbdt's own ``owner.attribute``, whether or not it is patched (for tests and comparison)."""
    for saved in _saved.values():  # the first patch to replace it saved nbdt's own
        if (owner, attribute) in saved:
            return saved[(owner, attribute)]
    return vars(owner).get(attribute)


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
