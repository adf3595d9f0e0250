"""Names that read as reasons: the lowest shared WordNet hypernym, taken by the highest node."""

from __future__ import annotations

import json

import pytest

from xai_tutorial import nbdt_compat
from xai_tutorial.decision_trees import FASHION_CLASSES, FASHION_SYNSETS, package_data
from xai_tutorial.nbdt_naming import name_hierarchy, synset_label

pytestmark = pytest.mark.skipif(not nbdt_compat.wordnet_available(),
                                reason="WordNet is not installed (`make data`)")

SYNSETS = dict(zip(FASHION_CLASSES, FASHION_SYNSETS, strict=True))
LABELS = {c: c for c in FASHION_CLASSES}


def test_shoes_meet_at_footwear_and_the_node_below_is_named_by_its_children():
    children = {"top": ["Bag", "shoes"], "shoes": ["Sandal", "pair"],
                "pair": ["Sneaker", "Ankle boot"]}
    leaves = {c: SYNSETS[c] for c in ("Bag", "Sandal", "Sneaker", "Ankle boot")}
    names = name_hierarchy(children, "top", leaves, {c: c for c in leaves})
    assert names["shoes"].label == "footwear" and not names["shoes"].by_children
    assert names["pair"].label == "Sneaker or Ankle boot" and names["pair"].by_children
    assert names["top"].label == "artifact"  # bags are containers, shoes clothing: both artifacts
    assert names["shoes"].wnid == "n03380867" and names["pair"].wnid.startswith("f")


def test_a_class_never_names_a_node():
    # a T-shirt is a kind of shirt, but "shirt" is a class here: the pair is a garment
    names = name_hierarchy({"pair": ["T-shirt/top", "Shirt"]}, "pair",
                           {c: SYNSETS[c] for c in ("T-shirt/top", "Shirt")}, LABELS)
    assert names["pair"].label == "garment"


def test_nodes_below_a_shared_name_spell_out_their_classes():
    # a chain: trousers and shirts are garments, dresses only clothing
    children = {"a": ["Dress", "b"], "b": ["Trouser", "c"], "c": ["Coat", "d"],
                "d": ["Pullover", "e"], "e": ["T-shirt/top", "Shirt"]}
    leaves = {c: SYNSETS[c] for c in ("Dress", "Trouser", "Coat", "Pullover", "T-shirt/top",
                                      "Shirt")}
    names = name_hierarchy(children, "a", leaves, LABELS)
    labels = [n.label for n in names.values()]
    assert labels[0] == "clothing" and len(set(labels)) == len(labels)
    assert "(generated)" not in labels
    assert names["b"].label == "garment"
    assert names["c"].label == "Coat, Pullover, T-shirt/top or Shirt"
    assert names["e"].label == "T-shirt/top or Shirt"


def test_synset_label():
    assert synset_label("woman's_clothing.n.01") == "woman's clothing"


def test_shipped_imagenet_hierarchy_is_fully_and_uniquely_named():
    data = json.loads(package_data("imagenet", "graph.json").read_text())
    wnids = set(package_data("imagenet", "wnids.txt").read_text().split())
    inner = [n["label"] for n in data["nodes"] if n["id"] not in wnids]
    assert len(wnids) == 1000 and len(inner) == 999
    assert len(set(inner)) == 999 and all(inner) and "(generated)" not in inner
    assert not set(inner) & {n["label"] for n in data["nodes"] if n["id"] in wnids}
    assert any(label.endswith("classes under entity)") for label in inner)  # shortened
