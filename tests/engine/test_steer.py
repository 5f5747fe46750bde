"""Steering by hand on the real demo model: a step written by the user, pin and unpin,
prune and restore; selection follows the breakdown it shows, and the events fold back into
the live tree."""

from __future__ import annotations

import math

import pytest

from engine.backends.hf import HFModel
from engine.core.config import make_config
from engine.core.events import Selected, Steered, event_from_dict, event_to_dict
from engine.core.phases import closed_for, next_selection
from engine.core.selection import children_scores
from engine.core.steering import PRUNED, pruned_subtrees
from engine.core.tree import check_invariants, fold
from engine.errors import InputError
from engine.strategies.search import Search

PROBLEM = "4 5 6 10"
LEGAL_STEP = "Step: 10-4=6 (left: 5 6 6)"
ILLEGAL_STEP = "Step: 4*5=21 (left: 6 10 21)"
CORRECT_ANSWER = "Answer: 5*4+10-6=24"


def best_open(level_scores):  # type: ignore[no-untyped-def]
    """The child with the best total among those selection may take (ties: the first)."""
    best = None
    for s in level_scores:
        if s.excluded is None and (best is None or s.total > best.total):
            best = s
    return best


def test_a_users_step_is_scored_by_the_model_and_moves_selection_as_shown(
        demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(seed=3, widening=0), PROBLEM)
    search.run(3)
    before = len(search.tree.nodes)
    event = search.add_user_step(0, LEGAL_STEP)
    assert event.origin == "user" and event.node == 0 and len(event.children) == 1
    node = search.tree.nodes[before]
    assert (node.origin, node.kind, node.text, node.parent) == ("user", "step", LEGAL_STEP, 0)
    assert node.dead is None and not node.terminal and node.ended is None
    # Scored by the model as the reflection line is: the forced tokens' log-probability and
    # each token's confidence, and the evaluator's (self-eval) state value.
    assert node.prior < 0 and len(node.confidences) == len(node.token_ids) > 0
    assert node.value is not None and 0.0 <= node.value <= 1.0
    assert demo_model.decode(node.token_ids).strip() == LEGAL_STEP

    predicted = next_selection(search.tree, search.config)
    level = predicted.levels[0]
    mine = next(s for s in level.scores if s.child == node.id)
    assert mine.visits == 0 and mine.exploitation == pytest.approx(node.value)
    assert mine.total == pytest.approx(mine.exploitation + mine.exploration)
    assert level.chosen == best_open(level.scores).child  # type: ignore[union-attr]
    # The select phase then does exactly what the breakdown predicted.
    selected = search.step_phase()
    assert isinstance(selected, Selected)
    assert selected.path == predicted.path and selected.levels == predicted.levels

    # A step the task's rules reject is dead, with the reason, and excluded from selection.
    search.step_iteration()
    dead = search.add_user_step(0, ILLEGAL_STEP).children[0]
    assert dead.dead is not None and dead.value == 0.0
    scores = {s.child: s for s in next_selection(search.tree, search.config).levels[0].scores}
    assert scores[dead.id].excluded == f"dead: {dead.dead}"
    # An answer is judged: a correct one is terminal and verified.
    answer = search.add_user_step(0, CORRECT_ANSWER).children[0]
    assert (answer.kind, answer.terminal, answer.verdict) == ("answer", True, True)
    assert answer.value == 1.0
    assert check_invariants(search.tree) == []


def test_bad_steps_and_steers_are_one_line_input_errors(demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(seed=3, widening=0), PROBLEM)
    search.run(2)
    sampled = search.tree.nodes[search.tree.root.children[0]]
    cases = [
        (lambda: search.add_user_step(999, LEGAL_STEP), "no node 999"),
        (lambda: search.add_user_step(0, "   "), "empty"),
        (lambda: search.add_user_step(0, "Step: 1+1=2\nStep: 2+2=4"), "one line"),
        (lambda: search.add_user_step(0, sampled.text), "already has a child"),
        (lambda: search.add_user_step(0, "Step: " + "1+1=2 " * 3000), "does not fit"),
        (lambda: search.steer(0, "pin", 1.5), "from 0 to 1"),
        (lambda: search.steer(0, "pin", math.nan), "from 0 to 1"),
        (lambda: search.steer(0, "prune"), "root cannot be pruned"),
        (lambda: search.steer(sampled.id, "restore"), "not pruned"),
        (lambda: search.steer(sampled.id, "unpin"), "not pinned"),
        (lambda: search.steer(77, "pin", 0.5), "no node 77"),
    ]
    events = len(search.events)
    for call, message in cases:
        with pytest.raises(InputError, match=message) as err:
            call()
        assert "\n" not in str(err.value)
    search.add_user_step(0, LEGAL_STEP)
    with pytest.raises(InputError, match="already has a child"):
        search.add_user_step(0, "  " + LEGAL_STEP + " ")
    assert len(search.events) == events + 1  # only the good step was applied
    # A node whose text the model ended (EOS) takes nothing after it.
    mini = Search(demo_model, make_config(seed=3, granularity="mini-step"), PROBLEM)
    mini.run(15)
    ended = next(n for n in mini.tree.nodes if n.ended == "eos")
    with pytest.raises(InputError, match=r"ended the text \(eos\)"):
        mini.add_user_step(ended.id, " and more")
    mctsr = Search(demo_model, make_config(seed=1, algorithm="mctsr"), PROBLEM)
    with pytest.raises(InputError, match="MCTSr"):
        mctsr.steer(0, "pin", 0.5)


def test_prune_closes_the_subtree_and_restore_reopens_it(demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(seed=3, widening=0), PROBLEM)
    search.run(6)
    root_children = [search.tree.nodes[c] for c in search.tree.root.children]
    target = max((n for n in root_children if n.dead is None), key=lambda n: n.visits)
    assert target.visits > 0
    search.add_user_step(0, LEGAL_STEP)  # an open branch beside the one pruned
    search.steer(target.id, "prune")
    inside = pruned_subtrees(search.tree)
    assert target.id in inside
    assert closed_for(search.tree, search.config)[target.id] == PRUNED
    level = next_selection(search.tree, search.config).levels[0]
    listed = next(s for s in level.scores if s.child == target.id)
    assert listed.excluded == PRUNED and level.chosen != target.id
    visits = {n: search.tree.nodes[n].visits for n in inside}
    for event in search.run(6):
        if isinstance(event, Selected):
            assert not set(event.path) & inside, event.path
    assert {n: search.tree.nodes[n].visits for n in inside} == visits

    search.steer(target.id, "restore")
    assert target.id not in closed_for(search.tree, search.config)
    level = next_selection(search.tree, search.config).levels[0]
    assert next(s for s in level.scores if s.child == target.id).excluded is None
    assert check_invariants(search.tree) == []


def test_a_pinned_value_is_the_exploitation_term_and_backprop_still_counts(
        demo_model: HFModel) -> None:
    config = make_config(seed=5, widening=0)
    search = Search(demo_model, config, PROBLEM)
    search.run(4)
    child = next(search.tree.nodes[c] for c in search.tree.root.children
                 if search.tree.nodes[c].dead is None)
    search.steer(child.id, "pin", 0.97)
    scores = {s.child: s for s in children_scores(search.tree, 0, config.selection,
                                                  config.exploration)}
    assert scores[child.id].exploitation == 0.97 and scores[child.id].pinned == 0.97
    assert all(s.pinned is None for c, s in scores.items() if c != child.id)
    predicted = next_selection(search.tree, config)
    shown = next(s for s in predicted.levels[0].scores if s.child == child.id)
    assert shown.exploitation == 0.97 and shown.pinned == 0.97
    assert predicted.levels[0].chosen == best_open(predicted.levels[0].scores).child  # type: ignore[union-attr]
    # Backpropagation is unchanged: N and W of the pinned node count as before.
    n_before, w_before = child.visits, child.value_sum
    events = search.step_iteration()
    if child.id in events[-1].path:  # type: ignore[union-attr]
        assert child.visits == n_before + 1
        assert child.value_sum == pytest.approx(w_before + events[-1].value)  # type: ignore[union-attr]
    assert child.q == (child.value_sum / child.visits if child.visits else 0.0)
    # The Selected event stores the pinned breakdown, and it survives JSON.
    stored = next(e for e in search.events if isinstance(e, Selected) and e.levels
                  and any(s.pinned for s in e.levels[0].scores))
    assert event_from_dict(event_to_dict(stored)) == stored
    search.steer(child.id, "unpin")
    again = {s.child: s for s in children_scores(search.tree, 0, config.selection,
                                                 config.exploration)}
    assert again[child.id].pinned is None
    assert again[child.id].exploitation == pytest.approx(child.q if child.visits
                                                         else (child.value or 0.0))


def test_every_action_folds_into_the_live_tree_after_every_event(
        demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(seed=7, widening=0), PROBLEM)

    def check() -> None:
        through_json = [event_from_dict(event_to_dict(e)) for e in search.events]
        assert through_json == search.events
        assert fold(search.tree.problem, through_json) == search.tree
        assert check_invariants(search.tree) == []

    search.run(3)
    check()
    step = search.add_user_step(0, LEGAL_STEP).children[0].id
    check()
    search.steer(step, "pin", 0.2)
    check()
    search.step_phase()  # select: steering in the middle of an iteration is allowed too
    first = search.tree.root.children[0]
    search.steer(first, "prune")
    check()
    search.step_iteration()
    check()
    search.steer(step, "unpin")
    search.steer(first, "restore")
    check()
    search.add_user_step(step, "Step: 6*5=30 (left: 6 30)")
    check()
    search.run(2)
    check()
    kinds = [e.action for e in search.events if isinstance(e, Steered)]
    assert kinds == ["pin", "prune", "unpin", "restore"]
    assert sum(1 for n in search.tree.nodes if n.origin == "user") == 2
