"""Inside a token (issue 15 item 3): each sampled token's top-5 alternatives with their
probabilities, from the sampler (``Sample.top``) to the events (``ChildSpec.top``,
``Rollout.top``), the tree, the dict form and a stored run's export and import."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from app.runs.live import LiveRun
from engine.backends.hf import HFModel
from engine.backends.protocol import StopRule
from engine.core.config import make_config
from engine.core.event_parts import top_from_dict, top_to_dict
from engine.core.events import Expanded, Simulated, TokenTop, event_from_dict, event_to_dict
from engine.core.tree import fold
from engine.strategies.search import Search
from storage import open_store


def _check_top(top: TokenTop | tuple[tuple[int, float], ...]) -> None:
    probs = [p for _, p in top]
    assert 1 <= len(probs) <= 5
    assert probs == sorted(probs, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert sum(probs) <= 1.0 + 1e-6


def test_a_sampled_tokens_top_5_holds_it_when_it_is_among_the_5_most_likely(
        demo_model: HFModel) -> None:
    session = demo_model.new_session()
    path = [(0, demo_model.encode_prompt("Use numbers and basic arithmetic operations "
                                         "(+ - * /) to obtain 24.\nInput: 4 5 6 10\n"))]
    samples = session.sample(path, 6, StopRule("rollout", 40), 1.0,
                             torch.Generator().manual_seed(5))
    seen_in = seen_out = 0
    for sample in samples:
        assert len(sample.top) == len(sample.token_ids) > 0
        for token, logprob, top in zip(sample.token_ids, sample.logprobs, sample.top,
                                       strict=True):
            _check_top(top)
            ids = [t for t, _ in top]
            if math.exp(logprob) > top[-1][1] + 1e-6:  # strictly among the 5 largest
                assert token in ids
                assert abs(dict(top)[token] - math.exp(logprob)) < 1e-5
                seen_in += 1
            elif token not in ids:
                seen_out += 1
    assert seen_in > 0


def test_events_and_the_tree_keep_each_tokens_alternatives(demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(seed=4), "4 5 6 10")
    search.run(4)
    children = [c for e in search.events if isinstance(e, Expanded) for c in e.children]
    rollouts = [e.rollout for e in search.events if isinstance(e, Simulated)
                and e.rollout.tokens]
    assert children and rollouts
    named = 0
    for child in children:
        assert len(child.top) == len(child.token_ids) == len(child.token_texts)
        assert "".join(child.token_texts).rstrip("\n") == child.text
        for text, top in zip(child.token_texts, child.top, strict=True):
            _check_top(top)
            named += text in [t for t, _ in top]
    assert named > 0  # the chosen token, shown among its alternatives
    for rollout in rollouts:
        assert len(rollout.top) == len(rollout.tokens)
        for top in rollout.top:
            _check_top(top)
    tree = fold("4 5 6 10", search.events)
    node = tree.nodes[children[0].id]
    assert node.top == list(children[0].top) and node.token_texts == list(
        children[0].token_texts)
    for event in search.events:
        back = event_from_dict(json.loads(json.dumps(event_to_dict(event))))
        assert back == event
    # Written only when set: an event without alternatives has no "top" keys.
    bare = Expanded(0, 0, (), "none")
    assert "top" not in json.dumps(event_to_dict(bare))


def test_alternatives_survive_export_and_import(demo_model: HFModel, tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "runs.db"))
    live = LiveRun.start(store, demo_model, make_config(seed=6), "4 5 6 10", title="top")
    live.step_iteration(store)
    live.step_iteration(store)
    events = store.load_events(live.run_id)
    doc = json.loads(json.dumps(store.export_run(live.run_id)))
    other = open_store(str(tmp_path / "other.db"))
    imported = other.load_events(other.import_run(doc))
    assert imported == events
    tops = [c.top for e in imported if isinstance(e, Expanded) for c in e.children]
    assert tops and all(tops)
    assert [e.ms for e in imported] == [e.ms for e in events]


def test_alternatives_are_stored_flat_and_the_nested_form_still_reads() -> None:
    top: tuple[TokenTop, ...] = ((("4", 0.5), ("5", 0.25)), (("+", 0.75), ("*", 0.125)))
    flat = top_to_dict(top)
    assert flat == {"width": 2, "texts": "4\x1f5\x1f+\x1f*", "p": [0.5, 0.25, 0.75, 0.125]}
    assert top_from_dict(json.loads(json.dumps(flat))) == top
    # Runs saved before: one small list per alternative.
    nested = [[["4", 0.5], ["5", 0.25]], [["+", 0.75], ["*", 0.125]]]
    assert top_from_dict(nested) == top
    # A text with the separator, or tokens with unequal numbers of alternatives: nested.
    odd = ((("a\x1fb", 0.5),), (("c", 0.25), ("d", 0.125)))
    assert top_from_dict(json.loads(json.dumps(top_to_dict(odd)))) == odd
    assert isinstance(top_to_dict(odd), list)
    for bad in ({"width": 2, "texts": "4\x1f5\x1f+", "p": [0.5, 0.25, 0.75]},
                {"width": 0, "texts": "", "p": []},
                {"width": 1, "texts": "4", "p": ["x"]}):
        with pytest.raises(ValueError):
            top_from_dict(bad)
