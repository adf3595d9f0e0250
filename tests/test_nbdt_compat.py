"""The nbdt compatibility layer: quiet, fast, named, and decision-for-decision the same."""

from __future__ import annotations

import contextlib
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
    nbdt_compat.restore()
    with nbdt_compat.patched(("networkx_node_link_edges",)), \
            mock.patch("builtins.open", side_effect=real_open) as opened:
        Node.get_nodes(graph, wnids, [str(i) for i in range(100)])
    reads = [c.args[0] for c in opened.call_args_list if c.args]
    assert reads.count(graph) > 50  # what the patch saves: nbdt reads it once per node
    nbdt_compat.apply()


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


def _snapshot() -> dict:
    nbdt_compat.import_nbdt()
    import nbdt.analysis
    import nbdt.data.custom

    owners = [sys.modules[name] for name in nbdt_compat.NBDT_MODULES]
    owners += [nbdt.data.custom.Node, nbdt.analysis.HardEmbeddedDecisionRules,
               nbdt.analysis.SoftEmbeddedDecisionRules, nbdt.analysis.ConfusionMatrix]
    return {(owner, key): value for owner in owners for key, value in vars(owner).items()}


def test_restore_puts_back_the_very_same_objects():
    nbdt_compat.restore()
    before = _snapshot()
    nbdt_compat.apply()
    nbdt_compat.apply()  # idempotent: nothing is wrapped twice
    assert nbdt_compat.applied() == tuple(nbdt_compat.PATCHES)
    during = _snapshot()
    assert sum(during.get(k) is not v for k, v in before.items()) >= 10
    nbdt_compat.restore()
    after = _snapshot()
    assert after.keys() == before.keys()
    assert all(after[k] is v for k, v in before.items())
    with nbdt_compat.patched():
        assert nbdt_compat.applied()
    assert all(_snapshot()[k] is v for k, v in before.items())
    with pytest.raises(RuntimeError), nbdt_compat.patched():
        raise RuntimeError("left by an error")
    assert not nbdt_compat.applied()
    nbdt_compat.apply()


def test_patched_restores_exactly_the_state_before_it():
    """Patches installed before the block stay; the ones the block installed go, by any route."""
    nbdt_compat.restore()
    import nbdt.analysis
    import nbdt.graph

    nbdt_compat.apply(("networkx_node_link_edges",))
    before = _snapshot()
    patched_reader = nbdt.graph.node_link_graph
    for leave_by_error in (False, True):
        with pytest.raises(RuntimeError) if leave_by_error else contextlib.nullcontext(), \
                nbdt_compat.patched(("networkx_node_link_edges", "numpy2_confusion_normalize")):
            assert nbdt_compat.applied() == ("networkx_node_link_edges",
                                             "numpy2_confusion_normalize")
            assert nbdt.analysis.ConfusionMatrix.__dict__["normalize"] is not before[
                (nbdt.analysis.ConfusionMatrix, "normalize")]
            if leave_by_error:
                raise RuntimeError("left by an error")
        assert nbdt_compat.applied() == ("networkx_node_link_edges",)
        assert nbdt.graph.node_link_graph is patched_reader  # still the one installed before
        after = _snapshot()
        assert after.keys() == before.keys() and all(after[k] is v for k, v in before.items())
    with nbdt_compat.patched():  # nested blocks each undo their own
        with nbdt_compat.patched():
            pass
        assert nbdt_compat.applied() == tuple(nbdt_compat.PATCHES)
    assert nbdt_compat.applied() == ("networkx_node_link_edges",)
    nbdt_compat.apply()


def test_restoring_some_patches_keeps_the_others():
    nbdt_compat.restore()
    unpatched = _snapshot()
    nbdt_compat.apply()
    from nbdt.data.custom import Node

    installed = Node.__dict__["get_new_to_leaf_weights"]
    nbdt_compat.restore(("class_index_dict",))
    assert "class_index_dict" not in nbdt_compat.applied()
    assert Node.__dict__["wnid_to_class_index"] is unpatched[(Node, "wnid_to_class_index")]
    assert Node.__dict__["get_new_to_leaf_weights"] is installed
    nbdt_compat.apply()  # back in, last
    assert nbdt_compat.applied()[-1] == "class_index_dict"
    nbdt_compat.restore()
    again = _snapshot()
    assert again.keys() == unpatched.keys()
    assert all(again[k] is v for k, v in unpatched.items())
    nbdt_compat.apply()


def test_every_patch_is_named_and_layered():
    assert {p.layer for p in nbdt_compat.PATCHES.values()} == {"correctness", "speed"}
    speed = [n for n, p in nbdt_compat.PATCHES.items() if p.layer == "speed"]
    assert {"one_read_per_build", "class_index_dict", "vectorized_leaf_weights"} <= set(speed)
    assert all(p.fixes for p in nbdt_compat.PATCHES.values())
    assert not hasattr(nbdt_compat, "label_of") and not hasattr(nbdt_compat, "_labels")


def test_networkx_patch_reads_links():
    nbdt_compat.restore()
    import nbdt.graph

    data = {"directed": True, "multigraph": False, "graph": {},
            "nodes": [{"id": "a"}, {"id": "b"}], "links": [{"source": "a", "target": "b"}]}
    try:
        unpatched = nbdt.graph.node_link_graph(data).number_of_edges()
    except Exception:  # today's networkx looks for "edges" and fails
        unpatched = None
    with nbdt_compat.patched(("networkx_node_link_edges",)):
        graph = nbdt.graph.node_link_graph(data)
        assert list(graph.edges) == [("a", "b")]
        assert "links" in nbdt.graph.node_link_data(graph)
    assert unpatched != 1
    nbdt_compat.apply()


def test_sklearn_patch_accepts_affinity():
    nbdt_compat.restore()
    import nbdt.graph

    points = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    with pytest.raises(TypeError):
        nbdt.graph.AgglomerativeClustering(linkage="ward", n_clusters=2, affinity="euclidean")
    with nbdt_compat.patched(("sklearn_affinity_is_metric",)):
        clustering = nbdt.graph.AgglomerativeClustering(
            linkage="ward", n_clusters=2, affinity="euclidean").fit(points)
    assert clustering.labels_[0] == clustering.labels_[1] != clustering.labels_[2]
    nbdt_compat.apply()


def test_numpy2_patch_normalizes():
    nbdt_compat.restore()
    import nbdt.analysis

    matrix = np.array([[2, 2], [1, 3]])
    with pytest.raises(AttributeError):
        nbdt.analysis.ConfusionMatrix.normalize(matrix, 1)
    with nbdt_compat.patched(("numpy2_confusion_normalize",)):
        normalized = nbdt.analysis.ConfusionMatrix.normalize(matrix, 1)
    assert np.allclose(normalized, [[0.5, 0.5], [0.25, 0.75]])
    nbdt_compat.apply()


def test_building_rules_leaves_numpy_printing_alone():
    nbdt_compat.restore()
    from nbdt.analysis import HardEmbeddedDecisionRules

    graph = nbdt_file("hierarchies", "CIFAR10", "graph-induced-wrn28_10_cifar10.json")
    wnids = nbdt_file("wnids", "CIFAR10.txt")
    classes = [str(i) for i in range(10)]
    before = np.get_printoptions()
    try:
        with nbdt_compat.patched(("networkx_node_link_edges",)):
            HardEmbeddedDecisionRules("CIFAR10", graph, wnids, classes)
        assert repr(np.array([0.12345])) == "array([0.123])"  # what nbdt does to a session
        np.set_printoptions(**before)
        with nbdt_compat.patched(("networkx_node_link_edges", "numpy_printoptions_untouched")):
            HardEmbeddedDecisionRules("CIFAR10", graph, wnids, classes)
        assert np.get_printoptions() == before
        assert repr(np.array([0.12345])) == "array([0.12345])"
    finally:
        np.set_printoptions(**before)
        nbdt_compat.apply()


def _tiny_hierarchy(folder: Path, names: dict[str, str]) -> tuple[Path, Path]:
    """root -> (a, b), a -> (x, y): four WordNet-free wnids, labelled from ``names``."""
    folder.mkdir()
    edges = [("f00000100", "f00000101"), ("f00000100", "f00000003"),
             ("f00000101", "f00000001"), ("f00000101", "f00000002")]
    nodes = sorted({n for edge in edges for n in edge})
    data = {"directed": True, "multigraph": False, "graph": {},
            "nodes": [{"id": n, "label": names[n]} for n in nodes],
            "links": [{"source": s, "target": t} for s, t in edges]}
    (folder / "graph.json").write_text(json.dumps(data))
    (folder / "wnids.txt").write_text("f00000001\nf00000002\nf00000003\n")
    return folder / "graph.json", folder / "wnids.txt"


def test_two_hierarchies_keep_their_own_names(tmp_path):
    nbdt_compat.apply()
    from nbdt.analysis import HardEmbeddedDecisionRules, SoftEmbeddedDecisionRules

    ids = ["f00000100", "f00000101", "f00000001", "f00000002", "f00000003"]
    one, two = "root pets cat dog car".split(), "all odd one two three".split()
    first = _tiny_hierarchy(tmp_path / "one", dict(zip(ids, one, strict=True)))
    second = _tiny_hierarchy(tmp_path / "two", dict(zip(ids, two, strict=True)))
    logits = torch.tensor([[3.0, 1.0, 0.0]])
    for kind in (HardEmbeddedDecisionRules, SoftEmbeddedDecisionRules):
        names = []
        for graph, wnids in (first, second, first):
            rules = kind("custom", str(graph), str(wnids), ["1", "2", "3"])
            _, decisions = rules.forward_with_decisions(logits)
            names.append([step["name"] for step in decisions[0][1:]])
        assert names == [["pets", "cat"], ["odd", "one"], ["pets", "cat"]]


def test_speed_patches_give_nbdts_own_values():
    nbdt_compat.apply()
    from nbdt.data.custom import Node

    graph = nbdt_file("hierarchies", "CIFAR100", "graph-induced-wrn28_10_cifar100.json")
    wnids = nbdt_file("wnids", "CIFAR100.txt")
    nodes = Node.get_nodes(graph, wnids, [str(i) for i in range(100)])
    index = nbdt_compat.original(Node, "wnid_to_class_index")
    weights = nbdt_compat.original(Node, "get_new_to_leaf_weights")
    assert index is not Node.wnid_to_class_index
    for node in nodes[:20]:
        for leaf in node.leaves:
            assert node.wnid_to_class_index(leaf) == index(node, leaf)
        ours, theirs = node.get_new_to_leaf_weights(), weights(node)
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    with pytest.raises(ValueError, match="not in list"):
        nodes[0].wnid_to_class_index("n00000000")


def test_class_index_is_built_once_per_build_not_once_per_node():
    # The regression that put the ImageNet build at 0.58 s: one 1,000-entry dict per node.
    nbdt_compat.apply()
    from nbdt.data.custom import Node

    graph = nbdt_file("hierarchies", "CIFAR100", "graph-induced-wrn28_10_cifar100.json")
    wnids = nbdt_file("wnids", "CIFAR100.txt")
    first = Node.get_nodes(graph, wnids, [str(i) for i in range(100)])
    assert len({id(node.__dict__["_xai_wnid_index"][1]) for node in first}) == 1
    second = Node.get_nodes(graph, wnids, [str(i) for i in range(100)])
    # A new build reads its own wnids list, so it builds its own index.
    assert second[0]._xai_wnid_index[1] is not first[0]._xai_wnid_index[1]
    # Outside a build, a node's list changed under it gets a fresh index.
    node = second[0]
    node.wnids = list(reversed(node.wnids))
    leaf = node.leaves[0]
    assert node.wnid_to_class_index(leaf) == node.wnids.index(leaf)
