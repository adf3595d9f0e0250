"""Lesson 03's self-checking exercises (see :mod:`xai_tutorial.exercises`).

In notebook 03::

    from xai_tutorial import decision_trees_exercises as ex
    ex.node_score_by_hand.check()

Each checker computes the reference answer with the package (the source of truth), from the
lesson's own objects, passed as the exercise's ``context`` (``fashion_nbdt``, ``exercise_image``,
``imagenet_nbdt``, ``PHOTOS``, ...): a right answer is right for whatever photos and trees the
lesson holds. An answer that is a number comes with the object it is computed from (exercise 3's
per-photo pairs), so a guessed number is not enough.
"""

from __future__ import annotations

import itertools
import typing

import torch

from .core.images import ImageSource
from .decision_trees import NBDTExplainer, node_scores
from .decision_trees.lesson import tree_and_network
from .exercises import Exercise, expect, index, number, photos, text

#: How far a right answer may be from the package's (the same float32 arithmetic in another
#: order differs by ~1e-6); numbers typed in from a printed output (4 decimals) are further off.
TYPED_TOLERANCE = 1e-5


def _as_tensor(value: object, name: str) -> torch.Tensor:
    expect(isinstance(value, torch.Tensor), f"`{name}` should be a torch tensor, "
           f"not {type(value).__name__}")
    tensor = typing.cast(torch.Tensor, value)
    expect(tensor.layout == torch.strided and not tensor.is_meta,
           f"`{name}` should be an ordinary (dense) tensor of numbers")
    expect(not tensor.is_complex() and tensor.dtype != torch.bool,
           f"`{name}` should hold real numbers (scores), not {tensor.dtype}")
    return tensor.detach().float().flatten()


def _context(explainer: object, name: str, **pictures: object) -> list:
    """The lesson's context checked: ``explainer`` an NBDT, each picture loaded
    (:func:`~xai_tutorial.exercises.photos`), or one clear reason."""
    expect(isinstance(explainer, NBDTExplainer),
           f"`{name}` is not an NBDT (it is a {type(explainer).__name__}): re-run the lesson's "
           "cells above")
    return photos(**pictures)


def _likely_mistakes(explainer: NBDTExplainer, image: ImageSource) -> dict[str, torch.Tensor]:
    """The root's scores as common slips would give them, each with the reason to show."""
    logits, features = explainer.forward(explainer.model_input(image))
    rows = explainer.node_rows(explainer.root)
    w, b = rows.weights, rows.biases
    cells = features.shape[2] * features.shape[3]
    pooled, peak = features.mean((2, 3))[0], features.amax((2, 3))[0]
    sizes = torch.tensor([len(explainer.leaf_indices(k)) for k in explainer.children[
        explainer.root]], dtype=w.dtype)
    right = w @ pooled + b
    return {
        "close: each child's score also adds the mean of its leaves' biases": w @ pooled,
        "those are probabilities (after the softmax); the exercise asks for the scores before "
        "it": right.softmax(0),
        f"that is sum pooling: the features were summed over the {cells} cells instead of "
        "averaged (global *average* pooling: `net.pool`, or `.mean((2, 3))`)":
            w @ (cells * pooled) + b,
        "that is sum pooling without the biases: average the features over their cells "
        "(`net.pool`) and add each child's mean bias": w @ (cells * pooled),
        "that is max pooling: the network averages its features over the cells "
        "(`net.pool`, or `.mean((2, 3))`), it does not take their maximum": w @ peak + b,
        "the leaves' rows (or biases) were summed, not averaged: use `.mean(0)` over the rows "
        "of each child's leaves and `.mean()` over their biases":
            sizes * (w @ pooled + b),
        "the leaves' rows were summed, not averaged: use `.mean(0)` over the rows of each "
        "child's leaves": sizes * (w @ pooled) + b,
    }


def _check_node_scores(root_scores_by_hand, *, fashion_nbdt: NBDTExplainer,
                       exercise_image) -> None:
    (exercise_image,) = _context(fashion_nbdt, "fashion_nbdt", exercise_image=exercise_image)
    ours = _as_tensor(root_scores_by_hand, "root_scores_by_hand")
    rows = node_scores(fashion_nbdt, exercise_image)
    reference = torch.tensor([nbdt for _, _, nbdt in rows])
    expect(ours.numel() == reference.numel(),
           f"the root has {reference.numel()} children, so expect {reference.numel()} scores; "
           f"found {ours.numel()}")
    expect(bool(torch.isfinite(ours).all()), "`root_scores_by_hand` holds NaN or inf")
    if torch.allclose(ours, reference, rtol=0.0, atol=TYPED_TOLERANCE):
        return None
    for reason, slip in _likely_mistakes(fashion_nbdt, exercise_image).items():
        expect(not torch.allclose(ours, slip.float(), rtol=1e-4, atol=1e-4), reason)
    expect(not torch.allclose(ours, reference, rtol=0.0, atol=1e-2),
           "close to the scores, but not what the network computes (float32 agrees to "
           f"{TYPED_TOLERANCE:g}): compute them from `exercise_image`'s features rather than "
           "typing numbers in")
    expect(False, "these are not the root's scores for `exercise_image`: preprocess "
           "`exercise_image` (not an earlier `x`), average its features over the cells "
           "(`net.pool`), then `w_k · g + b_k` with each child's mean row and mean bias")
    return None


node_score_by_hand = Exercise(
    name="A node's scores by hand",
    variables=("root_scores_by_hand",),
    checker=_check_node_scores,
    hint_text=(
        "Average the fc rows (and biases) of each root child's leaves, pool the features the "
        "pooling layer sees (mean over rows and columns), then w_k · pooled + b_k. "
        "`fashion_nbdt.leaf_indices(child)` gives a child's class indices."
    ),
    solution_text="""
        g = net.pool(net.features(fashion_nbdt.preprocess(load_image(exercise_image)))).flatten()
        b_root = torch.stack([biases[index].mean() for index in leaves])
        root_scores_by_hand = w_root @ g + b_root
    """,
    context=("fashion_nbdt", "exercise_image"),
)


def _wrong_turn(explainer: NBDTExplainer, image, truth: str) -> tuple[str, float]:
    explanation, maps = explainer.explain_with_maps(image)
    truth_index = explainer.classes.index(truth)
    for node_map in maps:
        child = node_map.children_wnids[node_map.chosen]
        if truth_index not in explainer.leaf_indices(child):
            return node_map.node, node_map.probability
    raise AssertionError(f"the tree classifies this image correctly as {truth}")


def _check_wrong_turn(wrong_turn_node, wrong_turn_probability, *, fashion_nbdt: NBDTExplainer,
                      misread_image, misread_truth) -> None:
    (misread_image,) = _context(fashion_nbdt, "fashion_nbdt", misread_image=misread_image)
    expect(isinstance(misread_truth, str) and misread_truth in fashion_nbdt.classes,
           f"`misread_truth` is not one of the tree's classes ({', '.join(fashion_nbdt.classes)}):"
           " re-run the lesson's cells above")
    node, probability = _wrong_turn(fashion_nbdt, misread_image, misread_truth)
    wrong_turn_node = text(wrong_turn_node, "wrong_turn_node")
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
    value = number(wrong_turn_probability, "wrong_turn_probability")
    expect(abs(value - 100 * probability) > 1e-2,
           "that looks like a percentage; give a fraction between 0 and 1")
    expect(len(turn.children) != 2 or abs(value - (1 - probability)) > 1e-3,
           f"that is the probability of the other branch at {node!r}; give the one it chose")
    expect(abs(value - probability) < 1e-2,
           f"the probability of the wrong choice at {node!r} is the softmax of that node's "
           f"scores at the chosen child; found {value:.4f}")
    expect(abs(value - probability) < TYPED_TOLERANCE,
           "close, but not the probability the tree computed: store `m.probability` itself "
           "rather than a number typed in from a printed output")


wrong_turn = Exercise(
    name="Where the tree went wrong",
    variables=("wrong_turn_node", "wrong_turn_probability"),
    checker=_check_wrong_turn,
    hint_text=(
        "Walk the node maps in order; the wrong turn is the first node `m` whose chosen child "
        "(`m.children_wnids[m.chosen]`) no longer has the true class among its leaves "
        "(`fashion_nbdt.leaves(wnid)`)."
    ),
    solution_text="""
        for m in node_activation_maps(fashion_nbdt, misread_image):
            if misread_truth not in fashion_nbdt.leaves(m.children_wnids[m.chosen]):
                wrong_turn_node, wrong_turn_probability = m.node, m.probability
                break
    """,
    context=("fashion_nbdt", "misread_image", "misread_truth"),
)


#: Most photos the agreement exercise reads (the lesson uses its ``PHOTOS``, six by default; one
#: forward pass each), so an endless or huge list is refused, not consumed.
MAX_AGREEMENT_IMAGES = 100


def _photos(photos: object) -> list:
    """The lesson's ``PHOTOS`` as a list, read no further than ``MAX_AGREEMENT_IMAGES + 1``."""
    expect(isinstance(photos, list | tuple),
           f"`PHOTOS` should be a list of photos (names or paths), not {type(photos).__name__}")
    images = list(itertools.islice(photos, MAX_AGREEMENT_IMAGES + 1))
    expect(len(images) <= MAX_AGREEMENT_IMAGES,
           f"`PHOTOS` has more than {MAX_AGREEMENT_IMAGES} photos; the lesson uses a few")
    expect(len(images) > 0, "`PHOTOS` is empty; set it in the parameters cell")
    kinds = typing.get_args(ImageSource)
    expect(all(isinstance(image, kinds) for image in images),
           "`PHOTOS` should hold photos: names of sample photos, paths or PIL images")
    return images


def _pairs(agreement_pairs: object, count: int) -> list[tuple[int, int]]:
    """The learner's pairs as ``(tree, network)`` class indices."""
    expect(isinstance(agreement_pairs, list | tuple),
           "`agreement_pairs` should be a list with one (tree's index, network's top-1) pair "
           f"per photo, not {type(agreement_pairs).__name__}")
    pairs = list(itertools.islice(agreement_pairs, count + 1))
    expect(len(pairs) == count, f"`agreement_pairs` should hold one pair per photo in "
           f"`PHOTOS` ({count}); found {len(pairs) if len(pairs) <= count else 'more'}")
    expect(all(isinstance(p, list | tuple) and len(p) == 2 for p in pairs),
           "each item of `agreement_pairs` should be a pair: (the tree's class index, the "
           "network's top-1 index)")
    return [(index(tree, f"agreement_pairs[{place}][0]"),
             index(network, f"agreement_pairs[{place}][1]"))
            for place, (tree, network) in enumerate(pairs)]


def _check_agreement(agreement_pairs, untrained_agreement, *, imagenet_nbdt: NBDTExplainer,
                     PHOTOS) -> None:  # noqa: N803 (the lesson's parameter is PHOTOS)
    photos = _photos(PHOTOS)
    photos = _context(imagenet_nbdt, "imagenet_nbdt",
                      **{f"PHOTOS[{place}]": photo for place, photo in enumerate(photos)})
    pairs = _pairs(agreement_pairs, len(photos))
    truth = tree_and_network(imagenet_nbdt, photos)
    for place, ((tree, network), (true_tree, true_network)) in enumerate(
            zip(pairs, truth, strict=True)):
        where = f"for `PHOTOS[{place}]`"
        expect(not ((tree, network) == (true_network, true_tree) and tree != network),
               f"{where} the pair is (network, tree); store (the tree's index, the network's)")
        expect(tree == true_tree, f"{where} the tree does not predict class {tree}: use "
               "`explanation.index` of that photo's explanation")
        expect(network == true_network, f"{where} the network's top-1 is not class "
               f"{network}: use `logits.argmax()` of that photo's logits")
    value = number(untrained_agreement, "untrained_agreement")
    agreeing = sum(tree == network for tree, network in pairs)
    fraction = agreeing / len(pairs)
    if abs(value - fraction) < 1e-9:
        return None
    expect(abs(value - agreeing) > 1e-9 or agreeing == 0,
           f"that is a count ({agreeing}); divide by the number of photos ({len(pairs)})")
    expect(abs(value - 100 * fraction) > 1e-6 or fraction == 0,
           "that looks like a percentage; give a fraction between 0 and 1")
    expect(False, f"your pairs agree on {agreeing} of {len(pairs)} photos, so the fraction is "
           f"not {value:.4f}: count the pairs whose two indices are equal, divide by "
           "`len(PHOTOS)`")
    return None


untrained_agreement = Exercise(
    name="The untrained ImageNet tree",
    variables=("agreement_pairs", "untrained_agreement"),
    checker=_check_agreement,
    hint_text=(
        "For each photo, `explanation, logits = imagenet_nbdt.explain_with_logits(photo)`: the "
        "tree's class is `explanation.index`, the network's top-1 `int(logits.argmax())`. "
        "Append the pair, then count the pairs that agree and divide by the number of photos."
    ),
    solution_text="""
        agreement_pairs = []
        for photo in PHOTOS:
            explanation, logits = imagenet_nbdt.explain_with_logits(photo)
            agreement_pairs.append((explanation.index, int(logits.argmax())))
        untrained_agreement = sum(tree == top1 for tree, top1 in agreement_pairs) / len(PHOTOS)
    """,
    context=("imagenet_nbdt", "PHOTOS"),
)

#: The lesson's exercises, in notebook order.
EXERCISES: tuple[Exercise, ...] = (node_score_by_hand, wrong_turn, untrained_agreement)
