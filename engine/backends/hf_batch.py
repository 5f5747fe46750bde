"""Sampling several tree paths in one batch: parallel MCTS's expansions and rollouts.

``ModelSession.sample`` runs the k samples of one path as one batch (a trie of rows that
share the path's cache). Here the rows of several paths, of different lengths, run
together: each path's cache is assembled from its node segments as usual, then the caches
are left-padded to the longest path and stacked, with an attention mask that hides the
padding and position ids that count each row's own tokens. The tokens that every path
begins with (the prompt at least) are not stacked: they are held once, and the model
attends over them and each row's own tokens (``engine.backends.shared_prefix``). Every
row draws from its own request's random stream, so a path's samples depend only on its
request (up to the rounding of a padded batch). All the new tokens start at the same
padded position, which makes each finished row's segment one slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import torch

from engine.backends.kv_cache import Segment
from engine.backends.protocol import Sample, SampleRequest, StopRule
from engine.backends.shared_prefix import holding, supports
from engine.core.events import EndReason

if TYPE_CHECKING:
    from engine.backends.hf_session import ModelSession, Prefix


@dataclass
class Row:
    """One trie row of a decoding: a sample so far, with how many draws share it."""

    token_ids: list[int]
    logprobs: list[float]
    confidences: list[float]
    count: int
    text: str = ""
    ended: EndReason | None = None
    rejected: str | None = None
    request: int = 0
    """Which of a batch's requests (``sample_many``) the row belongs to."""
    top: list[tuple[tuple[int, float], ...]] = field(default_factory=list)
    """Each token's top-5 alternatives (``Sample.top``)."""



def sample_many(session: ModelSession, requests: Sequence[SampleRequest],
                temperature: float) -> list[list[Sample]]:
    """``session.sample`` for each request, run as one batch; one list per request."""
    if len(requests) == 1 or not all(r.path[-1][1] and sum(len(t) for _, t in r.path) > 1
                                     for r in requests):
        # One path (plain MCTS: exactly ``sample``), or a path whose last node has no
        # tokens of its own to hold back: each path alone.
        return [session.sample(r.path, r.k, r.rule, temperature, r.generator)
                for r in requests]
    lengths = [sum(len(tokens) for _, tokens in r.path) for r in requests]
    # Every path's last token runs in one batched pass, for the logits: a path whose last
    # node was recomputed has its logits already, but its cache gives up that token too.
    held = [n - 1 for n in lengths]
    # The tokens every path starts with (the prompt at least) are held once, not per row:
    # the first path's cache gives them, the others' leave them out where they can.
    shared = shared_length([r.path for r in requests], min(held)) \
        if supports(session.model.model) else 0
    states = [session.state_for(r.path, defer_last=True, skip=shared if i else 0)
              for i, r in enumerate(requests)]
    prefix = _prefix(states[0].cache, shared) if shared else None
    cache, mask = _stacked(session, states, max(held) - shared, held, shared)
    mask = torch.cat([mask, torch.ones(len(states), 1, dtype=mask.dtype)], dim=1)
    last = torch.tensor([[r.path[-1][1][-1]] for r in requests])
    with holding(prefix):
        logits = session.model.forward(last, cache, mask, torch.tensor([[n] for n in held])
                                       )[:, -1, :].float()
        session.counter.forwarded += len(requests)
        width = max(held) - shared + 1
        for row, state in enumerate(states):
            if state.open_last is not None:  # the pass gave its last token's keys and values
                node_id, segment = state.open_last
                session.cache.put(node_id, segment.completed(cache, row, width - 1))
        owners = [r.path[-1][0] for r in requests]
        keep_states = [session.reuse and r.rule.kind != "rollout" for r in requests]
        rows = [Row([], [], [], r.k, request=i) for i, r in enumerate(requests)]
        done = decode(session, rows, logits, cache, Decoding(
            [r.rule for r in requests], lengths, width, owners, keep_states,
            [r.generator for r in requests], temperature), mask)
    return [session._finish_all(samples) for samples in done]


def shared_length(paths: Sequence[Sequence[tuple[int, Sequence[int]]]], most: int) -> int:
    """How many tokens all ``paths`` begin with (their common nodes from the root), at most
    ``most``."""
    shared = 0
    for nodes in zip(*paths, strict=False):
        if any(node[0] != nodes[0][0] for node in nodes):
            break
        shared += len(nodes[0][1])
    return min(shared, most)


def _prefix(cache: Any, shared: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each layer's keys and values of the first ``shared`` tokens of a path's cache."""
    return [(layer.keys[..., :shared, :], layer.values[..., :shared, :])
            for layer in cache.layers]


@dataclass(frozen=True)
class Decoding:
    """What each request of a decoding brings (indexed by ``Row.request``)."""

    rules: Sequence[StopRule]
    lengths: Sequence[int]
    """Its path's tokens."""
    width: int
    """Where the new tokens start in the cache (its paths' longest, left-padded)."""
    owners: Sequence[int]
    """The node a new segment continues (the path's last)."""
    keep_states: Sequence[bool]
    generators: Sequence[torch.Generator]
    temperature: float


def decode(session: ModelSession, rows: list[Row], logits: torch.Tensor, cache: Any,
           how: Decoding, mask: torch.Tensor | None = None) -> list[list[Sample]]:
    """The decoding loop that one path's samples (``ModelSession.sample``: no padding,
    ``mask`` ``None``) and a batch of paths share: each row draws as many tokens as its
    multiplicity and splits by distinct token, finished rows become samples, and the open
    rows run one step. A finished row's last token is never run: when its request keeps
    states, its segment is open, all its tokens but the last, cut from the cache (the
    forward pass that first needs the node's logits completes it: ``state_for``). Returns
    each request's samples, not yet counted or sorted."""
    cached = len(rows)  # rows held in ``cache``: row i of ``rows`` is cache row i
    done: list[list[Sample]] = [[] for _ in how.rules]
    step = 0
    while rows:
        rows, parents = session._draw(rows, logits, how.temperature, how.generators)
        step += 1
        open_rows, open_parents = [], []
        for row, parent in zip(rows, parents, strict=True):
            session._check_end(row, how.rules[row.request], how.lengths[row.request] + step)
            if row.ended is None:
                open_rows.append(row)
                open_parents.append(parent)
                continue
            segment = None
            if row.ended not in ("eos", "context") and how.keep_states[row.request]:
                segment = Segment.cut(cache, parent, how.width, how.width + step - 1,
                                      how.owners[row.request])
                if segment.start != how.lengths[row.request]:
                    segment = replace(segment, start=how.lengths[row.request])
            done[row.request].append(session._finish(row, segment))
        if not open_rows:
            break
        if open_parents != list(range(cached)):
            cache.batch_select_indices(torch.tensor(open_parents, device=session.model.device))
            if mask is not None:
                mask = mask[torch.tensor(open_parents)]
        last = torch.tensor([[r.token_ids[-1]] for r in open_rows])
        if mask is None:
            logits = session._forward(last, cache)[0]
        else:
            mask = torch.cat([mask, torch.ones(len(open_rows), 1, dtype=mask.dtype)], dim=1)
            positions = torch.tensor([[how.lengths[r.request] + step - 1] for r in open_rows])
            logits = session.model.forward(last, cache, mask, positions)[:, -1, :].float()
            session.counter.forwarded += len(open_rows)
        rows = open_rows
        cached = len(open_rows)
    return done


def _stacked(session: ModelSession, states: Sequence[Prefix], width: int,
             lengths: Sequence[int], skip: int = 0) -> tuple[Any, torch.Tensor]:
    """The paths' caches, tokens ``skip`` to ``lengths[i]`` of each (the first ``skip``
    are the shared prefix, held apart; a cache may leave out up to ``skip`` tokens already,
    ``Prefix.start``), left-padded to ``width`` tokens and stacked into one cache, with the
    mask that hides the padding."""
    from engine.backends.growing_cache import new_cache

    cache = new_cache(session.model.model.config)
    mask = torch.zeros(len(states), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        mask[row, width - (n - skip):] = 1
    for layer in range(len(states[0].cache.layers)):
        keys, values = [], []
        for state, n in zip(states, lengths, strict=True):
            start, end = skip - state.start, n - state.start
            k = state.cache.layers[layer].keys[..., start:end, :]
            v = state.cache.layers[layer].values[..., start:end, :]
            pad = width - (n - skip)
            keys.append(torch.nn.functional.pad(k, (0, 0, pad, 0)))
            values.append(torch.nn.functional.pad(v, (0, 0, pad, 0)))
        cache.update(torch.cat(keys), torch.cat(values), layer)
    return cache, mask
