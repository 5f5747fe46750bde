"""Issue 12, item 3: every number on the Learn page is computed, and they add up."""

from __future__ import annotations

import math

from streamlit.testing.v1 import AppTest

from app.web.learn_examples import PROBLEM, confidence_examples, example_events
from engine.core.events import Simulated
from engine.core.rewards import confidence_value, token_confidence
from engine.tasks import make_task


def test_the_confidence_examples_are_probabilities_that_add_up() -> None:
    for example in confidence_examples():
        assert len(example.top) == 5
        probabilities = [math.exp(lp) for lp in example.top]
        assert all(0.0 <= p <= 1.0 for p in probabilities)
        assert sum(probabilities) <= 1.0
        assert example.chosen in example.top
        assert example.confidence == token_confidence(example.chosen, example.top)


def test_the_confidence_table_shows_what_the_engine_computes(app: AppTest) -> None:
    app.switch_page("page_scripts/learn.py").run()
    table = app.dataframe[1].value
    assert table["p(chosen)"].between(0, 1).all()
    assert table["Σ p(top 5)"].between(0, 1).all()
    assert (table["p(chosen)"] <= table["Σ p(top 5)"]).all()
    for row, example in zip(table.to_dict("records"), confidence_examples(), strict=True):
        assert row["p(chosen)"] == round(math.exp(example.chosen), 3)
        assert row["Σ p(top 5)"] == round(sum(math.exp(x) for x in example.top), 3)
        assert row["confidence c"] == round(token_confidence(example.chosen, example.top), 3)


def test_the_worked_examples_rollouts_are_scored_by_the_engine() -> None:
    task = make_task("game24", PROBLEM)
    for event in example_events():
        if isinstance(event, Simulated) and event.rollout.tokens:
            r = event.rollout
            judged = task.judge(r.text, True)
            assert (r.answer, r.verdict) == (judged.answer, judged.verdict), r.text
            assert r.value == confidence_value(r.confidences)
