"""Sampling several tree paths in one batch: parallel MCTS's expansions and rollouts.

``ModelSession.sample`` runs the k samples of one path as one batch (a trie of rows that
share the path's cache). Here the rows of several paths, of different lengths, run
together: each path's cache is assembled from its node segments as usual, then the caches
are left-padded to the longest path and stacked, with an attention mask that hides the
padding and position ids that count each row's own tokens. Every row draws from its own
request's random stream, so a path's samples depend only on its request (up to the
rounding of a padded batch). All the new tokens start at the same padded position, which
makes each finished row's segment one slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch

from engine.backends.kv_cache import Segment
from engine.backends.protocol import Sample, SampleRequest

if TYPE_CHECKING:
    from engine.backends.hf_session import ModelSession, Prefix


def sample_many(session: ModelSession, requests: Sequence[SampleRequest],
                temperature: float) -> list[list[Sample]]:
    """``session.sample`` for each request, run as one batch; one list per request."""
    if len(requests) == 1:
        only = requests[0]
        return [session.sample(only.path, only.k, only.rule, temperature, only.generator)]
    from engine.backends.hf_session import _Row

    states = [session.state_for(r.path) for r in requests]
    width = max(s.length for s in states)
    cache, mask = _stacked(session, states, width)
    lengths = [s.length for s in states]
    owners = [r.path[-1][0] for r in requests]
    keep_states = [session.reuse and r.rule.kind != "rollout" for r in requests]
    gens = [r.generator for r in requests]
    rows = [_Row([], [], [], r.k, request=i) for i, r in enumerate(requests)]
    logits = torch.stack([s.logits for s in states])
    cached = len(requests)  # rows held in ``cache``: row i of ``rows`` is cache row i
    done: list[list[Sample]] = [[] for _ in requests]
    step = 0
    while rows:
        rows, parents = session._draw(rows, logits, temperature, gens)
        step += 1
        open_rows, open_parents = [], []
        for row, parent in zip(rows, parents, strict=True):
            rule = requests[row.request].rule
            session._check_end(row, rule, lengths[row.request] + step)
            if row.ended and (row.ended in ("eos", "context") or not keep_states[row.request]):
                done[row.request].append(session._finish(row, None))
            else:
                open_rows.append(row)
                open_parents.append(parent)
        if not open_rows:
            break
        if open_parents != list(range(cached)):
            index = torch.tensor(open_parents, device=session.model.device)
            cache.batch_select_indices(index)
            mask = mask[torch.tensor(open_parents)]
        mask = torch.cat([mask, torch.ones(len(open_rows), 1, dtype=mask.dtype)], dim=1)
        last = torch.tensor([[r.token_ids[-1]] for r in open_rows])
        positions = torch.tensor([[lengths[r.request] + step - 1] for r in open_rows])
        logits = session.model.forward(last, cache, mask, positions)[:, -1, :].float()
        session.counter.forwarded += len(open_rows)
        rows = []
        for i, row in enumerate(open_rows):
            if row.ended:
                segment = Segment.cut(cache, i, width, width + step, owners[row.request])
                done[row.request].append(session._finish(
                    row, replace(segment, start=lengths[row.request])))
            else:
                rows.append(row)
        cached = len(open_rows)
        if rows and len(rows) < len(open_rows):
            keep = [i for i, r in enumerate(open_rows) if not r.ended]
            cache.batch_select_indices(torch.tensor(keep, device=session.model.device))
            mask = mask[torch.tensor(keep)]
            logits = logits[keep]
            cached = len(keep)
    return [session._finish_all(samples) for samples in done]


def _stacked(session: ModelSession, states: Sequence[Prefix], width: int
             ) -> tuple[Any, torch.Tensor]:
    """The paths' caches left-padded to ``width`` tokens and stacked into one cache, with
    the mask that hides the padding."""
    from transformers import DynamicCache

    cache = DynamicCache(config=session.model.model.config)
    mask = torch.zeros(len(states), width, dtype=torch.long)
    for row, state in enumerate(states):
        mask[row, width - state.length:] = 1
    for layer in range(len(states[0].cache.layers)):
        keys, values = [], []
        for state in states:
            k = state.cache.layers[layer].keys
            v = state.cache.layers[layer].values
            pad = width - state.length
            keys.append(torch.nn.functional.pad(k, (0, 0, pad, 0)))
            values.append(torch.nn.functional.pad(v, (0, 0, pad, 0)))
        cache.update(torch.cat(keys), torch.cat(values), layer)
    return cache, mask
