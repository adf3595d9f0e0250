"""Lesson 03's offline NBDT: train a small CNN on Fashion-MNIST, induce a WordNet-named
hierarchy from its ``fc`` weights, then fine-tune it with nbdt's ``SoftTreeSupLoss``.

``scripts/train_fashion_nbdt.py`` runs :func:`train_fashion_nbdt` on the real data and writes
what ships in ``xai_tutorial/data/fashion``; the tests run the same function on a tiny synthetic
dataset so this code path cannot rot.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ..core._files import atomic_path
from ..core.hooks import eval_mode
from . import compat
from .hierarchy import induce_hierarchy, synset_wnid
from .registry import FASHION_CLASSES, FASHION_MEAN, FASHION_STD, FASHION_SYNSETS, FashionCNN


def fashion_mnist(root: Path, train: bool, download: bool = False) -> TensorDataset:
    """Fashion-MNIST as normalized tensors.

    ``root`` must hold ``FashionMNIST/raw/`` (``make data`` fills it from Debian's
    ``dataset-fashion-mnist``); with ``download=True`` torchvision fetches it when online.
    """
    from torchvision.datasets import FashionMNIST

    data = FashionMNIST(str(root), train=train, download=download)
    x = (data.data.float() / 255.0 - FASHION_MEAN) / FASHION_STD
    return TensorDataset(x[:, None], data.targets.clone())


def synthetic_fashion(n: int, seed: int = 0) -> TensorDataset:
    """A tiny stand-in dataset: each class is a noisy bright patch at its own place."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % len(FASHION_CLASSES)
    x = torch.randn(n, 1, 28, 28, generator=generator) * 0.3
    for i, label in enumerate(y.tolist()):
        row, col = divmod(label, 5)
        x[i, 0, 4 + 10 * row: 12 + 10 * row, 2 + 5 * col: 7 + 5 * col] += 2.0
    return TensorDataset(x, y)


def _rules(path_graph: Path, path_wnids: Path, soft: bool) -> object:
    compat.apply()
    from nbdt.analysis import HardEmbeddedDecisionRules, SoftEmbeddedDecisionRules

    kind = SoftEmbeddedDecisionRules if soft else HardEmbeddedDecisionRules
    return kind("FashionMNIST", str(path_graph), str(path_wnids), list(FASHION_CLASSES))


@torch.no_grad()
def evaluate(model: nn.Module, data: TensorDataset, path_graph: Path | None = None,
             path_wnids: Path | None = None, batch_size: int = 1000) -> dict[str, float]:
    """Accuracy of the network, and of its hard and soft NBDTs when a hierarchy is given.

    Accuracy is ``#{argmax = label} / N``, rounded to 4 decimals; the model runs in eval mode
    and gets its own training flags back afterwards.
    """
    hard = soft = None
    if path_graph is not None and path_wnids is not None:
        hard, soft = _rules(path_graph, path_wnids, False), _rules(path_graph, path_wnids, True)
    correct = {"network": 0, "nbdt_hard": 0, "nbdt_soft": 0}
    for x, y in DataLoader(data, batch_size=batch_size):
        with eval_mode(model):
            logits = model(x)
        correct["network"] += int((logits.argmax(1) == y).sum())
        if hard is not None and soft is not None:
            correct["nbdt_hard"] += int((hard.forward(logits).argmax(1) == y).sum())
            correct["nbdt_soft"] += int((soft.forward(logits).argmax(1) == y).sum())
    n = len(data)
    keys = correct if hard is not None else ["network"]
    return {k: round(correct[k] / n, 4) for k in keys}


def _train(model: nn.Module, data: TensorDataset, epochs: int, lr: float,
           loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], seed: int,
           batch_size: int, log: Callable[[str], None], what: str) -> None:
    loader = DataLoader(data, batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = max(1, epochs * len(loader))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    for epoch in range(epochs):
        model.train()
        start, total, seen = time.perf_counter(), 0.0, 0
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(y)
            seen += len(y)
        log(f"{what} epoch {epoch + 1}/{epochs}: loss {total / seen:.4f} "
            f"({time.perf_counter() - start:.0f} s)")


def train_fashion_nbdt(
    out_dir: Path,
    train_data: TensorDataset,
    test_data: TensorDataset,
    *,
    epochs: int = 2,
    tree_epochs: int = 1,
    lr: float = 3e-3,
    tree_lr: float = 1e-3,
    batch_size: int = 128,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict:
    """Train, induce, name, fine-tune; write ``weights.pt``, ``graph.json``, ``wnids.txt`` and
    ``metrics.json`` into ``out_dir``. Returns the metrics."""
    compat.apply()
    from nbdt.loss import SoftTreeSupLoss

    torch.manual_seed(seed)
    np.random.seed(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    model = FashionCNN()
    cross_entropy = nn.CrossEntropyLoss()
    _train(model, train_data, epochs, lr, cross_entropy, seed, batch_size, log, "network")

    path_graph, path_wnids = out_dir / "graph.json", out_dir / "wnids.txt"
    wnids = [synset_wnid(name) for name in FASHION_SYNSETS]
    labels = induce_hierarchy(model.fc.weight, wnids, FASHION_CLASSES, path_graph, path_wnids,
                              leaf_synsets=FASHION_SYNSETS)
    inner = sorted({v for k, v in labels.items() if k not in wnids})
    log(f"hierarchy: {len(labels)} nodes; inner nodes named {', '.join(inner)}")
    before = evaluate(model, test_data, path_graph, path_wnids)
    log(f"before tree supervision: {before}")

    tree_loss = SoftTreeSupLoss("FashionMNIST", cross_entropy, path_graph=str(path_graph),
                                path_wnids=str(path_wnids), classes=list(FASHION_CLASSES))
    _train(model, train_data, tree_epochs, tree_lr, tree_loss, seed + 1, batch_size, log,
           "tree supervision")
    model.eval()
    with atomic_path(out_dir / "weights.pt") as partial:
        torch.save(model.state_dict(), partial)
    after = evaluate(model, test_data, path_graph, path_wnids)
    log(f"after tree supervision: {after}")
    metrics = {
        "dataset": "Fashion-MNIST", "train_images": len(train_data),
        "test_images": len(test_data), "seed": seed, "epochs": epochs,
        "tree_supervision_epochs": tree_epochs, "loss": "nbdt SoftTreeSupLoss",
        "hierarchy": "induced from fc weights (Ward), named by xai_tutorial.nbdt_naming",
        "before_tree_supervision": before, "after_tree_supervision": after,
        "train_seconds": round(time.perf_counter() - began, 1),
        "torch": torch.__version__, "python": platform.python_version(),
    }
    with atomic_path(out_dir / "metrics.json") as partial:
        partial.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
