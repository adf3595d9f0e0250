"""Lesson 03's edges: inputs checked once, the caller's model left as it was, hooks removed, a
photo decoded once along the CLI's ``--maps`` path, and modules and functions kept small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageOps
from test_decision_trees import HandNet, _hand_explainer

from xai_tutorial.core.hooks import hook_count
from xai_tutorial.core.images import load_image
from xai_tutorial.decision_trees import (
    NBDTExplainer,
    NodeScore,
    load_nbdt,
    node_activation_maps,
    node_scores,
)
from xai_tutorial.decision_trees_view import save_node_maps
from xai_tutorial.errors import InputError, UnknownNameError

ROOT = Path(__file__).resolve().parents[1]
BOOT = ROOT / "assets" / "fashion" / "9-ankle-boot.png"
HAND_X = torch.tensor([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
                       [[0.0, 1.0, 0.0], [2.0, 0.0, 2.0]]])[None]  # (1, 2, 2, 3)


@pytest.fixture(scope="module")
def fashion() -> NBDTExplainer:
    return load_nbdt("fashion")


@pytest.mark.parametrize("bad, words", [
    (torch.zeros(1, 28, 28), r"\(1, 1, H, W\)"),           # no silent batch dimension
    (torch.zeros(2, 1, 28, 28), "one 1-channel image"),
    (torch.zeros(1, 3, 28, 28), "one 1-channel image"),
    (torch.zeros(1, 1, 28, 28, dtype=torch.uint8), "float"),
    (torch.full((1, 1, 28, 28), float("nan")), "NaN"),
])
def test_a_tensor_input_must_be_one_checked_image(fashion, bad, words):
    for call in (fashion.explain, fashion.explain_with_maps, fashion.model_picture,
                 fashion.model_input, lambda x: node_scores(fashion, x),
                 lambda x: node_activation_maps(fashion, x)):
        with pytest.raises(InputError, match=words):
            call(bad)


def test_batches_are_checked_too(fashion):
    with pytest.raises(InputError, match=r"\(N, 1, H, W\)"):
        fashion.forward(torch.zeros(1, 28, 28))
    with pytest.raises(InputError, match=r"\(N, 1, H, W\)"):
        fashion.explain_tensor(torch.zeros(3, 28, 28))
    with pytest.raises(InputError, match="logits"):
        fashion.explain_logits(torch.zeros(3))
    logits, features = fashion.forward(torch.zeros(2, 1, 28, 28))
    explanation = fashion.explain_logits(logits)[0]
    with pytest.raises(InputError, match="features"):
        fashion.node_maps(explanation, features, logits[0])  # a batch, not one image's


def test_a_tensor_the_network_cannot_take_is_an_input_error(fashion):
    tiny = torch.zeros(1, 1, 2, 2)  # max pooling twice needs at least 4 x 4
    for call in (fashion.explain, fashion.explain_with_maps):
        with pytest.raises(InputError, match=r"shape \(1, 1, 2, 2\)"):
            call(tiny)
    assert hook_count(fashion.network) == 0


def test_explaining_leaves_the_callers_model_as_it_was(tmp_path):
    net = HandNet()
    explainer = _hand_explainer(tmp_path, net)
    net.train()  # nbdt put it in eval when it wrapped it; the caller wants it training
    net.pool.eval()  # and a mix of modes must come back as a mix
    modes = {name: m.training for name, m in net.named_modules()}
    explainer.explain(HAND_X)
    explainer.explain_with_maps(HAND_X)
    explainer.forward(torch.cat([HAND_X, HAND_X]))
    explainer.explain_tensor(HAND_X)
    explainer.explain_with_logits(HAND_X)
    rows = explainer.node_scores(HAND_X)
    assert {name: m.training for name, m in net.named_modules()} == modes
    assert hook_count(net) == 0
    assert all(isinstance(r, NodeScore) and abs(r.from_weights - r.from_nbdt) < 1e-5
               for r in rows)


def test_a_refused_network_keeps_no_hook(tmp_path):
    class TwiceNet(HandNet):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.pool(x)
            return super().forward(x)

    net = TwiceNet()
    explainer = _hand_explainer(tmp_path, net)
    with pytest.raises(InputError, match="ran 2 times"):
        explainer.explain_with_maps(HAND_X)
    assert hook_count(net) == 0 and not net.training


def test_node_names_are_checked(fashion):
    with pytest.raises(UnknownNameError, match="no such inner node"):
        fashion.node_scores(BOOT, node="Sneaker")
    with pytest.raises(UnknownNameError, match="no such inner node"):
        fashion.node_rows(fashion.wnids[0])  # a leaf decides nothing
    footwear = fashion.wnid_of("footwear")
    rows = fashion.node_rows(footwear)
    assert rows.weights.shape == (len(fashion.children[footwear]), fashion.fc.in_features)
    assert [r.child for r in node_scores(fashion, BOOT, footwear)] == list(rows.names)


def test_the_maps_path_decodes_the_photo_once(fashion, tmp_path, monkeypatch):
    """As ``nbdt --maps`` runs: load_image once, then explain_with_maps and save_node_maps on the
    loaded picture; no file is opened again and no EXIF or mode step runs again."""
    picture = load_image(BOOT)
    calls: list[str] = []
    real_open, real_exif = Image.open, ImageOps.exif_transpose
    monkeypatch.setattr(Image, "open", lambda *a, **k: calls.append("open") or real_open(*a, **k))
    monkeypatch.setattr(ImageOps, "exif_transpose",
                        lambda *a, **k: calls.append("exif") or real_exif(*a, **k))
    explanation, node_maps = fashion.explain_with_maps(picture)
    paths = save_node_maps(fashion, picture, tmp_path / "maps", node_maps=node_maps)
    assert calls == []
    assert len(paths) == len(explanation.decisions) == len(node_maps)


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _length(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from ``def`` to the end, the docstring left out (nested functions count)."""
    first = function.lineno
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None),
                                                             ast.Constant):
        docstring = body[0].end_lineno - body[0].lineno + 1  # type: ignore[operator]
    else:
        docstring = 0
    return function.end_lineno - first + 1 - docstring  # type: ignore[operator]


LESSON_03 = sorted((ROOT / "xai_tutorial" / "decision_trees").glob("*.py")) + [
    ROOT / "xai_tutorial" / f"decision_trees_{kind}.py" for kind in ("view", "widgets",
                                                                      "exercises")]


@pytest.mark.parametrize("path", LESSON_03, ids=lambda p: p.name)
def test_modules_and_functions_stay_small(path):
    source = path.read_text()
    assert len(source.splitlines()) <= 500
    long = [(f.name, _length(f)) for f in _functions(ast.parse(source)) if _length(f) > 80]
    assert not long, long


@pytest.mark.parametrize("path", LESSON_03, ids=lambda p: p.name)
def test_nothing_reaches_into_the_explainers_private_parts(path):
    if path.name == "explainer.py":
        return
    tree = ast.parse(path.read_text())
    private = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
               and n.attr.startswith("_") and not n.attr.startswith("__")
               and isinstance(n.value, ast.Name)
               and n.value.id in ("explainer", "fashion_nbdt", "imagenet_nbdt")}
    assert not private, private
