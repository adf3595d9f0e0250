"""The nbdt compatibility layer: quiet, fast, named, and decision-for-decision the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from xai_tutorial import nbdt_compat

# Runs nbdt patched, or as shipped with only the one change it cannot run without (networkx's
# keyword), and prints the hard and soft rules' outputs and decisions on fixed logits as JSON.
RULES = r"""
import json, os, sys, contextlib, io
if sys.argv[6] == "patched":
    from xai_tutorial import nbdt_compat
    nbdt_compat.apply()
else:
    with contextlib.redirect_stdout(io.StringIO()):
        import nbdt.utils
    import nbdt.graph, nbdt.data.custom, nbdt.analysis
    from networkx.readwrite import json_graph
    nbdt.graph.node_link_graph = lambda d: json_graph.node_link_graph(d, edges="links")
import torch
from nbdt.analysis import HardEmbeddedDecisionRules, SoftEmbeddedDecisionRules
dataset, graph, wnids, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
classes = [str(i) for i in range(n)]
logits = torch.load(sys.argv[5], weights_only=True)
out = {}
for name, kind in (("hard", HardEmbeddedDecisionRules), ("soft", SoftEmbeddedDecisionRules)):
    rules = kind(dataset, graph, wnids, classes)
    outputs, decisions = rules.forward_with_decisions(logits)
    out[name] = {
        "outputs": outputs.tolist(),
        "decisions": [[(d["node"].wnid if d["node"] is not None else None, d.get("prob"))
                       for d in path[1:]] for path in decisions],
    }
print(json.dumps(out))
"""


def nbdt_file(*parts: str) -> str:
    import nbdt

    return str(Path(nbdt.__file__).parent.joinpath(*parts))


@pytest.mark.parametrize(
    "dataset, graph, n",
    [("CIFAR10", "graph-induced-wrn28_10_cifar10.json", 10),
     ("CIFAR100", "graph-induced-wrn28_10_cifar100.json", 100)],
)
def test_patched_and_unpatched_rules_agree(tmp_path, dataset, graph, n):
    torch.manual_seed(0)
    logits = torch.randn(16, n) * 3
    torch.save(logits, tmp_path / "logits.pt")
    graph_path = nbdt_file("hierarchies", dataset, graph)
    wnids_path = nbdt_file("wnids", f"{dataset}.txt")
    # nbdt orders leaves by iterating sets of strings, so both sides get the same hash seed.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    answers = {}
    for side in ("unpatched", "patched"):
        result = subprocess.run(
            [sys.executable, "-c", RULES, dataset, graph_path, wnids_path, str(n),
             str(tmp_path / "logits.pt"), side],
            capture_output=True, text=True, timeout=300, env=env,
        )
        assert result.returncode == 0, result.stderr
        answers[side] = json.loads(result.stdout.strip().splitlines()[-1])
    for kind in ("hard", "soft"):
        assert answers["patched"][kind] == answers["unpatched"][kind]  # same paths, same numbers
    assert any(step[1] is not None for path in answers["patched"]["hard"]["decisions"]
               for step in path)


def test_import_is_silent():
    code = "from xai_tutorial import nbdt_compat; nbdt_compat.apply(); import nbdt.utils"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0
    assert result.stdout == "" and result.stderr == ""


def test_graph_json_is_read_once_per_build():
    nbdt_compat.apply()
    from nbdt.data.custom import Node

    graph = nbdt_file("hierarchies", "CIFAR100", "graph-induced-wrn28_10_cifar100.json")
    wnids = nbdt_file("wnids", "CIFAR100.txt")
    real_open = open
    with mock.patch("builtins.open", side_effect=real_open) as opened:
        nodes = Node.get_nodes(graph, wnids, [str(i) for i in range(100)])
    reads = [c.args[0] for c in opened.call_args_list if c.args]
    assert len(nodes) == 99
    assert reads.count(graph) == 1 and reads.count(wnids) == 1


def test_names_come_from_the_graph_labels_without_wordnet(tmp_path):
    code = (
        "from xai_tutorial import nbdt_compat; nbdt_compat.apply()\n"
        "assert not nbdt_compat.wordnet_available()\n"
        "import torch, nbdt\n"
        "from nbdt.model import HardNBDT\n"
        "torch.manual_seed(0)\n"
        "small = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))\n"
        "m = HardNBDT(dataset='CIFAR10', arch='wrn28_10_cifar10', model=small)\n"
        "_, d = m.forward_with_decisions(torch.randn(2, 3, 32, 32))\n"
        "print([s['name'] for path in d for s in path[1:]])\n"
    )
    env = {**os.environ, "NLTK_DATA": str(tmp_path / "no-wordnet")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    names = eval(result.stdout)  # noqa: S307 (our own printed list)
    assert names and "(generated)" not in names
    assert all(not (n[0] == "n" and n[1:].isdigit()) for n in names)


def test_sklearn_affinity_keyword_and_numpy2():
    nbdt_compat.apply()
    import nbdt.analysis
    import nbdt.graph

    points = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    clustering = nbdt.graph.AgglomerativeClustering(
        linkage="ward", n_clusters=2, affinity="euclidean").fit(points)
    assert clustering.labels_[0] == clustering.labels_[1] != clustering.labels_[2]
    matrix = np.array([[2, 2], [1, 3]])
    normalized = nbdt.analysis.ConfusionMatrix.normalize(matrix, 1)
    assert np.allclose(normalized, [[0.5, 0.5], [0.25, 0.75]])
