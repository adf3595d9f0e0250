"""Names for the inner nodes of an induced hierarchy that read as reasons (lesson 03).

The rule, for a tree whose leaves are WordNet synsets:

1. Each inner node's candidate name is the *lowest* WordNet hypernym shared by all of its leaves
   (the deepest common strict hypernym; a synset that is itself a class of the tree never names
   an inner node).
2. When several nodes share that hypernym, the *highest* one (closest to the root; then the one
   with more leaves) takes the name. The others are named by their children, e.g. ``"Sneaker or
   Ankle boot"``: children that are themselves named by their children are spelled out, and more
   than four parts are shortened to ``"A, B, … (7 classes under dog)"``.
3. No node is ever ``'(generated)'``; should two names still collide, the later one gets a
   number: ``"dog (2)"``.

nbdt 0.0.4 names bottom-up instead, keeping names unique as it merges: the first merge takes the
natural name and the larger group above it gets a vaguer one (sandals end up under "covering",
not "footwear"), and at ImageNet size it asserts (``['lionfish.n.01', '(generated)']``) or fails
on its ``FakeSynset``. This module needs only nltk's WordNet and is fast at ImageNet size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class NodeName:
    """An inner node's new identity: ``wnid`` (a WordNet id, or ``f`` + 8 digits when named by
    its children, nbdt's convention for nodes without a synset), ``label`` and how it was named."""

    wnid: str
    label: str
    hypernym: str  # the lowest shared hypernym's synset name, e.g. "footwear.n.02"
    by_children: bool


def synset_label(name: str) -> str:
    """``"woman's_clothing.n.01"`` -> ``"woman's clothing"``."""
    return name.split(".")[0].replace("_", " ")


def _strict_hypernyms(synset) -> set:
    return set(synset.closure(lambda s: s.hypernyms() + s.instance_hypernyms()))


class _Walk(NamedTuple):
    """The inner nodes root first (breadth-first), each node's depth, the strict hypernyms all
    of an inner node's leaves share, and its number of leaves."""

    order: list[str]
    depth: dict[str, int]
    common: dict[str, set]
    leaf_count: dict[str, int]


def _walk(children: Mapping[str, Sequence[str]], root: str, synsets: Mapping[str, object]
          ) -> _Walk:
    """:class:`_Walk` of the tree; ``common(n) = intersection over n's children of common(child)
    (or a leaf's strict hypernyms)``."""
    depth: dict[str, int] = {}
    order: list[str] = []
    common: dict[str, set] = {}
    leaf_count: dict[str, int] = {}
    frontier = [(root, 0)]
    while frontier:
        following = []
        for node, d in frontier:
            depth[node] = d
            if node in children:
                order.append(node)
                following += [(child, d + 1) for child in children[node]]
        frontier = following
    for node in reversed(order):  # children before parents
        sets, count = [], 0
        for child in children[node]:
            if child in children:
                sets.append(common[child])
                count += leaf_count[child]
            else:
                sets.append(_strict_hypernyms(synsets[child]))
                count += 1
        common[node] = set.intersection(*sets)
        leaf_count[node] = count
    return _Walk(order, depth, common, leaf_count)


def name_hierarchy(
    children: Mapping[str, Sequence[str]],
    root: str,
    leaf_synsets: Mapping[str, str],
    leaf_labels: Mapping[str, str],
) -> dict[str, NodeName]:
    """Name every inner node of a tree (see the module's rule).

    Args:
        children: each inner node's children, in order (leaves have no entry).
        root: the root node.
        leaf_synsets: each leaf's WordNet synset name (``"boot.n.01"``).
        leaf_labels: each leaf's display name (``"Ankle boot"``).

    Returns:
        ``{inner node: NodeName}``.
    """
    from nltk.corpus import wordnet as wn

    synsets = {leaf: wn.synset(name) for leaf, name in leaf_synsets.items()}
    classes = {s.name() for s in synsets.values()}
    order, depth, common, leaf_count = _walk(children, root, synsets)

    def lowest(node: str):
        candidates = [s for s in common[node] if s.name() not in classes]
        if not candidates:
            raise ValueError(f"node {node}: its leaves share no WordNet hypernym")
        return max(candidates, key=lambda s: (s.max_depth(), s.min_depth(), s.name()))

    hypernym = {node: lowest(node) for node in order}
    owner: dict[str, str] = {}  # synset name -> the node that takes it
    for node in sorted(order, key=lambda n: (depth[n], -leaf_count[n], order.index(n))):
        owner.setdefault(hypernym[node].name(), node)

    labels: dict[str, str] = {}

    def parts(node: str) -> list[str]:
        if node not in children:
            return [leaf_labels[node]]
        if owner[hypernym[node].name()] == node:
            return [synset_label(hypernym[node].name())]
        return [p for child in children[node] for p in parts(child)]

    names: dict[str, NodeName] = {}
    used = set(leaf_labels.values())
    generated = 0
    for node in order:
        synset = hypernym[node]
        if owner[synset.name()] == node:
            label = synset_label(synset.name())
            wnid = f"{synset.pos()}{synset.offset():08d}"
            by_children = False
        else:
            pieces = [p for child in children[node] for p in parts(child)]
            if len(pieces) <= 4:
                label = ", ".join(pieces[:-1]) + " or " + pieces[-1]
            else:
                label = (f"{pieces[0]}, {pieces[1]}, … ({leaf_count[node]} classes under "
                         f"{synset_label(synset.name())})")
            generated += 1
            wnid = f"f{generated:08d}"
            by_children = True
        base, n = label, 1
        while label in used:
            n += 1
            label = f"{base} ({n})"
        used.add(label)
        labels[node] = label
        names[node] = NodeName(wnid, label, synset.name(), by_children)
    return names
