"""Selection scores, backup and the confidence reward against numbers worked by hand."""

from __future__ import annotations

import math

import pytest

from engine.core.events import (
    Backpropagated,
    ChildSpec,
    Expanded,
    Rollout,
    Selected,
    Simulated,
    TokenCounts,
)
from engine.core.rewards import combine, confidence_value, token_confidence
from engine.core.selection import pick, score_children, sibling_priors
from engine.core.tree import Tree, apply, check_invariants


def test_uct_by_hand() -> None:
    # Parent visited 10 times; child A: Q=0.5 over 4 visits; B: Q=0.2 over 1 visit; C unvisited.
    scores = score_children("uct", 1.4, 10, [(1, 0.5, 4, 0.5), (2, 0.2, 1, 0.3), (3, 0.0, 0, 0.2)])
    # A: 0.5 + 1.4*sqrt(ln 10 / 4) = 0.5 + 1.4*0.758714 = 1.562199
    assert scores[0].exploitation == 0.5
    assert scores[0].exploration == pytest.approx(1.062199, abs=1e-6)
    assert scores[0].total == pytest.approx(1.562199, abs=1e-6)
    # B: 0.2 + 1.4*sqrt(ln 10) = 0.2 + 1.4*1.517427 = 2.324398
    assert scores[1].total == pytest.approx(2.324398, abs=1e-6)
    assert scores[2].exploration == math.inf
    assert pick(scores).child == 3
    assert pick(scores[:2]).child == 2


def test_puct_by_hand() -> None:
    # PUCT: Q + c * P * sqrt(N_parent) / (1 + N); c=2, N_parent=9 -> sqrt = 3.
    scores = score_children("puct", 2.0, 9, [(1, 0.5, 4, 0.5), (2, 0.0, 0, 0.25)])
    assert scores[0].exploration == pytest.approx(2 * 0.5 * 3 / 5)  # 0.6
    assert scores[0].total == pytest.approx(1.1)
    assert scores[1].exploitation == 0.0
    assert scores[1].total == pytest.approx(2 * 0.25 * 3 / 1)  # 1.5
    assert pick(scores).child == 2


def test_sibling_priors_normalise_with_counts() -> None:
    probs = sibling_priors([math.log(0.2), math.log(0.1)], [1, 2])
    assert probs == pytest.approx([0.5, 0.5])


def test_confidence_on_a_hand_made_distribution() -> None:
    # Top-5 probabilities 0.4 0.2 0.1 0.1 0.05 (sum 0.85); chosen token has p=0.2.
    top = [math.log(p) for p in (0.4, 0.2, 0.1, 0.1, 0.05, 0.04)]
    assert token_confidence(math.log(0.2), top) == pytest.approx(0.2 / 0.85)
    # A chosen token outside the top 5 still counts against the top-5 mass.
    assert token_confidence(math.log(0.04), top) == pytest.approx(0.04 / 0.85)
    assert confidence_value([0.5, 1.0, 0.75]) == pytest.approx(0.75)


def test_combined_reward_prefers_the_verifier() -> None:
    assert combine("combined", [0.3], True) == (1.0, "verifier")
    assert combine("combined", [0.3], False) == (0.0, "verifier")
    assert combine("combined", [0.3, 0.5], None) == (pytest.approx(0.4), "confidence")
    assert combine("verifier", [0.9], None) == (0.0, "verifier")
    assert combine("confidence", [0.9], True) == (pytest.approx(0.9), "confidence")


def _child(i: int, text: str) -> ChildSpec:
    return ChildSpec(i, "step", text, (1, 2), -0.5, 1, (0.9, 0.8), False, None, None)


def test_backprop_adds_value_and_visits_along_the_path() -> None:
    tree = Tree.new("1 2 3 4")
    tokens = TokenCounts(10, 10, 4)
    rollout = Rollout("x", ("x",), (0.5,), 0.5, None, None, "confidence")
    solved = Rollout("y", ("y",), (0.9,), 1.0, "1*2*3*4=24", True, "verifier")
    for event in [
        Selected(0, (0,), ()), Expanded(0, 0, (_child(1, "a"), _child(2, "b")), "r"),
        Simulated(0, 1, rollout), Backpropagated(0, (0, 1), 0.5, tokens),
        Selected(1, (0, 2), ()), Expanded(1, 2, (), "first visit"),
        Simulated(1, 2, solved), Backpropagated(1, (0, 2), 1.0, tokens),
    ]:
        apply(tree, event)
        assert check_invariants(tree) == []
    root, a, b = tree.nodes[0], tree.nodes[1], tree.nodes[2]
    assert (root.visits, root.value_sum, root.q) == (2, 1.5, 0.75)
    assert (a.visits, a.q, b.visits, b.q) == (1, 0.5, 1, 1.0)


def test_apply_rejects_a_backup_that_does_not_match_the_iteration() -> None:
    tree = Tree.new("1 2 3 4")
    rollout = Rollout("x", ("x",), (0.5,), 0.5, None, None, "confidence")
    for event in [Selected(0, (0,), ()), Expanded(0, 0, (_child(1, "a"),), "r"),
                  Simulated(0, 1, rollout)]:
        apply(tree, event)
    with pytest.raises(ValueError, match="does not match"):
        apply(tree, Backpropagated(0, (0, 1), 0.9, TokenCounts()))
    with pytest.raises(ValueError, match="not a child"):
        apply(tree, Backpropagated(0, (0, -1), 0.5, TokenCounts()))


def test_apply_rejects_out_of_order_events() -> None:
    tree = Tree.new("1 2 3 4")
    with pytest.raises(ValueError, match="expected a select"):
        apply(tree, Expanded(0, 0, (), "r"))
    apply(tree, Selected(0, (0,), ()))
    with pytest.raises(ValueError, match="new node id"):
        apply(tree, Expanded(0, 0, (_child(5, "a"),), "r"))
