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
    NBDTExplainer,
    load_fashion_network,
    load_nbdt,
    node_activation_maps,
    package_data,
    read_labels,
    shipped_metrics,
)
from xai_tutorial.decision_trees_view import plot_node_maps, plot_tree, save_node_maps
from xai_tutorial.errors import InputError, UnknownNameError
from xai_tutorial.nbdt_training import (
    evaluate,
    fashion_mnist,
    synthetic_fashion,
    train_fashion_nbdt,
)

ROOT = Path(__file__).resolve().parents[1]
ASSETS = sorted((ROOT / "assets" / "fashion").glob("[0-9]-*.png"))
DATA = Path(os.environ.get("NLTK_DATA", ROOT / ".venv" / "data" / "nltk_data")).parent
CLOTHES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Shirt")
SHOES = ("Sandal", "Sneaker", "Ankle boot")
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
    assert {"clothing", "garment", "footwear", "Sneaker or Ankle boot"} <= set(labels.values())
    inner = [label for wnid, label in labels.items() if label not in FASHION_CLASSES]
    assert len(inner) == len(set(inner)) == 9


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
        if truth in ("Sandal", "Sneaker", "Ankle boot") and explanation.prediction == truth:
            assert "footwear" in names, names
        if truth in CLOTHES and explanation.prediction == truth:
            assert "clothing" in names, names
    assert right >= 8


def test_string_format_is_the_tutorials():
    from xai_tutorial.decision_trees import Decision

    explanation = Explanation("cat", (Decision("animal", 0.9934), Decision("chordate", 0.9279),
                                      Decision("carnivore", 0.9915), Decision("cat", 0.9953)))
    assert str(explanation) == ("Prediction: cat // Decisions: animal (99.34%), "
                                "chordate (92.79%), carnivore (99.15%), cat (99.53%)")
    assert explanation.as_dict()["decisions"][0] == {"name": "animal", "probability": 0.9934}
    assert explanation.text(width=100) == str(explanation)  # fits: the tutorial's line
    assert explanation.text(width=40).splitlines() == [
        "Prediction: cat", "Decisions:", "  1. animal (99.34%)", "  2. chordate (92.79%)",
        "  3. carnivore (99.15%)", "  4. cat (99.53%)"]


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
    biases = fashion.node_biases()
    weights = fashion.node_weights()
    wnids = fashion.path_wnids.read_text().split()
    for node in fashion.nbdt.rules.nodes:
        leaves = [[wnids.index(w) for w in _leaves(fashion, c)] for c in node.children]
        bias = torch.stack([net.fc.bias[i].mean() for i in leaves])
        assert torch.allclose(bias, biases[node.wnid])
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
    with pytest.raises(UnknownNameError, match="choose one of fashion, cifar10, imagenet"):
        load_nbdt("mnist")


# ----------------------------------------------------------------------------------------------
# The tutorial's CIFAR-10 path, with a small network and a checkpoint we make ourselves


class SmallCifarNet(nn.Module):
    """Shaped like pytorchcv's WRN-28-10: pooling inside ``features``, classifier ``output``."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("conv", nn.Conv2d(3, 8, 3, padding=1))
        self.features.add_module("relu", nn.ReLU())
        self.features.add_module("final_pool", nn.AvgPool2d(kernel_size=32, stride=1))
        self.output = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.features(x).view(x.size(0), -1))


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
    from xai_tutorial.decision_trees import registry  # where the CIFAR-10 builder reads it

    monkeypatch.setattr(registry, "CIFAR10_ARCH", ("wrn28_10_cifar10", SmallCifarNet))
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
    assert not hasattr(explainer.network, "fc") and not hasattr(explainer.network, "pool")
    again, maps = explainer.explain_with_maps("chelsea")
    assert again == explanation and len(maps) == len(explanation.decisions)
    assert all(m.maps.shape == (len(m.children), 32, 32) for m in maps)
    assert max(m.identity_error() for m in maps) < 1e-5
    from xai_tutorial.decision_trees import node_scores

    assert all(abs(a - b) < 1e-5 for _, a, b in node_scores(explainer, "chelsea"))


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
    from xai_tutorial.decision_trees import metrics_table, node_scores
    from xai_tutorial.decision_trees_widgets import TryYourPhotoNBDT

    rows = node_scores(fashion, ASSETS[7])
    assert [name for name, _, _ in rows] == ["clothing", "Bag or footwear"]
    assert all(abs(a - b) < 1e-4 for _, a, b in rows)
    table = metrics_table().splitlines()
    assert len(table) == 3 and "hard NBDT" in table[0] and table[2].startswith("after")
    state = TryYourPhotoNBDT(fashion)
    assert state.figure() is None and "Upload" in state.headline
    state.classify(ASSETS[9])
    assert state.headline.startswith("Prediction: Ankle boot // ") and state.figure() is not None
    state.classify(str(tmp_path / "missing.png"))
    assert "no such file" in state.headline and state.figure() is None


# ----------------------------------------------------------------------------------------------
# Node activation maps


class HandNet(nn.Module):
    """Features = the input itself (2 channels, 2 x 3: not square), GAP, one linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 3)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]))
            self.fc.bias.copy_(torch.tensor([0.0, 1.0, -2.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def _hand_explainer(tmp_path: Path, net: nn.Module, soft: bool = False) -> NBDTExplainer:
    """root -> (pair -> (a, b), c) over the three classes of ``net``."""
    nbdt_compat.apply()
    from nbdt.model import HardNBDT, SoftNBDT

    from xai_tutorial.decision_trees import write_hierarchy

    ids = ["f00000001", "f00000002", "f00000003"]
    graph, wnids = tmp_path / "graph.json", tmp_path / "wnids.txt"
    write_hierarchy(graph, [(ids[0], "a"), (ids[1], "b"), (ids[2], "c"),
                            ("f00000101", "pair"), ("f00000100", "all")],
                    [("f00000101", ids[0]), ("f00000101", ids[1]),
                     ("f00000100", "f00000101"), ("f00000100", ids[2])])
    wnids.write_text("\n".join(ids) + "\n")
    kind = SoftNBDT if soft else HardNBDT
    model = kind(dataset="custom", model=net, path_graph=str(graph), path_wnids=str(wnids),
                 classes=["a", "b", "c"])
    return NBDTExplainer("hand", model, ["a", "b", "c"], graph, wnids, lambda image: image,
                         soft, pooling_layer="pool", fc_layer="fc", channels=2)


def test_node_maps_exact_on_a_hand_built_net(tmp_path):
    explainer = _hand_explainer(tmp_path, HandNet())
    f0 = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    f1 = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 2.0]])
    x = torch.stack([f0, f1])[None]  # (1, 2, 2, 3): rows != columns
    explanation, maps = explainer.explain_with_maps(x)
    # logits: a = mean f0 = 3.5; b = 2 mean f1 + 1 = 8/3; c = 3.5 + 5/6 - 2 = 7/3
    # root: pair = mean(a, b) = 37/12 > c = 7/3 -> pair; then a > b -> a
    assert explanation.prediction == "a"
    assert [d.name for d in explanation.decisions] == ["pair", "a"]
    assert len(maps) == 2
    root, pair = maps
    assert (root.node, root.children, root.chosen) == ("all", ("pair", "c"), 0)
    assert torch.equal(root.maps[0], 0.5 * f0 + 1.0 * f1)  # w_pair = mean of a and b rows
    assert torch.equal(root.maps[1], f0 + f1)
    assert torch.equal(root.biases, torch.tensor([0.5, -2.0]))
    assert root.maps.shape == (2, 2, 3)  # the image's own orientation
    assert torch.allclose(root.maps.mean((1, 2)) + root.biases, root.scores)
    assert torch.equal(root.contrast, root.maps[0] - root.maps[1])
    assert abs(root.contrast.mean() + root.bias_difference - root.margin) < 1e-6
    assert abs(root.margin - (37 / 12 - 7 / 3)) < 1e-6
    assert torch.equal(pair.maps[0], f0) and torch.equal(pair.maps[1], 2 * f1)
    assert pair.identity_error() < 1e-6 and root.identity_error() < 1e-6
    assert abs(pair.probability - float(torch.tensor([3.5, 8 / 3]).softmax(0)[0])) < 1e-6
    assert abs(explanation.probability - pair.probability * root.probability) < 1e-7


def test_node_maps_refuse_a_network_that_is_not_gap_plus_linear(tmp_path):
    class MaxNet(HandNet):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.pool(x)  # the hook sees the features, but the logits come from max pooling
            return self.fc(x.amax((2, 3)))

    explainer = _hand_explainer(tmp_path, MaxNet())
    with pytest.raises(InputError, match="not global average pooling"):
        explainer.explain_with_maps(torch.arange(12.0).reshape(1, 2, 2, 3))


def test_node_maps_on_the_shipped_model(fashion):
    for path in ASSETS:
        explanation, maps = fashion.explain_with_maps(path)
        assert explanation == fashion.explain(path)
        assert len(maps) == len(explanation.decisions)  # one entry per printed decision
        assert [m.decision for m in maps] == [d.name for d in explanation.decisions]
        for node_map, decision in zip(maps, explanation.decisions, strict=True):
            assert node_map.maps.shape == (len(node_map.children), 7, 7)
            assert node_map.identity_error() <= 1e-5
            assert abs(node_map.probability - decision.probability) < 1e-5
            softmax = float(node_map.scores.softmax(0)[node_map.chosen])
            assert abs(softmax - node_map.probability) < 1e-5
            assert abs(float(node_map.contrast.mean()) + node_map.bias_difference
                       - node_map.margin) < 1e-5
    assert node_activation_maps(fashion, ASSETS[0])[0].node == "artifact"


def test_held_out_images_identity_names_and_rules(fashion, fashion_test):
    """Every decision of 1,000 held-out test images: the identity to 1e-4; every correctly
    classified shoe passes "footwear", every correctly classified garment "clothing"."""
    x, y = fashion_test.tensors[0][:1000], fashion_test.tensors[1][:1000]
    logits, features = fashion.forward(x)
    explanations = fashion.explain_logits(logits)
    shoes = clothes = 0
    for i, explanation in enumerate(explanations):
        maps = fashion.node_maps(explanation, features[i], logits[i])
        assert len(maps) == len(explanation.decisions)
        assert max(m.identity_error() for m in maps) <= 1e-4
        truth, names = FASHION_CLASSES[int(y[i])], [d.name for d in explanation.decisions]
        if explanation.prediction == truth and truth in SHOES:
            assert "footwear" in names, names
            shoes += 1
        if explanation.prediction == truth and truth in CLOTHES:
            assert "clothing" in names or "garment" in names, names
            clothes += 1
    assert shoes > 250 and clothes > 450


def test_soft_probabilities_multiply_to_the_leaf_probability(fashion_test):
    soft = load_nbdt("fashion", soft=True)
    x = fashion_test.tensors[0][:200]
    logits = soft.network(x).detach()
    outputs = soft.nbdt.rules.forward(logits)
    for i, explanation in enumerate(soft.explain_logits(logits)):
        leaf = FASHION_CLASSES.index(explanation.prediction)
        assert abs(explanation.probability - float(outputs[i, leaf])) < 1e-5
    assert "the product of the decisions" in str(explanation)


def test_hard_and_soft_disagree_on_the_shipped_example(fashion):
    soft = load_nbdt("fashion", soft=True)
    path = ROOT / "assets" / "fashion" / "hard-soft-disagree.png"
    hard_answer, soft_answer = fashion.explain(path), soft.explain(path)
    assert hard_answer.prediction != soft_answer.prediction
    # the hard path's first decision is not taken by the soft one, or a later one is
    assert [d.name for d in hard_answer.decisions] != [d.name for d in soft_answer.decisions]


def test_node_map_figure_and_files(fashion, tmp_path):
    figure = plot_node_maps(fashion, ASSETS[9])
    titles = [ax.get_title() for ax in figure.axes]
    explanation = fashion.explain(ASSETS[9])
    assert titles[:2] == ["input", "what the model sees"]
    assert sum(bool(t) for t in titles) == 2 + len(explanation.decisions)
    assert f"({explanation.decisions[0].probability:.2%})" in " ".join(titles).replace("\n", " ")
    # one colour bar per decision, reading the overlay back as that decision's raw contrast
    _, node_maps = fashion.explain_with_maps(ASSETS[9])
    bars = [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert [ax.get_xlabel().split(" (")[0] for ax in bars] == ["contrast"] * len(node_maps)
    for bar, node_map in zip(bars, node_maps, strict=True):
        # signed maps: the bar is symmetric about 0, +-max|contrast|, with a tick at 0
        low, high = bar.get_xlim()
        bound = float(node_map.contrast.abs().max())
        assert abs(low + bound) < 1e-6 and abs(high - bound) < 1e-6
        assert 0.0 in [float(t) for t in bar.get_xticks()]
        assert min(t.get_fontsize() for t in bar.get_xticklabels()) >= 7
    assert not [ax for ax in plot_node_maps(fashion, ASSETS[9], colorbar=False).axes
                if ax.get_label() == "<colorbar>"]
    paths = save_node_maps(fashion, ASSETS[9], tmp_path / "maps")
    assert [p.name for p in paths] == ["01-bag-or-footwear.png", "02-footwear.png",
                                      "03-sneaker-or-ankle-boot.png", "04-ankle-boot.png"]
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == [p.name for p in paths]
    assert Image.open(paths[0]).size == (224, 224)


def test_node_map_figure_draws_the_signed_map_unblended(fashion):
    """The figure's colours are the bar's: each decision's panel shows its contrast map alone in
    RdBu_r with scale "signed" (0 white even over Fashion-MNIST's black background, where a 50/50
    blend would make it grey), with the picture as a black outline over it."""
    from xai_tutorial.decision_trees_view import contrast_overlay

    figure = plot_node_maps(fashion, ASSETS[9], colorbar=False)
    _, node_maps = fashion.explain_with_maps(ASSETS[9])
    panels = [ax for ax in figure.axes if ax.images][2:]
    assert len(panels) == len(node_maps)
    for ax, node_map in zip(panels, node_maps, strict=True):
        shown = np.asarray(ax.images[0].get_array())
        white = Image.new("RGB", (shown.shape[1], shown.shape[0]), (255, 255, 255))
        alone = np.asarray(contrast_overlay(white, node_map.contrast, alpha=1.0))
        np.testing.assert_array_equal(shown, alone)  # the picture does not tint it
        assert ax.collections, "the picture's outline is drawn over the map"
    assert (shown.min(axis=2) >= 235).any()  # the last map's cells near 0 are white
    blended = np.asarray(plot_node_maps(fashion, ASSETS[9], alpha=0.5, colorbar=False,
                                        outline=False).axes[-1].images[0].get_array())
    assert blended[0, 0].max() <= shown[0, 0].max() // 2 + 1  # over black: half the colour


def test_tree_picture_shows_leaves(fashion):
    figure = plot_tree(fashion, fashion.explain(ASSETS[5]), show_leaves=True)
    texts = " ".join(t.get_text() for t in figure.axes[0].texts).replace("\n", " ")
    assert "[Sandal, Sneaker, Ankle boot]" in texts


def test_decision_trees_is_a_method_package():
    modules = sorted((ROOT / "xai_tutorial" / "decision_trees").glob("*.py"))
    assert {p.stem for p in modules} >= {"__init__", "hierarchy", "explanation", "node_maps",
                                         "display", "explainer", "registry", "lesson", "compat",
                                         "naming", "training"}
    for path in modules:
        source = path.read_text()
        imports = re.findall(r"^\s*(?:from|import)\s+(\S+)", source, re.MULTILINE)
        assert not [i for i in imports if "matplotlib" in i or "widget" in i or "_view" in i], (
            path.name, imports)


# ----------------------------------------------------------------------------------------------
# The untrained ImageNet tree


@pytest.fixture(scope="module")
def imagenet():
    return load_nbdt("imagenet")


def test_imagenet_tree_explains_the_cat(imagenet):
    assert not imagenet.trained_for_trees and "NOT trained for trees" in repr(imagenet)
    explanation, maps = imagenet.explain_with_maps("chelsea")
    names = [d.name for d in explanation.decisions]
    assert len(names) >= 3 and all(names) and "(generated)" not in names
    assert explanation.prediction == imagenet.classes[explanation.index]
    assert len(maps) == len(names) and max(m.identity_error() for m in maps) <= 1e-5
    assert maps[0].maps.shape[1:] == (7, 7)  # Lite0's last features for a 224 crop
    from xai_tutorial.classification import load_classifier

    classifier = load_classifier("efficientnet_lite0", quiet=True)
    x = classifier.preprocess("chelsea")
    assert torch.equal(imagenet.preprocess(load_image_("chelsea")), x)
    assert torch.allclose(imagenet.network(x), classifier.model(x))


def load_image_(name):
    from xai_tutorial.images import load_image

    return load_image(name)


def test_imagenet_hierarchy_reproduces_from_lite0(tmp_path):
    if not nbdt_compat.wordnet_available():
        pytest.skip("WordNet is not installed (`make data`)")
    from xai_tutorial.classification import load_classifier
    from xai_tutorial.decision_trees import imagenet_wnids, induce_hierarchy

    classifier = load_classifier("efficientnet_lite0", quiet=True)
    induce_hierarchy(classifier.model.get_submodule("_fc").weight, imagenet_wnids(),
                     classifier.categories, tmp_path / "graph.json", tmp_path / "wnids.txt")
    assert (tmp_path / "graph.json").read_text() == package_data(
        "imagenet", "graph.json").read_text()
    assert (tmp_path / "wnids.txt").read_text() == package_data(
        "imagenet", "wnids.txt").read_text()


def test_contrast_overlay_is_centred_on_zero():
    """White is 0, red the chosen child's side, blue the other (RdBu_r, scale "signed"), whatever
    the map's own range: a map from -1 to 3 keeps 0 white, not the range's middle."""
    from xai_tutorial.core.heatmap import DEFAULT_CMAP, DIVERGING_CMAP
    from xai_tutorial.decision_trees_view import contrast_overlay, overlay_map

    grey = Image.new("RGB", (3, 1), (0, 0, 0))
    contrast = torch.tensor([[-1.0, 0.0, 3.0]])
    shown = np.asarray(contrast_overlay(grey, contrast, alpha=1.0)).astype(int)
    against, zero, evidence = shown[0]
    assert min(zero) >= 240  # white
    assert evidence[0] > evidence[2] + 50 and evidence[1] < 40  # dark red
    assert against[2] > against[0] + 30  # blue, lighter: -1 is a third of max|m| = 3
    assert DIVERGING_CMAP == "RdBu_r" and DEFAULT_CMAP != "jet"
    magnitude = np.asarray(overlay_map(grey, contrast, alpha=1.0)).astype(int)
    assert magnitude[0, 0].sum() < 60  # magma's dark end for the minimum
