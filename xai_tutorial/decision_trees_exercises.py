"""Lesson 03's self-checking exercises (see :mod:`xai_tutorial.exercises`).

In notebook 03::

    from xai_tutorial import decision_trees_exercises as ex
    ex.node_score_by_hand.check()

Each checker computes the reference answer with the package (the source of truth), from the
objects the notebook already has (``fashion_nbdt``, ``exercise_image``, ...).
"""

from __future__ import annotations

import itertools
import typing
from collections.abc import Sequence

import torch

from .core.images import ImageSource
from .decision_trees import NBDTExplainer, agreement_with_network, node_scores
from .exercises import Exercise, expect


def _as_tensor(value: object, name: str) -> torch.Tensor:
    expect(isinstance(value, torch.Tensor), f"`{name}` should be a torch tensor, "
           f"not {type(value).__name__}")
    return value.detach().float().flatten()  # type: ignore[union-attr]


def _check_node_scores(root_scores_by_hand, fashion_nbdt: NBDTExplainer, exercise_image) -> None:
    ours = _as_tensor(root_scores_by_hand, "root_scores_by_hand")
    rows = node_scores(fashion_nbdt, exercise_image)
    reference = torch.tensor([nbdt for _, _, nbdt in rows])
    expect(ours.numel() == reference.numel(),
           f"the root has {reference.numel()} children, so expect {reference.numel()} scores; "
           f"found {ours.numel()}")
    biases = fashion_nbdt.node_biases()[fashion_nbdt.root]
    if torch.allclose(ours + biases, reference, atol=1e-4):
        expect(False, "close: each child's score also adds the mean of its leaves' biases")
    if torch.allclose(ours, reference.softmax(0), atol=1e-4):
        expect(False, "those are probabilities (after the softmax); the exercise asks for the "
               "scores before it")
    expect(torch.allclose(ours, reference, atol=1e-4),
           f"expected about {[round(float(v), 3) for v in reference]} for `exercise_image`; found "
           f"{[round(float(v), 3) for v in ours]} (did you preprocess `exercise_image`, the ankle "
           "boot, rather than an earlier `x`?)")


node_score_by_hand = Exercise(
    name="A node's scores by hand",
    variables=("root_scores_by_hand", "fashion_nbdt", "exercise_image"),
    checker=_check_node_scores,
    hint_text=(
        "Average the fc rows (and biases) of each root child's leaves, pool the features the "
        "pooling layer sees (mean over rows and columns), then w_k · pooled + b_k. "
        "`fashion_nbdt.leaf_indices(child)` gives a child's class indices."
    ),
    solution_text="""
        net = fashion_nbdt.network
        x = fashion_nbdt.preprocess(load_image(exercise_image))
        pooled = net.pool(net.features(x)).flatten()           # GAP(F): 96 numbers
        rows, bias = net.fc.weight.detach(), net.fc.bias.detach()
        kids = fashion_nbdt.children[fashion_nbdt.root]
        w = torch.stack([rows[fashion_nbdt.leaf_indices(k)].mean(0) for k in kids])
        b = torch.stack([bias[fashion_nbdt.leaf_indices(k)].mean() for k in kids])
        root_scores_by_hand = w @ pooled + b
    """,
)


def _wrong_turn(explainer: NBDTExplainer, image, truth: str) -> tuple[str, float]:
    explanation, maps = explainer.explain_with_maps(image)
    truth_index = explainer.classes.index(truth)
    for node_map in maps:
        child = node_map.children_wnids[node_map.chosen]
        if truth_index not in explainer.leaf_indices(child):
            return node_map.node, node_map.probability
    raise AssertionError(f"the tree classifies this image correctly as {truth}")


def _check_wrong_turn(wrong_turn_node, wrong_turn_probability, fashion_nbdt: NBDTExplainer,
                      misread_image, misread_truth) -> None:
    node, probability = _wrong_turn(fashion_nbdt, misread_image, misread_truth)
    expect(isinstance(wrong_turn_node, str), "`wrong_turn_node` should be a node's name (str)")
    maps = fashion_nbdt.explain_with_maps(misread_image)[1]
    path = [m.node for m in maps]
    turn = next(m for m in maps if m.node == node)
    expect(wrong_turn_node != turn.decision,
           f"{wrong_turn_node!r} is the branch the tree took; give the node that chose it "
           "(`m.node`, not `m.decision`)")
    expect(wrong_turn_node in path, f"{wrong_turn_node!r} is not a node on the path: {path}")
    expect(wrong_turn_node == node,
           f"at {wrong_turn_node!r} the path still leads towards {misread_truth}; look "
           "further down" if path.index(wrong_turn_node) < path.index(node) else
           f"the path had already left {misread_truth} before {wrong_turn_node!r}")
    if isinstance(wrong_turn_probability, torch.Tensor) and wrong_turn_probability.numel() == 1:
        wrong_turn_probability = float(wrong_turn_probability)
    expect(isinstance(wrong_turn_probability, float | int)
           and not isinstance(wrong_turn_probability, bool),
           "`wrong_turn_probability` should be a number")
    value = float(wrong_turn_probability)
    expect(abs(value - 100 * probability) > 1e-2,
           "that looks like a percentage; give a fraction between 0 and 1")
    expect(len(turn.children) != 2 or abs(value - (1 - probability)) > 1e-3,
           f"that is the probability of the other branch at {node!r}; give the one it chose")
    expect(abs(value - probability) < 1e-3,
           f"the probability of the wrong choice at {node!r} is the softmax of that node's "
           f"scores at the chosen child; found {float(wrong_turn_probability):.4f}")


wrong_turn = Exercise(
    name="Where the tree went wrong",
    variables=("wrong_turn_node", "wrong_turn_probability", "fashion_nbdt", "misread_image",
               "misread_truth"),
    checker=_check_wrong_turn,
    hint_text=(
        "Walk the node maps in order; the wrong turn is the first node `m` whose chosen child "
        "(`m.children_wnids[m.chosen]`) no longer has the true class among its leaves "
        "(`fashion_nbdt.leaves(wnid)`). Store `m.node` and `m.probability`."
    ),
    solution_text="""
        for m in node_activation_maps(fashion_nbdt, misread_image):
            if misread_truth not in fashion_nbdt.leaves(m.children_wnids[m.chosen]):
                wrong_turn_node, wrong_turn_probability = m.node, m.probability
                break
    """,
)


#: Most images the agreement exercise reads (the lesson uses the 6 sample photos; one forward
#: pass each), so an endless or huge ``agreement_images`` is refused, not consumed.
MAX_AGREEMENT_IMAGES = 100


def _agreement_images(agreement_images: object) -> list:
    """The learner's images as a list, read no further than ``MAX_AGREEMENT_IMAGES + 1``."""
    expect(isinstance(agreement_images, (list, tuple)),
           "`agreement_images` should be a list of images (names or paths), not "
           f"{type(agreement_images).__name__}")
    images = list(itertools.islice(agreement_images, MAX_AGREEMENT_IMAGES + 1))
    expect(len(images) <= MAX_AGREEMENT_IMAGES,
           f"`agreement_images` has more than {MAX_AGREEMENT_IMAGES} images; the lesson uses "
           "the sample photos, `list(SAMPLES)`")
    expect(len(images) > 0, "`agreement_images` is empty; the lesson uses `list(SAMPLES)`")
    kinds = typing.get_args(ImageSource)
    expect(all(isinstance(image, kinds) for image in images),
           "`agreement_images` should hold images: names of sample photos, paths or PIL images")
    return images


def _check_agreement(untrained_agreement, imagenet_nbdt: NBDTExplainer,
                     agreement_images: Sequence) -> None:
    images = _agreement_images(agreement_images)
    agreeing, total = agreement_with_network(imagenet_nbdt, images)
    expect(isinstance(untrained_agreement, float | int) and not isinstance(
        untrained_agreement, bool), "`untrained_agreement` should be a number")
    value, fraction = float(untrained_agreement), agreeing / total
    if abs(value - fraction) < 1e-9:
        return None
    expect(abs(value - agreeing) > 1e-9,
           f"that is a count ({agreeing}); divide by the number of images ({total})")
    expect(abs(value - 100 * fraction) > 1e-6,
           "that looks like a percentage; give a fraction between 0 and 1")
    expect(False, f"expected the fraction of the {total} images on which the tree's prediction "
           f"is the network's top-1; found {value:.4f}")
    return None


untrained_agreement = Exercise(
    name="The untrained ImageNet tree",
    variables=("untrained_agreement", "imagenet_nbdt", "agreement_images"),
    checker=_check_agreement,
    hint_text=(
        "For each image: the network's top-1 is `imagenet_nbdt.network(x).argmax()`, the tree's "
        "is `imagenet_nbdt.explain(image).index`. Count the matches, divide by the total."
    ),
    solution_text="""
        matches = 0
        for image in agreement_images:
            x = imagenet_nbdt.preprocess(load_image(image))
            top1 = int(imagenet_nbdt.network(x).argmax())
            matches += imagenet_nbdt.explain(image).index == top1
        untrained_agreement = matches / len(agreement_images)
    """,
)

#: The lesson's exercises, in notebook order.
EXERCISES: tuple[Exercise, ...] = (node_score_by_hand, wrong_turn, untrained_agreement)
