"""Build the hierarchy of the "imagenet" NBDT from the bundled EfficientNet-Lite0 (offline).

    make data   # WordNet from Debian's wordnet-base, into .venv/data
    NLTK_DATA=.venv/data/nltk_data .venv/bin/python scripts/build_imagenet_hierarchy.py

Ward clustering of the 1000 rows of Lite0's ``_fc`` weight (nbdt's induced hierarchy), inner
nodes named by ``xai_tutorial.nbdt_naming``. Writes ``xai_tutorial/data/imagenet/graph.json``
and ``wnids.txt`` and prints how long it took. The network is NOT fine-tuned: tree supervision
would need ImageNet itself, which this offline tutorial does not have.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from xai_tutorial.classification import load_classifier
from xai_tutorial.decision_trees import imagenet_wnids, induce_hierarchy, package_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=package_data("imagenet"))
    args = parser.parse_args()
    began = time.perf_counter()
    classifier = load_classifier("efficientnet_lite0", quiet=True)
    loaded = time.perf_counter()
    weight = classifier.model.get_submodule(classifier.fc_layer or "_fc").weight
    labels = induce_hierarchy(weight, imagenet_wnids(), classifier.categories,
                              args.out / "graph.json", args.out / "wnids.txt")
    done = time.perf_counter()
    inner = [label for wnid, label in labels.items() if wnid not in set(imagenet_wnids())]
    print(f"{len(labels)} nodes, {len(inner)} inner, {len(set(inner))} distinct inner names")
    print(f"model load {loaded - began:.1f} s; clustering + naming + writing {done - loaded:.1f} s")
    print(f"wrote {args.out / 'graph.json'}")


if __name__ == "__main__":
    main()
