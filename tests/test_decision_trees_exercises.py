"""Lesson 03's exercises: right answers pass, wrong ones say why, missing ones are not attempted."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

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
    assert outcome(ex.wrong_turn, wrong_turn_node="clothing", wrong_turn_probability=True,
                   **common).outcome is Outcome.NOT_YET


def test_untrained_agreement_checker_is_generic(fashion):
    images = sorted((ROOT / "assets" / "fashion").glob("[0-9]-*.png"))
    agreeing, total = agreement_with_network(fashion, images)
    assert total == 10 and agreeing >= 8
    common = {"imagenet_nbdt": fashion, "agreement_images": images}
    assert outcome(ex.untrained_agreement, untrained_agreement=agreeing / total,
                   **common).outcome is Outcome.CORRECT
    count = outcome(ex.untrained_agreement, untrained_agreement=agreeing, **common)
    assert count.outcome is Outcome.NOT_YET and "count" in count.line
    percent = outcome(ex.untrained_agreement, untrained_agreement=100 * agreeing / total,
                      **common)
    assert percent.outcome is Outcome.NOT_YET and "percentage" in percent.line
    wrong = outcome(ex.untrained_agreement, untrained_agreement=0.123, **common)
    assert wrong.outcome is Outcome.NOT_YET
    text = outcome(ex.untrained_agreement, untrained_agreement="half", **common)
    assert text.outcome is Outcome.NOT_YET and "number" in text.line


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
    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(5)
    try:
        for hostile, reason in ((iter(int, 1), "list"), (images * 11, "more than"),
                                ([], "empty"), ([1, 2], "images"), ("chelsea", "list")):
            result = outcome(ex.untrained_agreement, untrained_agreement=0.5,
                             imagenet_nbdt=fashion, agreement_images=hostile)
            assert result.outcome is Outcome.NOT_YET and reason in result.line, result.line
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    agreeing, total = agreement_with_network(fashion, images[:3])
    right = outcome(ex.untrained_agreement, untrained_agreement=agreeing / total,
                    imagenet_nbdt=fashion, agreement_images=tuple(images[:3]))
    assert right.outcome is Outcome.CORRECT, right.line
