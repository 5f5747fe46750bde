"""Parallel MCTS with virtual loss (``SearchConfig.parallel``): rounds of B iterations whose
phases are grouped, the model called once per phase, replay equal to live, and B = 1 equal
to the plain search of the version before rounds existed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.backends.hf import HFModel
from engine.backends.protocol import SampleRequest, StopRule
from engine.core.config import make_config
from engine.core.events import (
    Backpropagated,
    ChildSpec,
    Event,
    Expanded,
    Selected,
    event_from_dict,
    event_to_dict,
)
from engine.core.phases import next_selection, select_round
from engine.core.tree import Tree, apply, check_invariants, fold
from engine.strategies.runner import budget_round_cap
from engine.strategies.search import Search

GOLDEN = Path(__file__).parent / "data" / "plain_mcts_events_fe9b1b2.json"


def _summary(events: list[Event]) -> list[list[object]]:
    """What tests/engine/data/plain_mcts_events_fe9b1b2.json keeps of each event."""
    rows: list[list[object]] = []
    for e in events:
        if isinstance(e, Selected):
            rows.append(["select", e.iteration, list(e.path)])
        elif isinstance(e, Expanded):
            rows.append(["expand", e.iteration, e.node, [c.text for c in e.children]])
        elif isinstance(e, Backpropagated):
            rows.append(["backprop", e.iteration, list(e.path), e.tokens.generated])
        else:
            rows.append(["simulate", e.iteration, e.node, e.rollout.text,
                         round(e.rollout.value, 6)])
    return rows


def _no_value(row: list[object]) -> list[object]:
    """A summary row without its float value (a simulation's fifth item)."""
    return row[:4] if row[0] == "simulate" else row


def test_parallel_one_is_the_plain_search_event_for_event(demo_model: HFModel) -> None:
    """The event streams recorded with commit fe9b1b2, before rounds existed."""
    golden = json.loads(GOLDEN.read_text())
    assert len(golden) == 4
    for key, rows in golden.items():
        problem, settings = json.loads(key)
        search = Search(demo_model, make_config(seed=1, parallel=1, **settings), problem)
        search.run(15)
        # Values within rounding: the number of torch threads (other tests set it) moves
        # the last digits of a float; every choice, text and count must be the same.
        ours = _summary(search.events)
        assert [_no_value(r) for r in ours] == [_no_value(r) for r in rows], key
        assert [r[4] for r in ours if r[0] == "simulate"] == \
            pytest.approx([r[4] for r in rows if r[0] == "simulate"], abs=1e-5)
        assert all(isinstance(e, Selected) and e.round_size == 1
                   for e in search.events if e.phase == "select")


def _round_order_ok(events: list[Event]) -> None:
    """Each round: b selections, then b expansions, b simulations, b backups, each phase
    in iteration order, the iterations consecutive."""
    i = 0
    while i < len(events):
        first = events[i]
        assert isinstance(first, Selected)
        b = first.round_size
        block = events[i:i + 4 * b]
        for p, phase in enumerate(("select", "expand", "simulate", "backprop")):
            part = block[p * b:(p + 1) * b]
            assert [e.phase for e in part] == [phase] * b
            assert [e.iteration for e in part] == list(range(first.iteration,
                                                             first.iteration + b))
        # Selections of a round that end at one node expand it with distinct children (or
        # are all simulated from it as it is).
        leaves = [e.path[-1] for e in block[:b] if isinstance(e, Selected)]
        for leaf in set(leaves):
            added = [c.text for e in block[b:2 * b]
                     if isinstance(e, Expanded) and e.node == leaf for c in e.children]
            assert len(added) == len(set(added)), added
        i += 4 * b


def test_rounds_are_grouped_and_replay_equals_live_after_every_event(
        demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(seed=0, parallel=4), "4 5 6 10")
    stepped = 0
    while search.tree.iterations_done < 24:
        search.step_phase(24 - search.tree.iterations_done)
        stepped += 1
        assert check_invariants(search.tree) == []
        replayed = fold(search.tree.problem,
                        [event_from_dict(event_to_dict(e)) for e in search.events])
        assert replayed == search.tree
    assert stepped == len(search.events) == 4 * 24
    _round_order_ok(search.events)
    sizes = [e.round_size for e in search.events if isinstance(e, Selected)]
    assert max(sizes) == 4, sizes
    # The first round is full: the root (no children yet) is expanded by all four, each
    # with its own sample, and the children they add are distinct.
    first = search.events[4:8]
    assert sizes[0] == 4 and all(isinstance(e, Expanded) and e.node == 0 for e in first)
    texts = [c.text for e in first if isinstance(e, Expanded) for c in e.children]
    assert len(texts) == len(set(texts)) >= 2


def _tree_with_three_children() -> Tree:
    """The root with three step children, each visited once (values 0.9, 0.5, 0.1)."""
    tree = Tree.new("4 5 6 10")
    children = tuple(ChildSpec(i + 1, "step", f"step {i}", (i,), -1.0, 1, (0.9,), False,
                               None, None) for i in range(3))
    events: list[Event] = [Selected(0, (0,), ()),
                           Expanded(0, 0, children, "sampled")]
    for event in events:
        apply(tree, event)
    tree.in_flight.clear()
    tree.next_phase = "select"
    for node, value in zip(tree.nodes[1:], (0.9, 0.5, 0.1), strict=True):
        node.visits, node.value_sum = 1, value
    tree.root.visits, tree.root.value_sum = 3, 1.5
    tree.iterations_done = 3
    return tree


def test_virtual_loss_spreads_a_round_and_the_breakdown_shows_it() -> None:
    tree = _tree_with_three_children()
    config = make_config(exploration=0.1, widening=0.0, parallel=3)
    plain = next_selection(tree, config)
    picks = select_round(tree, config, 3)
    assert picks[0].levels == plain.levels  # the first sees no virtual loss
    # Node 1 (Q 0.9) stays ahead of node 3 (0.1) after one virtual loss (0.45 against
    # 0.1), and it has room for more children: the round expands it twice.
    assert [p.path for p in picks] == [(0, 1), (0, 2), (0, 1)]
    assert [p.iteration for p in picks] == [3, 4, 5]
    # With room for one child only, node 1 is closed to the rest of the round.
    one_child = select_round(tree, config.model_copy(update={"max_children": 1}), 3)
    assert [p.path for p in one_child] == [(0, 1), (0, 2), (0, 3)]
    assert all(p.round_size == 3 for p in picks)
    # The second selection sees one virtual visit of value 0 on node 1 (and the root).
    level = picks[1].levels[0]
    assert level.parent_visits == 4
    first = next(s for s in level.scores if s.child == 1)
    assert first.virtual_loss == 1 and first.visits == 2
    assert first.exploitation == pytest.approx(0.9 / 2)
    untouched = next(s for s in level.scores if s.child == 2)
    assert untouched.virtual_loss == 0 and untouched.exploitation == pytest.approx(0.5)
    # Without virtual loss every selection would take node 1 again (c is small).
    assert plain.path == (0, 1)
    # The tree takes the round's selections in order, and refuses a repeated leaf.
    for pick in picks[:2]:
        apply(tree, pick)
    with pytest.raises(ValueError, match="a round of 2 in a round of 3"):
        apply(tree, Selected(5, (0, 1), (), round_size=2))
    with pytest.raises(ValueError, match="expected a select event"):
        apply(tree, Expanded(3, 1, (), "none"))
    apply(tree, picks[2])
    assert tree.next_phase == "expand" and tree.virtual_visits() == {0: 3, 1: 2, 2: 1}


def test_a_batch_of_paths_samples_what_each_path_samples_alone(demo_model: HFModel) -> None:
    """Greedy samples of two paths of different lengths, in one padded batch and alone."""
    session = demo_model.new_session()
    prompt = demo_model.encode_prompt("Problem: 4 5 6 10\n")
    step = demo_model.encode_continuation("Step: 5*4=20 (left: 6 10 20)\n")
    paths = [[(0, prompt)], [(0, prompt), (1, step)]]
    rule = StopRule("line", 40)
    alone = [session.sample(p, 2, rule, 0.0, torch.Generator().manual_seed(0))
             for p in paths]
    batch_session = demo_model.new_session()
    batched = batch_session.sample_many(
        [SampleRequest(p, 2, rule, torch.Generator().manual_seed(0)) for p in paths], 0.0)
    for one, many in zip(alone, batched, strict=True):
        assert [s.token_ids for s in one] == [s.token_ids for s in many]
        assert [s.count for s in one] == [s.count for s in many]
        for a, b in zip(one, many, strict=True):
            assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
    # Sampled (temperature 1) with each path's own stream: the same draws.
    sampled_alone = [session.sample(p, 3, rule, 1.0, torch.Generator().manual_seed(7))
                     for p in paths]
    sampled_many = batch_session.sample_many(
        [SampleRequest(p, 3, rule, torch.Generator().manual_seed(7)) for p in paths], 1.0)
    assert [[s.token_ids for s in x] for x in sampled_alone] == \
        [[s.token_ids for s in x] for x in sampled_many]


def test_a_run_interrupted_inside_a_round_resumes(demo_model: HFModel) -> None:
    config = make_config(seed=2, parallel=4)
    full = Search(demo_model, config, "1 2 3 4")
    full.run(16)
    cut = next(i for i, e in enumerate(full.events)
               if isinstance(e, Expanded) and e.iteration > 0 and
               full.events[i - 1].phase == "expand")  # inside a round's expansions
    resumed = Search(demo_model, config, "1 2 3 4", events=full.events[:cut])
    assert resumed.tree.next_phase == "expand" and resumed.tree.cursor > 0
    resumed.run(16 - resumed.tree.iterations_done)
    assert resumed.tree.iterations_done == 16
    assert check_invariants(resumed.tree) == []
    _round_order_ok(resumed.events)
    assert [e.phase for e in resumed.events] == [e.phase for e in full.events]


def test_a_run_never_goes_past_its_iterations(demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(seed=0, parallel=8), "4 5 6 10")
    search.run(10)
    assert search.tree.iterations_done == 10 and search.between_rounds
    events = search.step_round_phase()
    assert {e.phase for e in events} == {"select"} and search.tree.next_phase == "expand"
    assert len(events) == events[0].round_size  # type: ignore[union-attr]


def test_a_round_cap_cuts_the_rounds_a_run_starts(demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(seed=0, parallel=8), "4 5 6 10")
    caps = iter([3, 1, 2])
    search.run(6, round_cap=lambda: next(caps))
    rounds: list[int] = []  # a round's first selection is the iteration after those before
    for e in search.events:
        if isinstance(e, Selected) and e.iteration == sum(rounds):
            rounds.append(e.round_size)
    assert rounds == [3, 1, 2] and search.tree.iterations_done == 6


def test_a_budget_caps_a_round_at_the_search_pace() -> None:
    assert budget_round_cap(0, 800, 0) >= 64            # no pace yet: a full round
    assert budget_round_cap(600, 800, 12) == 4          # 50 tokens an iteration, 200 left
    assert budget_round_cap(610, 800, 12) == 4          # 190 left: 3.8 -> 4
    assert budget_round_cap(790, 800, 12) == 1          # at least one
    assert budget_round_cap(900, 800, 12) == 1


def test_best_of_n_rolls_out_a_whole_round_from_the_root(demo_model: HFModel) -> None:
    """The root at the depth limit is only simulated, so every selection of a round may
    take it: B independent rollouts, each from its own iteration's stream, in one batch."""
    search = Search(demo_model, make_config(seed=0, max_depth=0, parallel=4), "4 5 6 10")
    search.run(8)
    selections = [e for e in search.events if isinstance(e, Selected)]
    assert [s.round_size for s in selections] == [4] * 8
    assert all(s.path == (0,) for s in selections)
    texts = [e.rollout.text for e in search.events if e.phase == "simulate"]  # type: ignore[union-attr]
    assert len(texts) == 8 and len(set(texts)) > 1
    _round_order_ok(search.events)
    assert check_invariants(search.tree) == [] and search.tree.root.visits == 8


def test_a_round_interrupted_among_its_selections_resumes_with_the_same_ones(
        demo_model: HFModel) -> None:
    config = make_config(seed=4, parallel=4)
    full = Search(demo_model, config, "2 3 5 12")
    full.run(12)
    # The last round of 4 selections whose round is full: stop after its second one.
    cut = max(i for i, e in enumerate(full.events) if isinstance(e, Selected)
              and e.round_size == 4 and full.events[i - 1].phase != "select")
    resumed = Search(demo_model, config, "2 3 5 12", events=full.events[:cut + 2])
    assert resumed.tree.next_phase == "select" and len(resumed.tree.in_flight) == 2
    rest = [resumed.step_phase(), resumed.step_phase()]
    assert rest == full.events[cut + 2:cut + 4]  # the round's own third and fourth
    assert resumed.tree.next_phase == "expand"
    # Each carries the virtual loss of the selections before it, stored or not.
    assert all(isinstance(e, Selected) and e.round_size == 4 for e in rest)
