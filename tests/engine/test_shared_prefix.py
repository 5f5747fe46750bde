"""Attention over a shared prefix held once (engine/backends/shared_prefix.py) equals
attention over each row's whole cache, and a batch of paths uses it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from app.bench.big_model import TOKENIZER_FILES
from engine.backends.hf import DEMO_MODEL_DIR, HFModel
from engine.backends.hf_batch import shared_length
from engine.backends.protocol import SampleRequest, StopRule
from engine.backends.shared_prefix import (
    ATTENTION,
    adopt,
    holding,
    shared_prefix_attention,
    supports,
)


class Layer(torch.nn.Module):
    def __init__(self, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx


def whole_row_attention(query: torch.Tensor, prefix: tuple[torch.Tensor, torch.Tensor],
                        keys: torch.Tensor, values: torch.Tensor,
                        visible: torch.Tensor) -> torch.Tensor:
    """PyTorch's SDPA over each row's own copy of the prefix followed by its own tokens."""
    rows, groups = query.shape[0], query.shape[1] // keys.shape[1]
    prefix = (prefix[0].repeat_interleave(groups, dim=1),
              prefix[1].repeat_interleave(groups, dim=1))
    keys, values = keys.repeat_interleave(groups, dim=1), values.repeat_interleave(groups, dim=1)
    full_keys = torch.cat([prefix[0].expand(rows, -1, -1, -1), keys], dim=-2)
    full_values = torch.cat([prefix[1].expand(rows, -1, -1, -1), values], dim=-2)
    length, plen = query.shape[-2], prefix[0].shape[-2]
    mask = torch.cat([torch.ones(rows, 1, length, plen, dtype=torch.bool), visible], dim=-1)
    out = torch.nn.functional.scaled_dot_product_attention(query, full_keys, full_values,
                                                           attn_mask=mask)
    return out.transpose(1, 2)


@pytest.mark.parametrize("length", [1, 3])
@pytest.mark.parametrize("kv_heads", [6, 3, 2])
def test_it_equals_attention_over_each_rows_whole_cache(length: int, kv_heads: int) -> None:
    gen = torch.Generator().manual_seed(0)
    rows, heads, dim, plen, own = 4, 6, 8, 11, 6
    prefix = (torch.randn(1, kv_heads, plen, dim, generator=gen),
              torch.randn(1, kv_heads, plen, dim, generator=gen))
    query = torch.randn(rows, heads, length, dim, generator=gen)
    keys = torch.randn(rows, kv_heads, own, dim, generator=gen)
    values = torch.randn(rows, kv_heads, own, dim, generator=gen)
    # Left padding: row r hides its first r own positions; the new tokens are causal.
    visible = torch.ones(rows, 1, length, own, dtype=torch.bool)
    for r in range(rows):
        visible[r, :, :, :r] = False
    visible &= torch.ones(length, own, dtype=torch.bool).tril(own - length)
    with holding([prefix]):
        ours, _ = shared_prefix_attention(Layer(0), query, keys, values, visible)
    expected = whole_row_attention(query, prefix, keys, values, visible)
    assert ours.shape == (rows, length, heads, dim)
    assert torch.allclose(ours, expected, atol=1e-5)
    # Without a mask the new tokens still attend causally among themselves.
    with holding([prefix]):
        unmasked, _ = shared_prefix_attention(Layer(0), query, keys, values, None)
    causal = torch.ones(rows, 1, length, own, dtype=torch.bool) & \
        torch.ones(length, own, dtype=torch.bool).tril(own - length)
    assert torch.allclose(unmasked, whole_row_attention(query, prefix, keys, values, causal),
                          atol=1e-5)


def test_without_a_prefix_held_it_is_plain_attention() -> None:
    """Every call outside a batch's ``holding``, in any thread."""
    gen = torch.Generator().manual_seed(1)
    query = torch.randn(2, 4, 1, 8, generator=gen)
    keys, values = torch.randn(2, 4, 5, 8, generator=gen), torch.randn(2, 4, 5, 8, generator=gen)
    ours, _ = shared_prefix_attention(Layer(0), query, keys, values, None, scaling=0.3)
    expected = torch.nn.functional.scaled_dot_product_attention(query, keys, values, scale=0.3)
    assert torch.allclose(ours, expected.transpose(1, 2), atol=1e-6)


def test_a_plain_attention_model_adopts_it_and_others_do_not(
        demo_model: HFModel, tmp_path: Path) -> None:
    assert demo_model.model.config._attn_implementation == ATTENTION
    assert supports(demo_model.model)
    # A model with a sliding window keeps its own attention (and per-row copies).
    from transformers import AutoConfig, MistralConfig, MistralForCausalLM

    demo = AutoConfig.from_pretrained(DEMO_MODEL_DIR)
    config = MistralConfig(vocab_size=demo.vocab_size, hidden_size=32, intermediate_size=64,
                           num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                           sliding_window=16)
    MistralForCausalLM(config).save_pretrained(tmp_path / "mistral")
    model = MistralForCausalLM.from_pretrained(tmp_path / "mistral")
    adopt(model)
    assert model.config._attn_implementation != ATTENTION and not supports(model)


def test_the_shared_length_is_the_common_nodes_at_most_the_limit() -> None:
    prompt, a, b = [1, 2, 3], [4, 5], [6]
    assert shared_length([[(0, prompt), (1, a)], [(0, prompt), (2, b)]], 10) == 3
    assert shared_length([[(0, prompt), (1, a)], [(0, prompt), (1, a), (3, b)]], 10) == 5
    assert shared_length([[(0, prompt), (1, a)], [(0, prompt), (1, a)]], 4) == 4
    assert shared_length([[(0, prompt)], [(5, prompt)]], 10) == 0


def tiny_llama(directory: Path) -> HFModel:
    """A Llama-shaped model with grouped-query attention (4 query heads, 2 key heads),
    random weights and the bundled tokenizer, written to ``directory``."""
    from transformers import AutoConfig, LlamaConfig, LlamaForCausalLM

    demo = AutoConfig.from_pretrained(DEMO_MODEL_DIR)
    config = LlamaConfig(vocab_size=demo.vocab_size, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=demo.bos_token_id,
                         eos_token_id=demo.eos_token_id, pad_token_id=demo.pad_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(directory)
    for name in TOKENIZER_FILES:
        if (DEMO_MODEL_DIR / name).exists():
            shutil.copy(DEMO_MODEL_DIR / name, directory / name)
    return HFModel(str(directory))


def test_grouped_query_attention_samples_as_alone(tmp_path: Path) -> None:
    model = tiny_llama(tmp_path / "llama")
    assert supports(model.model)
    assert_batch_samples_as_alone(model)


def test_paths_below_a_common_node_sample_as_they_do_alone(demo_model: HFModel) -> None:
    assert supports(demo_model.model)
    assert_batch_samples_as_alone(demo_model)


def assert_batch_samples_as_alone(demo_model: HFModel) -> None:
    """Three paths sharing the prompt and a first step (the shared prefix held once), of
    different lengths: greedy, the same samples and log-probabilities as each alone."""
    prompt = demo_model.encode_prompt("Problem: 4 5 6 10\n")
    step = demo_model.encode_continuation("Step: 5*4=20 (left: 6 10 20)\n")
    two = demo_model.encode_continuation("Step: 20-6=14 (left: 10 14)\n")
    other = demo_model.encode_continuation("Step: 10+20=30 (left: 6 30)\n")
    paths = [[(0, prompt), (1, step)], [(0, prompt), (1, step), (2, two)],
             [(0, prompt), (1, step), (3, other)]]
    assert shared_length(paths, 10_000) == len(prompt) + len(step)
    rule = StopRule("line", 40)
    session = demo_model.new_session()
    alone = [session.sample(p, 2, rule, 0.0, torch.Generator().manual_seed(0)) for p in paths]
    # A fresh session recomputes every node; ``session`` has them all stored, so its
    # paths' caches leave the shared prefix out (``state_for``'s ``skip``).
    shared = len(prompt) + len(step)
    assert session.state_for(paths[1], defer_last=True, skip=shared).start == shared
    assert session.state_for(paths[1], defer_last=True, skip=shared - 1).start == len(prompt)
    assert demo_model.new_session().state_for(paths[1], defer_last=True, skip=shared).start == 0
    for batch_session in (demo_model.new_session(), session):
        batched = batch_session.sample_many(
            [SampleRequest(p, 2, rule, torch.Generator().manual_seed(0)) for p in paths], 0.0)
        for one, many in zip(alone, batched, strict=True):
            assert [s.token_ids for s in one] == [s.token_ids for s in many]
            for a, b in zip(one, many, strict=True):
                assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
