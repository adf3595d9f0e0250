"""Lesson 03's exercises: right answers pass, wrong ones say why, missing ones are not attempted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hand_built import AlwaysEqual

from xai_tutorial import decision_trees_exercises as ex
from xai_tutorial.decision_trees import agreement_with_network, load_nbdt, node_scores
from xai_tutorial.exercises import Outcome

ROOT = Path(__file__).resolve().parents[1]
SNEAKER = ROOT / "assets" / "fashion" / "7-sneaker.png"
MISREAD = ROOT / "assets" / "fashion" / "hard-soft-disagree.png"


@pytest.fixture(scope="module")
def fashion():
    return load_nbdt("fashion")


def outcome(exercise, **values):
    return exercise.evaluate(values)


def test_node_score_by_hand(fashion):
    net = fashion.network
    x = fashion.preprocess(__import__("PIL.Image").Image.open(SNEAKER))
    pooled = net.pool(net.features(x)).flatten().detach()
    rows, bias = net.fc.weight.detach(), net.fc.bias.detach()
    kids = fashion.children[fashion.root]
    w = torch.stack([rows[fashion.leaf_indices(k)].mean(0) for k in kids])
    b = torch.stack([bias[fashion.leaf_indices(k)].mean() for k in kids])
    common = {"fashion_nbdt": fashion, "exercise_image": SNEAKER}
    right = outcome(ex.node_score_by_hand, root_scores_by_hand=w @ pooled + b, **common)
    assert right.outcome is Outcome.CORRECT, right.line
    no_bias = outcome(ex.node_score_by_hand, root_scores_by_hand=w @ pooled, **common)
    assert no_bias.outcome is Outcome.NOT_YET and "biases" in no_bias.line
    probs = outcome(ex.node_score_by_hand, root_scores_by_hand=(w @ pooled + b).softmax(0),
                    **common)
    assert probs.outcome is Outcome.NOT_YET and "softmax" in probs.line
    short = outcome(ex.node_score_by_hand, root_scores_by_hand=torch.zeros(3), **common)
    assert short.outcome is Outcome.NOT_YET and "2 scores" in short.line
    # the sneaker's scores, checked against the ankle boot: the reason names the image
    boot = ROOT / "assets" / "fashion" / "9-ankle-boot.png"
    other = outcome(ex.node_score_by_hand, root_scores_by_hand=w @ pooled + b,
                    fashion_nbdt=fashion, exercise_image=boot)
    assert other.outcome is Outcome.NOT_YET and "`exercise_image`" in other.line
    features = net.features(x).detach()
    summed = outcome(ex.node_score_by_hand, root_scores_by_hand=w @ features.sum((2, 3))[0] + b,
                     **common)
    assert summed.outcome is Outcome.NOT_YET and "sum pooling" in summed.line, summed.line
    assert "preprocess" not in summed.line
    maxed = outcome(ex.node_score_by_hand, root_scores_by_hand=w @ features.amax((2, 3))[0] + b,
                    **common)
    assert maxed.outcome is Outcome.NOT_YET and "max pooling" in maxed.line, maxed.line
    sizes = torch.tensor([float(len(fashion.leaf_indices(k))) for k in kids])
    rows_summed = outcome(ex.node_score_by_hand, root_scores_by_hand=sizes * (w @ pooled) + b,
                          **common)
    assert rows_summed.outcome is Outcome.NOT_YET and "summed" in rows_summed.line
    typed = torch.tensor([round(float(v), 4) for v in w @ pooled + b]) + 3e-5
    copied = outcome(ex.node_score_by_hand, root_scores_by_hand=typed, **common)
    assert copied.outcome is Outcome.NOT_YET and "typing" in copied.line, copied.line
    assert not any(f"{float(v):.2f}" in copied.line for v in w @ pooled + b)  # no answer shown
    listed = outcome(ex.node_score_by_hand, root_scores_by_hand=[1.0, 2.0], **common)
    assert listed.outcome is Outcome.NOT_YET and "tensor" in listed.line
    assert outcome(ex.node_score_by_hand, **common).outcome is Outcome.NOT_ATTEMPTED
    assert [round(a, 4) for _, a, _ in node_scores(fashion, SNEAKER)] == [
        round(float(v), 4) for v in w @ pooled + b]


def test_wrong_turn(fashion):
    common = {"fashion_nbdt": fashion, "misread_image": MISREAD, "misread_truth": "Shirt"}
    maps = fashion.explain_with_maps(MISREAD)[1]
    first = maps[0]
    assert first.node == "artifact" and first.decision == "clothing"  # still right
    turn = maps[1]
    assert turn.node == "clothing" and turn.decision == "Pullover, Coat, Trouser or Dress"
    right = outcome(ex.wrong_turn, wrong_turn_node="clothing",
                    wrong_turn_probability=turn.probability, **common)
    assert right.outcome is Outcome.CORRECT, right.line
    early = outcome(ex.wrong_turn, wrong_turn_node="artifact",
                    wrong_turn_probability=first.probability, **common)
    assert early.outcome is Outcome.NOT_YET and "further down" in early.line
    late = outcome(ex.wrong_turn, wrong_turn_node="Pullover or Coat",
                   wrong_turn_probability=0.6, **common)
    assert late.outcome is Outcome.NOT_YET and "already left" in late.line
    off_path = outcome(ex.wrong_turn, wrong_turn_node="garment", wrong_turn_probability=0.4,
                       **common)
    assert off_path.outcome is Outcome.NOT_YET and "not a node on the path" in off_path.line
    bad_p = outcome(ex.wrong_turn, wrong_turn_node="clothing", wrong_turn_probability=0.99,
                    **common)
    assert bad_p.outcome is Outcome.NOT_YET and "softmax" in bad_p.line
    branch = outcome(ex.wrong_turn, wrong_turn_node=turn.decision,
                     wrong_turn_probability=turn.probability, **common)
    assert branch.outcome is Outcome.NOT_YET and "branch the tree took" in branch.line
    percent = outcome(ex.wrong_turn, wrong_turn_node="clothing",
                      wrong_turn_probability=100 * turn.probability, **common)
    assert percent.outcome is Outcome.NOT_YET and "percentage" in percent.line
    other = outcome(ex.wrong_turn, wrong_turn_node="clothing",
                    wrong_turn_probability=1 - turn.probability, **common)
    assert other.outcome is Outcome.NOT_YET and "other branch" in other.line
    as_tensor = outcome(ex.wrong_turn, wrong_turn_node="clothing",
                        wrong_turn_probability=torch.tensor(turn.probability), **common)
    assert as_tensor.outcome is Outcome.CORRECT, as_tensor.line
    typed = outcome(ex.wrong_turn, wrong_turn_node="clothing",
                    wrong_turn_probability=round(turn.probability, 4) + 5e-5, **common)
    assert typed.outcome is Outcome.NOT_YET and "typed" in typed.line, typed.line
    as_numpy = outcome(ex.wrong_turn, wrong_turn_node="clothing",
                       wrong_turn_probability=np.float32(turn.probability), **common)
    assert as_numpy.outcome is Outcome.CORRECT, as_numpy.line
    boolean = outcome(ex.wrong_turn, wrong_turn_node="clothing", wrong_turn_probability=True,
                      **common)
    assert boolean.outcome is Outcome.NOT_YET and "number" in boolean.line


def pairs_of(explainer, images):
    """What the printed solution computes: (tree's index, network's top-1) per photo."""
    pairs = []
    for image in images:
        explanation, logits = explainer.explain_with_logits(image)
        pairs.append((explanation.index, int(logits.argmax())))
    return pairs


def test_untrained_agreement_follows_the_lessons_objects(fashion):
    """The truth is recomputed from the namespace's tree and PHOTOS: here the Fashion tree (which
    agrees with its network on most pictures), so a right answer is not the ImageNet lesson's."""
    images = sorted((ROOT / "assets" / "fashion").glob("[0-9]-*.png"))
    pairs = pairs_of(fashion, images)
    agreeing, total = agreement_with_network(fashion, images)
    assert total == 10 and agreeing >= 8
    assert agreeing == sum(a == b for a, b in pairs)
    common = {"imagenet_nbdt": fashion, "PHOTOS": images}

    def check(**answer):
        return outcome(ex.untrained_agreement, **answer, **common)

    right = check(agreement_pairs=pairs, untrained_agreement=agreeing / total)
    assert right.outcome is Outcome.CORRECT, right.line
    # the 0-d tensors that counting with `== logits.argmax()` gives, and numpy numbers
    as_tensors = [(torch.tensor(a), torch.tensor(b)) for a, b in pairs]
    matches = sum(torch.tensor(a) == torch.tensor(b) for a, b in pairs)
    tensor_answer = check(agreement_pairs=as_tensors, untrained_agreement=matches / total)
    assert isinstance(matches / total, torch.Tensor)
    assert tensor_answer.outcome is Outcome.CORRECT, tensor_answer.line
    numpy_answer = check(agreement_pairs=[(np.int64(a), b) for a, b in pairs],
                         untrained_agreement=np.float64(agreeing / total))
    assert numpy_answer.outcome is Outcome.CORRECT, numpy_answer.line
    # the number alone, or a guessed one, is not enough
    guessed = outcome(ex.untrained_agreement, untrained_agreement=agreeing / total, **common)
    assert guessed.outcome is Outcome.NOT_YET and "agreement_pairs" in guessed.line
    made_up = check(agreement_pairs=[(0, 0)] * total, untrained_agreement=1.0)
    assert made_up.outcome is Outcome.NOT_YET and "PHOTOS[" in made_up.line
    count = check(agreement_pairs=pairs, untrained_agreement=agreeing)
    assert count.outcome is Outcome.NOT_YET and "count" in count.line
    percent = check(agreement_pairs=pairs, untrained_agreement=100 * agreeing / total)
    assert percent.outcome is Outcome.NOT_YET and "percentage" in percent.line
    wrong = check(agreement_pairs=pairs, untrained_agreement=0.123)
    assert wrong.outcome is Outcome.NOT_YET and f"{agreeing} of {total}" in wrong.line
    text = check(agreement_pairs=pairs, untrained_agreement="half")
    assert text.outcome is Outcome.NOT_YET and "number" in text.line
    # wrong pairs say which photo and which index
    disagreeing = next(i for i, (a, b) in enumerate(pairs) if a == b)
    off = list(pairs)
    off[disagreeing] = (pairs[disagreeing][0], (pairs[disagreeing][1] + 1) % 10)
    bad_top1 = check(agreement_pairs=off, untrained_agreement=agreeing / total)
    assert bad_top1.outcome is Outcome.NOT_YET and f"PHOTOS[{disagreeing}]" in bad_top1.line
    assert "top-1" in bad_top1.line
    short = check(agreement_pairs=pairs[:-1], untrained_agreement=agreeing / total)
    assert short.outcome is Outcome.NOT_YET and f"({total})" in short.line
    floats = check(agreement_pairs=[(a + 0.5, b) for a, b in pairs],
                   untrained_agreement=agreeing / total)
    assert floats.outcome is Outcome.NOT_YET and "whole number" in floats.line
    missing = outcome(ex.untrained_agreement, agreement_pairs=pairs,
                      untrained_agreement=agreeing / total, imagenet_nbdt=fashion)
    assert missing.outcome is Outcome.NOT_ATTEMPTED and "`PHOTOS`" in missing.line


def test_untrained_agreement_swapped_pairs_and_zero(fashion):
    """A right answer of 0 is accepted only with the pairs it follows from; (network, tree)
    pairs are named as swapped."""
    images = [MISREAD, "astronaut", "chelsea", "cat_over_coffee"]
    pairs = pairs_of(fashion, images)
    disagree = [image for image, (a, b) in zip(images, pairs, strict=True) if a != b]
    assert len(disagree) >= 2, "the Fashion tree disagrees with its network on a few pictures"
    common = {"imagenet_nbdt": fashion, "PHOTOS": disagree}
    only = pairs_of(fashion, disagree)
    zero = outcome(ex.untrained_agreement, agreement_pairs=only, untrained_agreement=0,
                   **common)
    assert zero.outcome is Outcome.CORRECT, zero.line
    swapped = outcome(ex.untrained_agreement, agreement_pairs=[(b, a) for a, b in only],
                      untrained_agreement=0, **common)
    assert swapped.outcome is Outcome.NOT_YET and "(network, tree)" in swapped.line


def test_every_exercise_has_hint_and_solution(capsys):
    assert ex.EXERCISES == (ex.node_score_by_hand, ex.wrong_turn, ex.untrained_agreement)
    for exercise in ex.EXERCISES:
        assert exercise.hint_text and "=" in exercise.solution_text
        exercise.hint()
        exercise.solution()
    out = capsys.readouterr().out
    assert out.count("Hint (") == len(ex.EXERCISES) == out.count("Solution (")


def test_exercises_are_listed_in_notebook_order():
    notebook = (ROOT / "notebooks" / "03_neural_backed_decision_trees.md").read_text()
    checks = [notebook.index(f"ex.{name}.check()") for name in
              ("node_score_by_hand", "wrong_turn", "untrained_agreement")]
    assert checks == sorted(checks)


def test_untrained_agreement_reads_no_endless_images(fashion):
    import signal

    def too_slow(*_):
        raise TimeoutError("the checker read an endless iterable")

    images = sorted((ROOT / "assets" / "fashion").glob("[0-9]-*.png"))
    pairs = pairs_of(fashion, images[:3])
    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(5)
    try:
        for hostile, reason in ((iter(int, 1), "list"), (images * 11, "more than"),
                                ([], "empty"), ([1, 2], "photos"), ("chelsea", "list")):
            result = outcome(ex.untrained_agreement, agreement_pairs=pairs,
                             untrained_agreement=0.5, imagenet_nbdt=fashion, PHOTOS=hostile)
            assert result.outcome is Outcome.NOT_YET and reason in result.line, result.line
        for hostile in (iter(int, 1), [(1, 2)] * 10**6):
            result = outcome(ex.untrained_agreement, agreement_pairs=hostile,
                             untrained_agreement=0.5, imagenet_nbdt=fashion, PHOTOS=images[:3])
            assert result.outcome is Outcome.NOT_YET, result.line
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    agreeing, total = agreement_with_network(fashion, images[:3])
    right = outcome(ex.untrained_agreement, agreement_pairs=tuple(pairs),
                    untrained_agreement=agreeing / total, imagenet_nbdt=fashion,
                    PHOTOS=tuple(images[:3]))
    assert right.outcome is Outcome.CORRECT, right.line


def test_answers_are_read_with_the_shared_readers(fashion):
    """Complex scores are refused (`.float()` would drop the imaginary part); an always-equal
    str subclass is compared by its characters; numpy numbers are numbers."""
    scores = torch.tensor([nbdt for _, _, nbdt in node_scores(fashion, SNEAKER)])
    common = {"fashion_nbdt": fashion, "exercise_image": SNEAKER}
    for value in (scores.to(torch.complex64) + 5j, scores.to(torch.complex64), scores > 0):
        result = outcome(ex.node_score_by_hand, root_scores_by_hand=value, **common)
        assert result.outcome is Outcome.NOT_YET and "real numbers" in result.line, result.line
    assert outcome(ex.node_score_by_hand, root_scores_by_hand=scores.double(),
                   **common).outcome is Outcome.CORRECT
    from xai_tutorial.decision_trees import node_activation_maps

    context = {"fashion_nbdt": fashion, "misread_image": MISREAD, "misread_truth": "Shirt"}
    turn = next(m for m in node_activation_maps(fashion, MISREAD)
                if "Shirt" not in fashion.leaves(m.children_wnids[m.chosen]))
    right = outcome(ex.wrong_turn, wrong_turn_node=turn.node,
                    wrong_turn_probability=np.array(turn.probability), **context)
    assert right.outcome is Outcome.CORRECT, right.line
    cheat = outcome(ex.wrong_turn, wrong_turn_node=AlwaysEqual("not a node"),
                    wrong_turn_probability=turn.probability, **context)
    assert cheat.outcome is Outcome.NOT_YET and "'not a node'" in cheat.line, cheat.line
    for value, reason in ((float("nan"), "finite"), (True, "should be a number"),
                          (torch.tensor(turn.probability + 1j), "should be a number")):
        result = outcome(ex.wrong_turn, wrong_turn_node=turn.node,
                         wrong_turn_probability=value, **context)
        assert result.outcome is Outcome.NOT_YET and reason in result.line, result.line


def test_context_objects_that_are_not_the_lessons_get_one_reason(fashion):
    scores = torch.tensor([nbdt for _, _, nbdt in node_scores(fashion, SNEAKER)])
    by_name = outcome(ex.node_score_by_hand, root_scores_by_hand=scores, fashion_nbdt=fashion,
                      exercise_image=str(SNEAKER))
    assert by_name.outcome is Outcome.CORRECT, by_name.line
    cases = [
        (ex.node_score_by_hand, {"root_scores_by_hand": scores, "fashion_nbdt": "fashion",
                                 "exercise_image": SNEAKER}, "`fashion_nbdt` is not an NBDT"),
        (ex.node_score_by_hand, {"root_scores_by_hand": scores, "fashion_nbdt": fashion,
                                 "exercise_image": None}, "`exercise_image` is not a photo"),
        (ex.wrong_turn, {"wrong_turn_node": "clothing", "wrong_turn_probability": 0.5,
                         "fashion_nbdt": fashion, "misread_image": MISREAD,
                         "misread_truth": "Nope"}, "`misread_truth` is not one of the tree's"),
        (ex.untrained_agreement, {"agreement_pairs": [(0, 0)], "untrained_agreement": 1.0,
                                  "imagenet_nbdt": None, "PHOTOS": ["chelsea"]},
         "`imagenet_nbdt` is not an NBDT"),
        (ex.untrained_agreement, {"agreement_pairs": [(0, 0)], "untrained_agreement": 1.0,
                                  "imagenet_nbdt": fashion, "PHOTOS": ["/nonexistent.png"]},
         "`PHOTOS[0]` is not a photo"),
    ]
    for exercise, values, reason in cases:
        result = outcome(exercise, **values)
        assert result.outcome is Outcome.NOT_YET and reason in result.line, result.line
        assert "raised" not in result.line, result.line


def test_sparse_and_meta_tensors_are_refused_with_a_reason(fashion):
    scores = torch.tensor([nbdt for _, _, nbdt in node_scores(fashion, SNEAKER)])
    for value in (scores.to_sparse(), torch.empty(2, device="meta")):
        result = outcome(ex.node_score_by_hand, root_scores_by_hand=value, fashion_nbdt=fashion,
                         exercise_image=SNEAKER)
        assert result.outcome is Outcome.NOT_YET and "dense" in result.line, result.line
