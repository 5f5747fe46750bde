"""The counterfactual analyses (app.bench.counterfactual) change what they say and nothing
else, on the real demo model; the engine is restored after each test."""

from __future__ import annotations

from typing import Any

import pytest

from app.bench import counterfactual
from engine.core.config import make_config
from engine.strategies import search as search_module
from engine.strategies import values as values_module
from engine.strategies.search import Search
from engine.tasks import game24

PUZZLE = "4 5 6 10"


def valued_states(search: Search) -> list[tuple[float | None, bool]]:
    """(value, solvable) of every open step node (not the root, not dead, not an answer)."""
    out = []
    for node in search.tree.nodes[1:]:
        if node.dead is None and not node.terminal:
            left = search.task.numbers_left(search.generated_text(node.id))
            assert left is not None
            out.append((node.value, game24.is_solvable(left)))
    return out


def test_oracle_values_are_the_solvers_verdict_at_no_cost(
        demo_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(seed=3, children=3)
    model_search = Search(demo_model, config, PUZZLE)
    model_search.run(6)
    model_values = valued_states(model_search)
    assert any(v not in (0.0, 1.0) for v, _ in model_values)  # the model's own P(sure)
    assert model_search.session.counter.judged > 0

    monkeypatch.setattr(values_module.Evaluator, "values", values_module.Evaluator.values)
    counterfactual.oracle_values()
    oracle_search = Search(demo_model, config, PUZZLE)
    oracle_search.run(6)
    states = valued_states(oracle_search)
    assert len(states) >= 3
    assert all(value == float(solvable) for value, solvable in states)
    assert oracle_search.session.counter.judged == 0


def test_free_duplicates_refunds_exactly_the_discarded_tokens(
        demo_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Progressive widening at a low temperature: a node sampled again draws a step it has.
    config = make_config(seed=1, temperature=0.5)
    paid = Search(demo_model, config, PUZZLE)
    paid.run(12)
    discarded = paid.session.counter.discarded
    assert discarded > 0

    monkeypatch.setattr(search_module.Search, "new_children", search_module.Search.new_children)
    counterfactual.free_duplicates()
    free = Search(demo_model, config, PUZZLE)
    free.run(12)
    assert [type(e) for e in free.events] == [type(e) for e in paid.events]
    assert free.session.counter.discarded == discarded
    assert free.session.counter.generated == paid.session.counter.generated - discarded


def test_a_counterfactual_must_be_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert counterfactual.main(["--seeds", "0", "--out", "x.json"]) == 2
    assert "--oracle-values or --free-duplicates" in capsys.readouterr().err
