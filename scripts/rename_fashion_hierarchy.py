"""Re-name the inner nodes of the shipped Fashion-MNIST hierarchy (reproducible, offline).

    make data   # WordNet from Debian's wordnet-base, into .venv/data
    NLTK_DATA=.venv/data/nltk_data .venv/bin/python scripts/rename_fashion_hierarchy.py

Names each inner node after the lowest WordNet hypernym all its leaves share (the highest node
takes a shared name; the ones below are named by their children): see
``xai_tutorial.nbdt_naming``. The tree's structure, the order of nodes and children, the leaves
and the weights do not change, so the shipped metrics stay the same. Running it twice changes
nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from xai_tutorial.decision_trees import (
    FASHION_SYNSETS,
    package_data,
    read_hierarchy,
    rename_hierarchy,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", type=Path, default=package_data("fashion", "graph.json"))
    parser.add_argument("--wnids", type=Path, default=package_data("fashion", "wnids.txt"))
    args = parser.parse_args()
    wnids = args.wnids.read_text().split()
    names = rename_hierarchy(args.graph, dict(zip(wnids, FASHION_SYNSETS, strict=True)),
                             args.graph)
    labels, edges = read_hierarchy(args.graph)
    for old, name in names.items():
        how = "by its children" if name.by_children else f"WordNet {name.hypernym}"
        print(f"{old} -> {name.wnid} {name.label!r} ({how})")
    print(f"wrote {args.graph}: {len(labels)} nodes, {len(edges)} edges")


if __name__ == "__main__":
    main()
