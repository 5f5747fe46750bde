"""One search's session on a Hugging Face model: batched sampling over per-node KV caches.

Sampling walks a trie of samples: the k requested samples start as one row with
multiplicity k; at each position a row draws as many tokens as its multiplicity and
splits into one row per distinct token. Identical samples therefore share every
forward pass, and identical siblings come out merged with their count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from engine.backends.hf import HFModel
from engine.backends.hf_batch import Decoding, Row, decode, sample_many
from engine.backends.kv_cache import NodeCache, Segment, concat
from engine.backends.protocol import Sample, SampleRequest, StopRule, TokenCounter
from engine.core.rewards import token_confidence
from engine.errors import InputError

JUDGE_CHUNK = 256
"""Judge prompts per forward pass (they are short: this bounds memory, not speed)."""


@dataclass
class Prefix:
    """A path's cache, assembled for one caller (who extends it in place), and the
    next-token logits after the path's last token."""

    cache: Any
    logits: torch.Tensor | None
    """``None`` when the caller asked to forward the last token itself (``state_for``'s
    ``defer_last``): ``cache`` then holds all but that token."""
    length: int
    start: int = 0
    """Tokens at the path's start that ``cache`` leaves out (``state_for``'s ``skip``)."""
    open_last: tuple[int, Segment] | None = None
    """With ``defer_last``: the last node and its open segment (all but its last token),
    for the caller to complete with the last token's keys and values once it forwards it."""


@dataclass
class ModelSession:
    """One search's view of the model: node caches, batching and token counts."""

    model: HFModel
    reuse: bool = True
    budget_bytes: int = 512 << 20
    counter: TokenCounter = field(default_factory=TokenCounter)
    cache: NodeCache = field(init=False)
    judged: dict[str, float] = field(default_factory=dict)
    """Prompt -> self-evaluation value already computed in this session."""

    def __post_init__(self) -> None:
        self.cache = NodeCache(self.budget_bytes)

    def count_unique(self, n: int) -> None:
        """Add tokens that belong to the tree (the prompt) to the unique count."""
        self.counter.unique += n

    def _forward(self, ids: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]:
        from engine.backends.growing_cache import new_cache

        if cache is None:
            cache = new_cache(self.model.model.config)
        logits = self.model.forward(ids, cache)
        self.counter.forwarded += int(ids.numel())
        return logits[:, -1, :].float(), cache

    def state_for(self, path: Sequence[tuple[int, Sequence[int]]],
                  defer_last: bool = False, skip: int = 0) -> Prefix:
        """The cache after the last node of ``path`` (``(node_id, token_ids)`` from the
        root), assembled for the caller to own, and the logits after its last token.

        With reuse, every node whose segment is stored is assembled from it; the others are
        forwarded (in as few passes as the gaps allow) and their segments stored. The last
        token is always forwarded, for its logits: segments keep no logits. A new node's
        segment is open (all but its last token: decoding never runs a finished sample's last
        token), and the forward that gives the logits completes it. With
        ``defer_last``, when the last node's segment is stored, that forward is left to the
        caller (who batches several paths' last tokens): the cache holds all but the last
        token and ``logits`` is ``None``. With ``defer_last`` and ``skip``, the whole nodes
        within the path's first ``skip`` tokens are left out of the cache when every node
        is stored (a batch holds those tokens once, apart: ``hf_batch``); ``Prefix.start``
        says how many were.
        """
        from engine.backends.growing_cache import new_cache

        pieces: list[tuple[int, int | None, int, Sequence[int], Segment | None]] = []
        position, parent = 0, None
        for node_id, tokens in path:
            stored = self.cache.get(node_id, parent, position) if self.reuse else None
            if stored is not None and stored.tokens not in (len(tokens), len(tokens) - 1):
                stored = None
            pieces.append((node_id, parent, position, tokens, stored))
            position, parent = position + len(tokens), node_id
        last = max(i for i, piece in enumerate(pieces) if len(piece[3]))
        left_out = 0
        # A node to forward (not stored, or open before the last) needs the whole prefix.
        if skip and defer_last and all(
                not p[3] or (p[4] is not None and (i == last or p[4].tokens == len(p[3])))
                for i, p in enumerate(pieces)):
            while pieces[0][2] + len(pieces[0][3]) <= skip:
                left_out = pieces[0][2] + len(pieces[0][3])
                pieces, last = pieces[1:], last - 1
        cache = new_cache(self.model.model.config)
        joined: list[Segment] = []
        run: list[int] = []
        owners: list[tuple[int, int | None, int, int]] = []
        logits: torch.Tensor | None = None

        def join() -> None:
            if joined:
                keys, values = concat(joined)
                for layer, (k, v) in enumerate(zip(keys, values, strict=True)):
                    cache.update(k.to(self.model.device), v.to(self.model.device), layer)
                joined.clear()

        def forward() -> None:
            nonlocal logits
            if run:
                logits = self._forward(torch.tensor([run]), cache)[0][0]
                for node_id, parent_id, start, n in owners:
                    self.cache.put(node_id, Segment.cut(cache, 0, start, start + n, parent_id))
                run.clear()
                owners.clear()

        for i, (node_id, parent_id, start, tokens, stored) in enumerate(pieces):
            if not tokens:
                continue
            if stored is None:
                join()
                run.extend(tokens)
                if self.reuse:
                    owners.append((node_id, parent_id, start, len(tokens)))
                continue
            forward()
            complete = stored.tokens == len(tokens)
            if i == last or not complete:
                # All but the last token, which is run for the logits (or, in an open
                # segment, for its keys and values, which complete the segment).
                if stored.tokens > (1 if complete else 0):
                    joined.append(stored.trimmed() if complete else stored)
                join()
                if i == last and defer_last:
                    return Prefix(cache, None, position, left_out,
                                  None if complete else (node_id, stored))
                run.append(tokens[-1])
                if not complete:
                    owners.append((node_id, parent_id, start, len(tokens)))
            else:
                joined.append(stored)
        join()
        forward()
        assert logits is not None, "the path's last token was forwarded"
        return Prefix(cache, logits, position, left_out)

    def remember(self, node_id: int, state: Any) -> None:
        """Keep ``state`` (a ``Segment``) as ``node_id``'s (when reuse is on)."""
        if self.reuse and isinstance(state, Segment):
            self.cache.put(node_id, state)

    def sample(
        self,
        path: Sequence[tuple[int, Sequence[int]]],
        k: int,
        rule: StopRule,
        temperature: float,
        generator: torch.Generator,
    ) -> list[Sample]:
        """``k`` continuations of ``path``, identical ones merged, most likely first."""
        state = self.state_for(path)
        assert state.logits is not None, "state_for forwarded the last token"
        # The assembled cache belongs to this call: decoding extends it in place.
        how = Decoding([rule], [state.length], state.length, [path[-1][0]],
                       [self.reuse and rule.kind != "rollout"], [generator], temperature)
        done = decode(self, [Row([], [], [], k)], state.logits.unsqueeze(0), state.cache, how)
        return self._finish_all(done[0])

    def _finish_all(self, done: list[Sample]) -> list[Sample]:
        """Count the samples' tokens; most often drawn first, then most likely."""
        self.counter.generated += sum(len(s.token_ids) * s.count for s in done)
        self.counter.unique += sum(len(s.token_ids) for s in done)
        done.sort(key=lambda s: (-s.count, -s.logprob))
        return done

    def _draw(
        self, rows: list[Row], logits: torch.Tensor, temperature: float,
        gens: Sequence[torch.Generator],
    ) -> tuple[list[Row], list[int]]:
        """Each row draws ``count`` next tokens (from its request's generator, ``gens[row.
        request]``) and splits by distinct token."""
        logp = torch.log_softmax(logits.float(), dim=-1).cpu()
        top, top_ids = torch.topk(logp, k=min(5, logp.shape[-1]), dim=-1)
        top_probs = top.exp().tolist()
        new_rows: list[Row] = []
        parents: list[int] = []
        for r, row in enumerate(rows):
            if temperature == 0:
                drawn = [int(torch.argmax(logp[r]))] * row.count
            else:
                probs = torch.softmax(logp[r] / temperature, dim=-1)
                drawn = torch.multinomial(probs, row.count, replacement=True,
                                          generator=gens[row.request]).tolist()
            alternatives = tuple(zip(top_ids[r].tolist(), top_probs[r], strict=True))
            top_logps = top[r].tolist()
            for token in dict.fromkeys(drawn):
                lp = float(logp[r, token])
                new_rows.append(Row(
                    row.token_ids + [token], row.logprobs + [lp],
                    row.confidences + [token_confidence(lp, top_logps)],
                    drawn.count(token), row.text + self.model.token_text(token),
                    request=row.request, top=row.top + [alternatives],
                ))
                parents.append(r)
        return new_rows, parents

    def _check_end(self, row: Row, rule: StopRule, length: int) -> None:
        token = row.token_ids[-1]
        if token in self.model.eos_ids:
            row.ended = "eos"
        elif "\n" in self.model.token_text(token) and rule.kind != "tokens":
            line = row.text.rstrip("\n").rsplit("\n", 1)[-1]
            if rule.kind == "line" and row.text.strip():
                row.ended = "stop"
            elif rule.kind == "rollout" and rule.is_final_line and rule.is_final_line(line):
                row.ended = "stop"
            elif rule.kind == "rollout" and rule.rejects is not None:
                row.rejected = rule.rejects(row.text)
                if row.rejected is not None:
                    row.ended = "stop"
        if not row.ended and len(row.token_ids) >= rule.max_tokens:
            row.ended = "length"
        if not row.ended and length >= self.model.context_length:
            row.ended = "context"

    def _finish(self, row: Row, state: Segment | None) -> Sample:
        assert row.ended is not None, "only an ended row becomes a sample"
        return Sample(row.token_ids, row.logprobs, row.confidences, row.text, row.count,
                      row.ended, state, row.rejected, row.top)

    def judge(self, prompts: Sequence[str], words: tuple[str, str]) -> list[float]:
        """For each prompt, P(first word) / (P(first) + P(second)) of the model's next token
        (each word's first token; they must differ). A prompt judged before in this session
        is answered from memory at no cost; every new one costs its tokens forwarded and one
        generated (the verdict the model would write)."""
        first, second = (self.model.encode_continuation(" " + w)[0] for w in words)
        if first == second:
            raise InputError(f"{self.model.name}: the verdict words {words} start with the "
                             "same token, so the model's next token cannot tell them apart.")
        new = [p for p in dict.fromkeys(prompts) if p not in self.judged]
        for start in range(0, len(new), JUDGE_CHUNK):
            chunk = new[start:start + JUDGE_CHUNK]
            encoded = [self.model.encode_prompt(p) for p in chunk]
            for prompt, value in zip(chunk, self._verdicts(encoded, first, second),
                                     strict=True):
                self.judged[prompt] = value
            spent = sum(len(ids) for ids in encoded)
            self.counter.forwarded += spent
            self.counter.unique += spent
            self.counter.generated += len(chunk)
            self.counter.judged += len(chunk)
        return [self.judged[p] for p in prompts]

    def _verdicts(self, encoded: list[list[int]], first: int, second: int) -> list[float]:
        # Right padding: causal attention leaves each row's real positions unaffected.
        width = max(len(ids) for ids in encoded)
        ids = torch.zeros((len(encoded), width), dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, prompt in enumerate(encoded):
            ids[row, : len(prompt)] = torch.tensor(prompt)
            mask[row, : len(prompt)] = 1
        with torch.inference_mode():
            logits = self.model.model(input_ids=ids.to(self.model.device),
                                      attention_mask=mask.to(self.model.device)).logits
        last = torch.tensor([len(p) - 1 for p in encoded], device=logits.device)
        final = logits[torch.arange(len(encoded), device=logits.device), last].float()
        pair = torch.log_softmax(final[:, [first, second]], dim=-1)
        return [float(v) for v in pair[:, 0].exp().tolist()]

    def force(self, path: Sequence[tuple[int, Sequence[int]]], token_ids: Sequence[int]
              ) -> Sample:
        """Score given tokens after ``path`` (a reflection); returns a sample with its state."""
        state = self.state_for(path)
        cache = state.cache
        assert state.logits is not None, "state_for forwarded the last token"
        logits_all: list[torch.Tensor] = [state.logits]
        step_logits = self.model.forward(torch.tensor([list(token_ids)]), cache)[0].float()
        self.counter.forwarded += len(token_ids)
        self.counter.unique += len(token_ids)
        logits_all += [step_logits[i] for i in range(step_logits.shape[0])]
        logprobs, confidences = [], []
        for i, token in enumerate(token_ids):
            logp = torch.log_softmax(logits_all[i], dim=-1).cpu()
            lp = float(logp[token])
            logprobs.append(lp)
            confidences.append(token_confidence(lp, torch.topk(logp, 5).values.tolist()))
        segment = Segment.cut(cache, 0, state.length, state.length + len(token_ids),
                              path[-1][0]) if self.reuse else None
        return Sample(list(token_ids), logprobs, confidences, self.model.decode(token_ids), 1,
                      "stop", segment)

    def sample_many(self, requests: Sequence[SampleRequest], temperature: float
                    ) -> list[list[Sample]]:
        """``sample`` for several paths as one batch (``engine.backends.hf_batch``)."""
        return sample_many(self, requests, temperature)
