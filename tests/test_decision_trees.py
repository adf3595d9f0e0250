"""Lesson 03: the shipped Fashion-MNIST NBDT, the training code path, the tutorial's CIFAR-10
path (with a checkpoint we make and serve on loopback), explanations and the tree picture."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from xai_tutorial import CacheError, nbdt_compat
from xai_tutorial import downloads as dl
from xai_tutorial.decision_trees import (
    CIFAR10_CLASSES,
    FASHION_CLASSES,
    Explanation,
    load_fashion_network,
    load_nbdt,
    package_data,
    plot_tree,
    read_labels,
    shipped_metrics,
)
from xai_tutorial.nbdt_training import (
    evaluate,
    fashion_mnist,
    synthetic_fashion,
    train_fashion_nbdt,
)

ROOT = Path(__file__).resolve().parents[1]
ASSETS = sorted((ROOT / "assets" / "fashion").glob("*.png"))
DATA = Path(os.environ.get("NLTK_DATA", ROOT / ".venv" / "data" / "nltk_data")).parent
FORMAT = re.compile(r"^Prediction: .+ // Decisions: .+ \(\d+\.\d\d%\)(, .+ \(\d+\.\d\d%\))*$")


@pytest.fixture(scope="module")
def fashion():
    return load_nbdt("fashion")


@pytest.fixture(scope="module")
def fashion_test():
    if not (DATA / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte").exists():
        pytest.fail(f"Fashion-MNIST is not in {DATA}: run `make data`")
    return fashion_mnist(DATA, train=False)


def test_shipped_files_are_small_and_named():
    folder = package_data("fashion")
    sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
    assert set(sizes) >= {"weights.pt", "graph.json", "wnids.txt", "metrics.json"}
    assert sum(sizes.values()) < 500_000
    labels = read_labels(folder / "graph.json")
    assert all(labels.values()) and "(generated)" not in labels.values()
    assert set(FASHION_CLASSES) <= set(labels.values())
    assert {"clothing", "footwear"} <= set(labels.values())


def test_shipped_metrics_reproduce_from_the_shipped_weights(fashion_test):
    metrics = shipped_metrics()
    again = evaluate(load_fashion_network(), fashion_test, package_data("fashion", "graph.json"),
                     package_data("fashion", "wnids.txt"))
    assert again == metrics["after_tree_supervision"]
    assert again["nbdt_hard"] >= 0.85  # the bar, on test images never trained on
    assert metrics["before_tree_supervision"]["nbdt_hard"] < again["nbdt_hard"]


def test_explanations_on_the_test_images(fashion):
    assert len(ASSETS) == 10
    right = 0
    for path in ASSETS:
        truth = FASHION_CLASSES[int(path.name.split("-")[0])]
        explanation = fashion.explain(path)
        assert FORMAT.match(str(explanation)), str(explanation)
        assert explanation.decisions[-1].name == explanation.prediction
        assert all(0.0 <= d.probability <= 1.0 for d in explanation.decisions)
        right += explanation.prediction == truth
        names = [d.name for d in explanation.decisions]
        if truth in ("Sneaker", "Ankle boot") and explanation.prediction == truth:
            assert "footwear" in names, names
        if truth == "Sandal" and explanation.prediction == truth:
            # "footwear" already names the sneaker + boot node, so nbdt gives the node above it
            # the next-deepest hypernym the three share
            assert "covering" in names, names
        clothes = ("T-shirt/top", "Shirt", "Pullover", "Coat")
        if truth in clothes and explanation.prediction == truth:
            assert "artifact" in names and ("garment" in names or "clothing" in names), names
    assert right >= 8


def test_string_format_is_the_tutorials():
    from xai_tutorial.decision_trees import Decision

    explanation = Explanation("cat", (Decision("animal", 0.9934), Decision("chordate", 0.9279),
                                      Decision("carnivore", 0.9915), Decision("cat", 0.9953)))
    assert str(explanation) == ("Prediction: cat // Decisions: animal (99.34%), "
                                "chordate (92.79%), carnivore (99.15%), cat (99.53%)")
    assert explanation.as_dict()["decisions"][0] == {"name": "animal", "probability": 0.9934}


def test_hard_and_soft_agree_on_clear_cases(fashion):
    soft = load_nbdt("fashion", soft=True)
    sneaker = next(p for p in ASSETS if "sneaker" in p.name)
    hard_answer, soft_answer = fashion.explain(sneaker), soft.explain(sneaker)
    assert hard_answer.prediction == soft_answer.prediction == "Sneaker"
    assert [d.name for d in hard_answer.decisions] == [d.name for d in soft_answer.decisions]
    assert all(0 < d.probability <= 1 for d in soft_answer.decisions)


def test_node_decisions_are_averaged_leaf_weights(fashion):
    """score of child k = (mean of its leaves' fc rows) . features + mean of their biases."""
    nbdt_compat.apply()
    from nbdt.loss import HardTreeSupLoss

    x = fashion.preprocess(Image.open(ASSETS[0]))
    net = fashion.network
    features = torch.flatten(net.pool(net.features(x)), 1)[0]
    logits = net.fc(features[None])
    weights = fashion.node_weights()
    wnids = fashion.path_wnids.read_text().split()
    for node in fashion.nbdt.rules.nodes:
        leaves = [[wnids.index(w) for w in _leaves(fashion, c)] for c in node.children]
        bias = torch.stack([net.fc.bias[i].mean() for i in leaves])
        ours = weights[node.wnid] @ features + bias
        theirs = HardTreeSupLoss.get_output_sub(logits, node)[0]
        assert torch.allclose(ours, theirs, atol=1e-5)


def _leaves(explainer, node: str) -> list[str]:
    kids = [c for p, c in explainer.edges if p == node]
    return [node] if not kids else [leaf for k in kids for leaf in _leaves(explainer, k)]


def test_tree_picture(fashion):
    explanation = fashion.explain(ASSETS[7])
    figure = plot_tree(fashion, explanation)
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert "footwear" in texts and explanation.prediction in texts
    assert f"{explanation.decisions[0].probability:.2%}" in texts
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue()[:4] == b"\x89PNG"


def test_training_code_path_on_synthetic_data(tmp_path):
    lines: list[str] = []
    metrics = train_fashion_nbdt(tmp_path, synthetic_fashion(300), synthetic_fashion(100, seed=1),
                                 epochs=1, tree_epochs=1, batch_size=50, log=lines.append)
    assert {p.name for p in tmp_path.iterdir()} == {"weights.pt", "graph.json", "wnids.txt",
                                                    "metrics.json"}
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert set(metrics["after_tree_supervision"]) == {"network", "nbdt_hard", "nbdt_soft"}
    labels = read_labels(tmp_path / "graph.json")
    inner = [v for k, v in labels.items() if v not in FASHION_CLASSES]
    assert len(labels) == 19 and len(inner) == 9
    assert all(v and v != "(generated)" and not re.fullmatch(r"n\d{8}", v) for v in inner)
    assert any("tree supervision epoch 1/1" in line for line in lines)


def test_unknown_name():
    with pytest.raises(ValueError, match="choose fashion or cifar10"):
        load_nbdt("imagenet")


# ----------------------------------------------------------------------------------------------
# The tutorial's CIFAR-10 path, with a small network and a checkpoint we make ourselves


class SmallCifarNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.output = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))


@pytest.fixture
def served_cifar10(http_server, monkeypatch):
    torch.manual_seed(0)
    net = SmallCifarNet()
    # nbdt's released checkpoints: {'net': DataParallel state dict, 'acc': numpy float, ...}
    checkpoint = {"net": {f"module.{k}": v for k, v in net.state_dict().items()},
                  "acc": np.float64(97.57), "epoch": 200}
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    data = buffer.getvalue()
    url = http_server.add("/ckpt-CIFAR10-wrn28_10_cifar10-induced.pth", body=data)
    real = dl.DOWNLOADS["nbdt_cifar10"]

    def local() -> dl.Download:
        item = real()
        return dl.Download(item.name, url, item.folder, item.description)

    monkeypatch.setitem(dl.DOWNLOADS, "nbdt_cifar10", local)
    import xai_tutorial.decision_trees as trees

    monkeypatch.setattr(trees, "CIFAR10_ARCH", ("wrn28_10_cifar10", SmallCifarNet))
    return net, hashlib.sha256(data).hexdigest()


def test_cifar10_needs_the_fetch_step(served_cifar10):
    with pytest.raises(CacheError, match="fetch nbdt_cifar10"):
        load_nbdt("cifar10")


def test_cifar10_fetch_then_explain_offline(served_cifar10):
    net, digest = served_cifar10
    path = dl.fetch("nbdt_cifar10", progress=False)
    record = json.loads(dl.get_download("nbdt_cifar10").record_path.read_text())
    assert record["sha256"] == digest and record["size"] == path.stat().st_size
    explainer = load_nbdt("cifar10")
    for name, value in net.state_dict().items():
        assert torch.equal(explainer.network.state_dict()[name], value)
    explanation = explainer.explain("chelsea")  # resized and center-cropped to 32 px
    assert explanation.prediction in CIFAR10_CLASSES
    assert FORMAT.match(str(explanation)), str(explanation)
    names = [d.name for d in explanation.decisions]
    assert names[-1] == explanation.prediction or names[-1] in ("car", "plane")
    assert all(not re.fullmatch(r"n\d{8}", n) for n in names)
    assert plot_tree(explainer, explanation) is not None
    weights = explainer.node_weights()  # pytorchcv-style networks call their layer .output
    assert weights[explainer.root].shape == (len(explainer.children[explainer.root]), 8)


def test_cifar10_checkpoint_tampered_after_download(served_cifar10):
    path = dl.fetch("nbdt_cifar10", progress=False)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(CacheError, match="does not match"):
        load_nbdt("cifar10")


def test_cifar10_unsafe_checkpoint_is_refused(tmp_path):
    from xai_tutorial.decision_trees import load_cifar10_checkpoint

    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"net": {}, "payload": Exploit()}, path)
    with pytest.raises(ValueError, match="not a loadable checkpoint"):
        load_cifar10_checkpoint(path)


def test_lesson_helpers(fashion, tmp_path):
    from xai_tutorial.decision_trees import TryYourPhotoNBDT, metrics_table, node_scores

    rows = node_scores(fashion, ASSETS[7])
    assert [name for name, _, _ in rows] == ["artifact", "whole"]
    assert all(abs(a - b) < 1e-4 for _, a, b in rows)
    table = metrics_table().splitlines()
    assert len(table) == 3 and "hard NBDT" in table[0] and table[2].startswith("after")
    state = TryYourPhotoNBDT(fashion)
    assert state.figure() is None and "Upload" in state.headline
    state.classify(ASSETS[9])
    assert state.headline.startswith("Prediction: Ankle boot // ") and state.figure() is not None
    state.classify(str(tmp_path / "missing.png"))
    assert "no such file" in state.headline and state.figure() is None
