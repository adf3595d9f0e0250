"""Notebook 03's helpers: node maps and scores by function, photo views, agreement, metrics.

Each is a short public entry point over :class:`~.explainer.NBDTExplainer`'s public methods; the
inputs are checked there, once.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image, ImageOps

from ..core.images import ImageSource, load_image
from .explainer import NBDTExplainer, NodeScore
from .node_maps import NodeMap
from .registry import shipped_metrics


def node_activation_maps(explainer: NBDTExplainer,
                         image: ImageSource | torch.Tensor) -> list[NodeMap]:
    """One :class:`NodeMap` per decision on the path the NBDT takes for ``image``.

    For the node deciding at each step, child ``k``'s map is ``M_k = sum_j w_kj F_j`` with
    ``w_k`` the mean of the classifier rows of ``k``'s leaves and ``F`` the last feature maps
    (the pooling's input): ``mean(M_k) + b_k = score_k``, nbdt's score for the child. The maps
    come from the same forward pass as the explanation.

    Args:
        explainer: from :func:`load_nbdt`.
        image: anything :func:`~xai_tutorial.load_image` takes, or a preprocessed
            ``(1, C, H, W)`` tensor.
    """
    return explainer.explain_with_maps(image)[1]


def node_scores(explainer: NBDTExplainer, image: ImageSource | torch.Tensor,
                node: str | None = None) -> list[NodeScore]:
    """At ``node`` (default: the root), each child's score two ways: from the averaged leaf
    weights, ``w_k . GAP(F) + b_k``, and from nbdt's rule (mean of the leaves' logits).

    Returns:
        ``[(child name, score from averaged weights, score from nbdt), ...]`` as
        :class:`NodeScore`\\ s.
    """
    return explainer.node_scores(image, node)


def photo_variants(image: ImageSource) -> dict[str, Image.Image]:
    """The photo, its mirror image, and three 75% crops (centre, top left, bottom right) with
    the centre crop mirrored too: six views on which a faithful tree should agree with its
    network. A crop of ``w x h`` is ``round(0.75 w) x round(0.75 h)``."""
    picture = load_image(image)
    w, h = picture.size
    cw, ch = round(0.75 * w), round(0.75 * h)
    centre = picture.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))
    return {
        "photo": picture,
        "mirrored": ImageOps.mirror(picture),
        "centre crop": centre,
        "centre crop mirrored": ImageOps.mirror(centre),
        "top-left crop": picture.crop((0, 0, cw, ch)),
        "bottom-right crop": picture.crop((w - cw, h - ch, w, h)),
    }


#: Logit rows per walk of nbdt's rules in :func:`tree_and_network`. The walk costs about the
#: same for one row as for dozens (on the 999-node ImageNet tree, ~0.2 CPU-s), while the forward
#: passes run one image at a time, so memory stays that of one image's activations.
AGREEMENT_ROWS = 64


def tree_and_network(explainer: NBDTExplainer, images: Sequence[ImageSource | torch.Tensor],
                     rows: int = AGREEMENT_ROWS) -> list[tuple[int, int]]:
    """``[(tree's class index, network's top-1 index), ...]``, one pair per image, in order.

    The tree's index is ``explanation.index``, the network's ``argmax(logits)``, both from the
    same logits: one forward pass per image (:meth:`NBDTExplainer.model_input`, then
    :meth:`NBDTExplainer.network_logits`), then nbdt's rules read up to ``rows`` images' logits
    at once (:meth:`NBDTExplainer.explain_logits`).
    """
    pairs: list[tuple[int, int]] = []
    pending: list[torch.Tensor] = []

    def walk() -> None:
        logits = torch.cat(pending)
        explanations = explainer.explain_logits(logits)
        pairs.extend((e.index, int(row.argmax()))
                     for e, row in zip(explanations, logits, strict=True))
        pending.clear()

    for image in images:
        pending.append(explainer.network_logits(explainer.model_input(image)))
        if len(pending) >= max(1, rows):
            walk()
    if pending:
        walk()
    return pairs


def agreement_with_network(explainer: NBDTExplainer,
                           images: Sequence[ImageSource | torch.Tensor]) -> tuple[int, int]:
    """``(agreeing, total)``: on how many images the NBDT's prediction is the network's top-1
    (``explanation.index == argmax(logits)``; see :func:`tree_and_network`)."""
    pairs = tree_and_network(explainer, images)
    return sum(tree == top1 for tree, top1 in pairs), len(pairs)


def metrics_table() -> str:
    """The shipped model's before/after accuracies as a small text table."""
    metrics = shipped_metrics()
    rows = [("", "network", "hard NBDT", "soft NBDT")]
    for key, name in (("before_tree_supervision", "before tree supervision"),
                      ("after_tree_supervision", "after tree supervision")):
        m = metrics[key]
        rows.append((name, f"{m['network']:.1%}", f"{m['nbdt_hard']:.1%}",
                     f"{m['nbdt_soft']:.1%}"))
    return "\n".join(f"{a:<25}{b:>10}{c:>11}{d:>11}" for a, b, c, d in rows)
