"""Lesson 03's hierarchies: nbdt's graph files read, walked and named; induced and written.

A hierarchy is nbdt's node-link graph JSON (every node has an ``id``, a wnid, and a ``label``)
plus a wnids file (the leaves' wnids in class-index order). :class:`Hierarchy` is the parsed
pair: each inner node's children in order, the root (the one node no edge points to), the leaves
under each node and the readable name of each node. Reading needs no WordNet.

Induction and renaming (used by ``scripts/``) need WordNet and scikit-learn: the structure is
Ward clustering of the classifier's rows, the names come from :mod:`.naming`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import torch

from ..core.errors import InputError, UnknownNameError
from . import compat


def package_data(*parts: str) -> Path:
    """A file shipped in ``xai_tutorial/data``."""
    return Path(str(resources.files("xai_tutorial").joinpath("data", *parts)))


# ----------------------------------------------------------------------------------------------
# Reading


def read_hierarchy(path_graph: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """``({wnid: label}, [(parent, child), ...])`` from a graph JSON, in one read (no WordNet)."""
    data = json.loads(Path(path_graph).read_text())
    labels = {str(n["id"]): str(n.get("label") or "") for n in data["nodes"]}
    edges = [(str(e["source"]), str(e["target"])) for e in data["links"]]
    return labels, edges


def read_labels(path_graph: Path) -> dict[str, str]:
    """``{wnid: label}`` from a graph JSON (no WordNet)."""
    return read_hierarchy(path_graph)[0]


def children_of(edges: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Each inner node's children, in the order of ``edges`` (leaves have no entry)."""
    children: dict[str, list[str]] = {}
    for parent, child in edges:
        children.setdefault(parent, []).append(child)
    return children


def root_of(edges: Sequence[tuple[str, str]]) -> str:
    """The first parent that no edge points to.

    Raises:
        InputError: no edges, or every parent is some node's child (a cycle).
    """
    targets = {child for _, child in edges}
    root = next((parent for parent, _ in edges if parent not in targets), None)
    if root is None:
        raise InputError("the hierarchy has no root (no edges, or every node has a parent)")
    return root


class Hierarchy:
    """A hierarchy read from nbdt's files: names, children, root and leaves.

    Attributes:
        path_graph, path_wnids: the files it was read from.
        labels: ``{wnid: label}`` for every node.
        edges: ``[(parent, child), ...]`` in the file's order.
        wnids: the leaf wnid of each class index.
        children: each inner node's children, in order.
        root: the node no edge points to.
    """

    def __init__(self, path_graph: Path, path_wnids: Path) -> None:
        self.path_graph, self.path_wnids = Path(path_graph), Path(path_wnids)
        self.labels, self.edges = read_hierarchy(self.path_graph)
        self.wnids: list[str] = self.path_wnids.read_text().split()
        self.children = children_of(self.edges)
        self.root = root_of(self.edges)
        self._class_of = {wnid: i for i, wnid in enumerate(self.wnids)}
        self._leaves: dict[str, tuple[int, ...]] = {}

    def name(self, wnid: str) -> str:
        """The node's label.

        Raises:
            InputError: the graph gives it no name (or nbdt's ``'(generated)'``).
        """
        label = self.labels.get(wnid) or ""
        if not label or label == "(generated)":
            raise InputError(f"hierarchy node {wnid} has no name in {self.path_graph}")
        return label

    def leaf_indices(self, node: str) -> list[int]:
        """The class indices of the leaves under ``node`` (itself, if a leaf), left to right.

        Precondition: ``node`` is a node of the hierarchy (a ``KeyError`` otherwise).
        """
        found = self._leaves.get(node)
        if found is None:
            if node not in self.children:
                found = (self._class_of[node],)
            else:
                found = tuple(i for c in self.children[node] for i in self.leaf_indices(c))
            self._leaves[node] = found
        return list(found)

    def wnid_of(self, name: str) -> str:
        """The id of the (first) node called ``name``.

        Raises:
            UnknownNameError: no node has that name (the message lists the names).
        """
        for wnid, label in self.labels.items():
            if label == name:
                return wnid
        raise UnknownNameError("node", name, sorted(set(self.labels.values())))

    def check_inner(self, node: object) -> str:
        """``node`` if it is the wnid of an inner node (one with children).

        Raises:
            UnknownNameError: anything else (the message lists the inner nodes).
        """
        if not isinstance(node, str) or node not in self.children:
            raise UnknownNameError("inner node", node, self.children)
        return node


# ----------------------------------------------------------------------------------------------
# WordNet, induction and writing (scripts)


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
    if not compat.wordnet_available():
        raise RuntimeError(
            "WordNet is not installed for nltk: it is needed to name a new hierarchy "
            "(`make data` installs it offline from Debian's wordnet-base)"
        )


def write_hierarchy(path_graph: Path, nodes: Sequence[tuple[str, str]],
                    edges: Sequence[tuple[str, str]]) -> None:
    """Write nbdt's node-link graph JSON: ``nodes`` as ``(id, label)``, ``edges`` in order."""
    from ..core._files import atomic_path

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
    :func:`xai_tutorial.decision_trees.naming.name_hierarchy`, which also works at ImageNet size
    where nbdt's own naming fails. Leaves keep their wnids and are labelled with ``class_names``.

    Args:
        leaf_synsets: each class's WordNet synset name; by default looked up from ``wnids``.

    Returns:
        ``{wnid: label}`` for every node.
    """
    from sklearn.cluster import AgglomerativeClustering

    from .naming import name_hierarchy

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
    """Re-name an existing hierarchy's inner nodes by :mod:`.naming`, keeping its structure, the
    order of its nodes and children, and its leaves.

    Returns:
        ``{old inner wnid: NodeName}``.
    """
    from .naming import name_hierarchy

    _require_wordnet()
    labels, edges = read_hierarchy(path_graph)
    children = children_of(edges)
    leaves = {node: label for node, label in labels.items() if node not in children}
    names = name_hierarchy(children, root_of(edges), leaf_synsets, leaves)
    final = {node: names[node].wnid if node in names else node for node in labels}
    write_hierarchy(out, [(final[node], names[node].label if node in names else labels[node])
                          for node in labels],
                    [(final[parent], final[child]) for parent, child in edges])
    return names
