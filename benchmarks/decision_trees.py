"""nbdt hierarchy build time, patched vs as shipped, and per-image explain time.

    .venv/bin/python benchmarks/decision_trees.py [--unpatched-runs N]

Builds the decision rules of nbdt's shipped Imagenet1000 hierarchy (~2,000 nodes) in fresh
processes, timing only the build (after imports). Goal (issue 4): <= 0.5 s patched.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BUILD = r"""
import contextlib, io, os, sys, time
if sys.argv[1] == "patched":
    from xai_tutorial import nbdt_compat
    nbdt_compat.apply()
else:  # as shipped, plus the one change it cannot run without
    with contextlib.redirect_stdout(io.StringIO()):
        import nbdt.utils
    import nbdt.graph
    from networkx.readwrite import json_graph
    nbdt.graph.node_link_graph = lambda d: json_graph.node_link_graph(d, edges="links")
import nbdt
from nbdt.data.custom import Node
root = os.path.dirname(nbdt.__file__)
graph = os.path.join(root, "hierarchies/Imagenet1000/graph-induced-efficientnet_b7b.json")
wnids = os.path.join(root, "wnids/Imagenet1000.txt")
start = time.perf_counter()
nodes = Node.get_nodes(graph, wnids, [str(i) for i in range(1000)])
print(time.perf_counter() - start, len(nodes))
"""


def build_seconds(side: str) -> float:
    result = subprocess.run([sys.executable, "-c", BUILD, side], capture_output=True,
                            text=True, check=True, stdin=subprocess.DEVNULL)
    seconds, nodes = result.stdout.split()[-2:]
    assert int(nodes) == 999
    return float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patched-runs", type=int, default=5)
    parser.add_argument("--unpatched-runs", type=int, default=2)
    args = parser.parse_args()

    patched = statistics.median(build_seconds("patched") for _ in range(args.patched_runs))
    unpatched = statistics.median(build_seconds("unpatched") for _ in range(args.unpatched_runs))

    from xai_tutorial.decision_trees import load_nbdt

    image = Path(__file__).resolve().parents[1] / "assets" / "fashion" / "7-sneaker.png"
    times = {}
    for soft in (False, True):
        explainer = load_nbdt("fashion", soft=soft)
        for _ in range(5):
            explainer.explain(image)
        runs = []
        for _ in range(50):
            start = time.perf_counter()
            explainer.explain(image)
            runs.append((time.perf_counter() - start) * 1000)
        times[soft] = statistics.median(runs)

    print("| measurement | value |")
    print("|---|---|")
    print(f"| Imagenet1000 rules build, nbdt as shipped (median of {args.unpatched_runs}) | "
          f"{unpatched:.2f} s |")
    print(f"| Imagenet1000 rules build, patched (median of {args.patched_runs}) | "
          f"{patched:.3f} s (goal <= 0.5 s) |")
    print(f"| speed-up | {unpatched / patched:.0f}x |")
    print(f"| explain one image, fashion hard NBDT (median of 50) | {times[False]:.2f} ms |")
    print(f"| explain one image, fashion soft NBDT (median of 50) | {times[True]:.2f} ms |")


if __name__ == "__main__":
    main()
