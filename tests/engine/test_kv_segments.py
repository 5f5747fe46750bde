"""KV stored once: each node keeps only its own tokens' keys and values."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from engine.backends.hf import HFModel
from engine.core.config import make_config
from engine.core.tree import ROOT_ID
from engine.strategies.search import Search


def _tree_tokens(search: Search) -> int:
    return len(search.prompt_ids) + sum(len(n.token_ids) for n in search.tree.nodes)


@pytest.mark.parametrize("parallel", [1, 8])
def test_the_cache_holds_each_token_of_the_tree_once(demo_model: HFModel, parallel: int
                                                     ) -> None:
    search = Search(demo_model, make_config(seed=0, parallel=parallel), "4 5 6 10")
    search.run(40)
    cache = search.session.cache
    per_token = cache.nbytes / cache.tokens
    config = demo_model.model.config
    assert per_token == 2 * config.n_layer * config.n_embd * 4  # keys + values, float32
    # Each segment starts where its path's tokens before it end, after its parent. A node
    # never expanded nor rolled out from holds all its tokens but the last (decoding never
    # runs a finished sample's last token); the pass that first needs the node's logits
    # completes it, alone or in a batch.
    tree = search.tree
    unused = {n.id for n in tree.nodes if n.visits == 0 and not n.children}
    assert unused  # the dead steps, at least
    for node in tree.nodes:
        before = tree.path_to(node.id)[1:-1]
        start = 0 if node.id == ROOT_ID else \
            len(search.prompt_ids) + sum(len(tree.nodes[n].token_ids) for n in before)
        segment = cache.get(node.id, node.parent, start)
        assert segment is not None, node.id
        own = len(search.prompt_ids) if node.id == ROOT_ID else len(node.token_ids)
        assert segment.tokens == own - (node.id in unused), node.id
    assert cache.tokens == _tree_tokens(search) - len(unused)


def test_reuse_makes_the_calls_no_reuse_makes_and_forwards_fewer_tokens(
        demo_model: HFModel, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    forward = demo_model.forward

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return forward(*args, **kwargs)

    monkeypatch.setattr(demo_model, "forward", counted)
    runs = {}
    for reuse in (True, False):
        calls["n"] = 0
        search = Search(demo_model, make_config(seed=0, cache_reuse=reuse), "4 5 6 10")
        search.run(40)
        runs[reuse] = (calls["n"], search.session.counter, [n.text for n in search.tree.nodes])
    (calls_reuse, reused, tree), (calls_none, recomputed, same_tree) = runs[True], runs[False]
    assert tree == same_tree
    assert calls_reuse == calls_none > 0
    assert reused.generated == recomputed.generated
    assert reused.forwarded < recomputed.forwarded


def test_an_assembled_prefix_equals_one_computed_in_one_pass(demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(seed=3, children=2), "1 2 4 7")
    search.run(12)
    deepest = max(search.tree.nodes, key=lambda n: n.depth)
    path = search.path_tokens(deepest.id)
    assembled = search.session.state_for(path)
    fresh = demo_model.new_session(reuse=False).state_for(path)  # type: ignore[attr-defined]
    assert assembled.length == fresh.length == sum(len(t) for _, t in path)
    assert torch.allclose(assembled.logits, fresh.logits, atol=1e-4)
    for mine, theirs in zip(assembled.cache.layers, fresh.cache.layers, strict=True):
        assert torch.allclose(mine.keys, theirs.keys, atol=1e-4)
        assert torch.allclose(mine.values, theirs.values, atol=1e-4)


def test_evicted_segments_are_recomputed_and_counted(demo_model: HFModel) -> None:
    roomy = Search(demo_model, make_config(seed=5), "3 4 8 9")
    roomy.run(20)
    # 0.02 MB holds about six of the demo model's tokens' KV at a time.
    tight = Search(demo_model, make_config(seed=5, cache_budget_mb=0.02), "3 4 8 9")
    tight.run(20)
    assert tight.session.cache.nbytes <= 0.02 * (1 << 20) or \
        len(tight.session.cache._segments) == 1
    assert [n.text for n in tight.tree.nodes] == [n.text for n in roomy.tree.nodes]
    assert tight.session.counter.generated == roomy.session.counter.generated
    assert tight.session.counter.forwarded > roomy.session.counter.forwarded


@pytest.mark.parametrize("reuse", [True, False])
def test_forced_text_has_its_own_segment(demo_model: HFModel, reuse: bool) -> None:
    search = Search(demo_model, make_config(seed=3, reflection="on", cache_reuse=reuse),
                    "4 5 6 10")
    search.step_iteration()
    event = search.add_reflection(1)
    child = event.children[0].id
    stored = search.session.cache.get(child, 1, len(search.prompt_ids)
                                      + len(search.tree.nodes[1].token_ids))
    assert (stored is not None) == reuse
    if stored is not None:
        assert stored.tokens == len(search.tree.nodes[child].token_ids)
