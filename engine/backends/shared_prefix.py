"""Attention over a prefix that every row of a batch shares, read once per step.

Parallel MCTS decodes the paths of a round as one left-padded batch (``hf_batch``). Every
path starts with the prompt, and before this each row held its own copy of the prompt's
keys and values: at B = 8 with a 519-token prompt the attention read 16 copies of it at
every step. Here the batch's cache holds only each row's own tokens after the shared
prefix, and the prefix's keys and values are held once; attention scores a query against
both and combines them in one softmax (the scores of the two parts are concatenated, so
the result is the same attention as over the whole row).

``adopt(model)`` gives a model of a plain-attention type this attention when it is loaded
(``transformers``' attention interface, under the name ``ATTENTION``). A batch holds its
prefix in its own context (``holding``); every other call, in any thread, gets PyTorch's
scaled dot-product attention, as the model had before.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

ATTENTION = "mctslab_shared_prefix"
_PREFIX: ContextVar[Sequence[tuple[torch.Tensor, torch.Tensor]] | None] = ContextVar(
    "mctslab_shared_prefix", default=None)


def shared_prefix_attention(module: Any, query: torch.Tensor, key: torch.Tensor,
                            value: torch.Tensor, attention_mask: torch.Tensor | None,
                            scaling: float | None = None, dropout: float = 0.0,
                            **kwargs: Any) -> tuple[torch.Tensor, None]:
    """Attention of ``query`` (rows, heads, L, d) over the shared prefix of layer
    ``module.layer_idx`` (1, kv heads, P, d) and each row's own ``key``/``value`` (rows, kv
    heads, S, d) under ``attention_mask`` (rows, 1, L, S; boolean, or additive, or ``None``:
    the new tokens attend causally). Query heads share key heads in groups (grouped-query
    attention) as the model does. Returns (rows, L, heads, d), as ``transformers``' SDPA."""
    prefix = _PREFIX.get()
    if prefix is None:
        # Any call outside a batch with a shared prefix: plain attention over the row's
        # whole cache, as the model had before ``adopt``.
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      scaling=scaling, dropout=dropout, **kwargs)
    prefix_keys, prefix_values = prefix[module.layer_idx]
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    rows, heads, length, dim = query.shape
    kv_heads = prefix_keys.shape[1]
    groups = heads // kv_heads
    split = prefix_keys.shape[-2]
    # The prefix as one matrix product per key head: (kv heads, groups * rows * L, d) x
    # (kv heads, d, P); query head h reads key head h // groups.
    flat = query.permute(1, 0, 2, 3).reshape(kv_heads, groups * rows * length, dim)
    on_prefix = torch.matmul(flat, prefix_keys[0].transpose(-1, -2)).float() * scale
    on_prefix = on_prefix.reshape(heads, rows, length, split).permute(1, 0, 2, 3)
    if groups > 1:
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    on_own = torch.matmul(query, key.transpose(-1, -2)).float() * scale
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            on_own = on_own.masked_fill(~attention_mask, float("-inf"))
        else:
            on_own = on_own + attention_mask.float()
    elif length > 1:
        own = key.shape[-2]
        causal = torch.ones(length, own, dtype=torch.bool, device=query.device).tril(
            own - length)
        on_own = on_own.masked_fill(~causal, float("-inf"))
    weights = torch.softmax(torch.cat([on_prefix, on_own], dim=-1), dim=-1).to(value.dtype)
    on_prefix_weights = weights[..., :split].permute(1, 0, 2, 3).reshape(
        kv_heads, groups * rows * length, split)
    from_prefix = torch.matmul(on_prefix_weights, prefix_values[0]).reshape(
        heads, rows, length, dim).permute(1, 0, 2, 3)
    out = from_prefix + torch.matmul(weights[..., split:], value)
    return out.transpose(1, 2).contiguous(), None


PLAIN_ATTENTION = ("gpt2", "llama", "qwen2", "qwen3")
"""Model types whose self-attention is plain softmax attention over every earlier token (no
sliding window, soft-capping, ALiBi or attention sinks), the only kind this replaces."""


def adopt(model: Any) -> None:
    """Give ``model`` (a ``transformers`` model, just loaded) this attention when its type
    has plain attention and it uses SDPA or eager attention; leave other models as they
    are. Outside ``holding`` it is SDPA, so only a batch with a shared prefix changes."""
    config = model.config
    if (getattr(config, "model_type", None) in PLAIN_ATTENTION
            and config._attn_implementation in ("sdpa", "eager")
            and not getattr(config, "sliding_window", None)
            and not getattr(config, "use_sliding_window", False)):
        config._attn_implementation = ATTENTION


def supports(model: Any) -> bool:
    """Whether ``model`` attends with a shared prefix when one is held (``adopt``)."""
    return bool(model.config._attn_implementation == ATTENTION)


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION, shared_prefix_attention)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)


_register()


@contextmanager
def holding(prefix: Sequence[tuple[torch.Tensor, torch.Tensor]] | None) -> Iterator[None]:
    """Within, in this context: ``shared_prefix_attention`` attends over ``prefix`` (per
    layer, the shared prefix's keys and values, each (1, heads, P, d)); ``None``: plain
    attention."""
    token = _PREFIX.set(prefix)
    try:
        yield
    finally:
        _PREFIX.reset(token)
