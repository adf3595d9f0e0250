"""Lesson 03's explanations: nbdt's decision rules turned into readable :class:`Explanation`\\ s.

nbdt's rules take a network's logits and walk the tree: at node ``n`` child ``k`` scores
``s_k = mean_{c in leaves(k)} logit_c`` and is chosen with probability ``softmax(s)_k``. For each
image the walk becomes one :class:`Decision` per step below the root (the branch taken and that
probability), and the :class:`Explanation` holds the predicted class and those decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .hierarchy import Hierarchy


@dataclass(frozen=True)
class Decision:
    """One step down the tree: the child chosen and the probability of choosing it there
    (the softmax over the node's children's scores, at the chosen child)."""

    name: str
    probability: float
    wnid: str = ""


@dataclass(frozen=True)
class Explanation:
    """An NBDT's prediction and the decisions that led to it (root excluded).

    ``probability`` is the product of the decisions' probabilities: the probability of the
    predicted leaf under the soft rule (for a soft NBDT it is exactly what the rule computes).
    """

    prediction: str
    decisions: tuple[Decision, ...]
    soft: bool = False
    index: int = -1  # the predicted class index (names can repeat: ImageNet has two "crane")

    @property
    def probability(self) -> float:
        """``prod_i decisions[i].probability``."""
        return float(np.prod([d.probability for d in self.decisions]))

    def __str__(self) -> str:
        return self.text()

    def text(self, width: int | None = None) -> str:
        """The tutorial's line, ``Prediction: cat // Decisions: animal (99.34%), ...``.

        When that line is longer than ``width`` characters (long node names, as in an induced
        1000-class tree), the prediction comes first and then one numbered decision per line.
        """
        steps = [f"{d.name} ({d.probability:.2%})" for d in self.decisions]
        head = self.prediction
        if self.soft:
            head += f" ({self.probability:.2%}, the product of the decisions)"
        line = f"Prediction: {head} // Decisions: {', '.join(steps)}"
        if width is None or len(line) <= width:
            return line
        return "\n".join([f"Prediction: {head}", "Decisions:"]
                         + [f"  {i}. {step}" for i, step in enumerate(steps, 1)])

    def as_dict(self) -> dict:
        """``{"prediction", "probability", "decisions": [{"name", "probability"}, ...]}``."""
        return {
            "prediction": self.prediction,
            "probability": self.probability,
            "decisions": [{"name": d.name, "probability": d.probability}
                          for d in self.decisions],
        }


def child_probability(parent: object, child: str, logits: torch.Tensor) -> float:
    """``softmax(s)_child`` at nbdt's node ``parent``, ``s_k`` the mean of child ``k``'s
    leaves' logits.

    Preconditions: ``parent`` is one of the rules' nodes, ``child`` one of its children's wnids,
    ``logits`` the ``(classes,)`` logits of one image.
    """
    from nbdt.loss import HardTreeSupLoss

    scores = HardTreeSupLoss.get_output_sub(logits[None], parent)[0].softmax(0)
    return float(scores[parent.children.index(child)])  # type: ignore[attr-defined]


def read_decisions(rules: object, hierarchy: Hierarchy, classes: Sequence[str],
                   logits: torch.Tensor, *, soft: bool) -> list[Explanation]:
    """One :class:`Explanation` per row of ``logits``, from nbdt's ``rules``.

    nbdt gives, per image, the path as ``[{"node": root}, {"node": ..., "prob": p}, ...]``; the
    last step's node is ``None`` (a leaf: the predicted class), and soft rules give no ``prob``,
    which is then :func:`child_probability` at the step's parent.

    Preconditions: ``logits`` is ``(N, len(classes))``, computed without gradients by the network
    the rules belong to; ``hierarchy`` is the one the rules were built from.
    """
    outputs, decisions = rules.forward_with_decisions(logits)  # type: ignore[attr-defined]
    explanations = []
    for i, (row, path) in enumerate(zip(outputs, decisions, strict=True)):
        predicted = int(row.argmax())
        leaf = hierarchy.wnids[predicted]
        steps = []
        for parent, step in zip(path, path[1:], strict=False):  # path[0] is the root
            node = step.get("node")
            wnid = node.wnid if node is not None else leaf  # nbdt gives no node for leaves
            probability = step.get("prob")
            if probability is None:  # nbdt's soft rules give the path without them
                probability = child_probability(parent["node"], wnid, logits[i])
            steps.append(Decision(hierarchy.name(wnid), float(probability), wnid))
        explanations.append(Explanation(prediction=classes[predicted], decisions=tuple(steps),
                                        soft=soft, index=predicted))
    return explanations
