"""Where the tokens and time went (issue 15 item 5): every event's wall time (``ms``) and
``engine.core.costs``: per-event, per-node and per-phase costs from the events."""

from __future__ import annotations

import json
from dataclasses import replace

from engine.backends.hf import HFModel
from engine.core.config import make_config
from engine.core.costs import COST_PHASES, event_costs, node_cost, phase_costs
from engine.core.events import Selected, Steered, event_from_dict, event_to_dict
from engine.strategies.search import Search


def test_every_live_event_has_a_positive_ms_that_survives_a_round_trip(
        demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(seed=2), "4 5 6 10")
    search.run(3)
    search.steer(1, "pin", 0.5)
    search.add_reflection(1)
    assert search.events[-2].phase == "steer" and isinstance(search.events[-2], Steered)
    for event in search.events:
        assert event.ms is not None and event.ms > 0, event.phase
        raw = json.loads(json.dumps(event_to_dict(event)))
        assert raw["ms"] == event.ms
        back = event_from_dict(raw)
        assert back == event and back.ms == event.ms


def test_ms_is_ignored_by_equality_and_not_written_when_unset() -> None:
    event = Selected(0, (0,), ())
    assert replace(event, ms=12.5) == event
    assert "ms" not in event_to_dict(event)
    assert event_from_dict(event_to_dict(event)).ms is None


def test_a_parallel_round_splits_its_batch_time_evenly(demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(seed=1, parallel=3), "4 5 6 10")
    search.run(7)
    events, rounds, i = search.events, 0, 0
    while i < len(events):
        first = events[i]
        assert isinstance(first, Selected)
        b = first.round_size
        for phase in range(4):  # a round's backups are computed one at a time
            part = events[i + phase * b:i + (phase + 1) * b]
            assert all(e.ms is not None and e.ms > 0 for e in part)
            assert len({e.ms for e in part}) == (1 if phase < 3 else b)
        rounds += b > 1
        i += 4 * b
    assert rounds > 0


def test_phase_costs_sum_to_the_run_totals(demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(seed=3), "4 5 6 10")
    search.run(6)
    search.add_reflection(2)
    search.run(2)
    events = search.events
    tokens = search.tree.tokens
    per_event = event_costs(events)
    assert sum(c.generated for c in per_event) == tokens.generated > 0
    assert sum(c.forwarded for c in per_event) == tokens.forwarded > 0
    assert all(c.generated == c.forwarded == 0 for c, e in zip(per_event, events, strict=True)
               if e.phase == "select")
    phases = phase_costs(events)
    assert sum(p.generated for p in phases) == tokens.generated
    assert sum(p.forwarded for p in phases) == tokens.forwarded
    assert abs(sum(p.ms for p in phases) - sum(e.ms or 0.0 for e in events)) < 1e-6
    assert sum(p.events for p in phases) == len(events)
    assert {p.phase for p in phases} == set(COST_PHASES)  # "by hand": the reflection
    assert [p.iteration for p in phases] == sorted(p.iteration for p in phases)
    # Each node's generated tokens are what the tree counts for it (its own, its rollouts).
    for node in search.tree.nodes:
        cost = node_cost(events, node.id)
        assert cost.generated == node.tokens_spent, node.id
        if node.parent is not None:
            assert cost.expansion_ms is not None and cost.expansion_ms > 0
        if node.rollouts:
            assert cost.simulations >= len(node.rollouts) and cost.simulation_ms is not None
