"""One search's session on an OpenAI-compatible completions server
(``openai_server.ServerModel``; what goes over the wire is described there): sampling,
forced scoring and self-evaluation, with token counts from each response's ``usage``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from engine.backends.openai_server import _TOKEN_ID, TOP_LOGPROBS, ServerError, ServerModel
from engine.backends.protocol import Sample, SampleRequest, StopRule, TokenCounter
from engine.core.events import EndReason
from engine.core.rewards import token_confidence
from engine.errors import InputError


@dataclass
class _Piece:
    """One choice of a completion: its tokens, log-probs, confidences, why it stopped."""

    token_ids: list[int]
    logprobs: list[float]
    confidences: list[float]
    finish: str
    stop_string: bool
    top: list[tuple[tuple[int, float], ...]] = field(default_factory=list)
    """Each token's top alternatives (``Sample.top``), from the server's top log-probs."""


@dataclass
class ServerSession:
    """One search's use of a served model (``protocol.BackendSession``)."""

    model: ServerModel
    counter: TokenCounter = field(default_factory=TokenCounter)
    judged: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int = 0
    """Prompt tokens sent (``usage.prompt_tokens``, summed)."""
    cached_tokens: int = 0
    """Of them, those the server says it served from its prefix cache."""

    def count_unique(self, n: int) -> None:
        self.counter.unique += n

    def remember(self, node_id: int, state: Any) -> None:
        """Nothing: the server keeps its own prefix cache."""

    # -- requests -------------------------------------------------------------------------

    def _complete(self, prompt: list[int], n: int, max_tokens: int, temperature: float,
                  seed: int, stop: list[str] | None) -> list[_Piece]:
        body: dict[str, Any] = {
            "prompt": prompt, "n": n, "max_tokens": max_tokens, "temperature": temperature,
            "logprobs": TOP_LOGPROBS, "return_tokens_as_token_ids": True, "seed": seed,
            "skip_special_tokens": True,
        }
        if stop:
            body.update(stop=stop, include_stop_str_in_output=True)
        answer = self.model.completions(body)
        choices = answer["choices"]
        if len(choices) != n:
            raise self._contradiction(f"{len(choices)} choices for n={n}")
        self._count(answer.get("usage"))
        return [self._piece(c, max_tokens) for c in choices]

    def _count(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            raise self._contradiction("no usage")
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        details = usage.get("prompt_tokens_details") or {}
        cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
        self.prompt_tokens += prompt
        self.cached_tokens += cached
        self.counter.forwarded += prompt - cached + completion

    def _contradiction(self, what: str) -> ServerError:
        return ServerError(f"The model server at {self.model.base_url} answered a request "
                           f"with {what}, which contradicts the request.")

    def _piece(self, choice: dict[str, Any], max_tokens: int) -> _Piece:
        logprobs = choice.get("logprobs") or {}
        tokens = logprobs.get("tokens")
        lps = logprobs.get("token_logprobs")
        tops = logprobs.get("top_logprobs")
        if not isinstance(tokens, list) or not isinstance(lps, list) \
                or not isinstance(tops, list) or not len(tokens) == len(lps) == len(tops):
            raise self._contradiction("a choice without per-token log-probs")
        if len(tokens) > max_tokens:
            raise self._contradiction(f"{len(tokens)} tokens for max_tokens={max_tokens}")
        ids = [self._token_id(t) for t in tokens]
        confidences, alternatives = [], []
        for lp, top in zip(lps, tops, strict=True):
            if not isinstance(top, dict) or not top:
                raise self._contradiction("a token without its top log-probs")
            confidences.append(token_confidence(float(lp), [float(v) for v in top.values()]))
            # The server may add the sampled token to its top log-probs: keep the 5 best.
            ranked = sorted(((self._token_id(t), float(v)) for t, v in top.items()),
                            key=lambda a: -a[1])[:TOP_LOGPROBS]
            alternatives.append(tuple((t, math.exp(v)) for t, v in ranked))
        finish = str(choice.get("finish_reason") or "")
        stop_string = finish == "stop" and isinstance(choice.get("stop_reason"), str)
        if finish == "stop" and not stop_string and ids:
            self.model.learn_eos(ids[-1])  # EOS, or a stop token id of the model's config
        return _Piece(ids, [float(v) for v in lps], confidences, finish, stop_string,
                      alternatives)

    def _token_id(self, token: Any) -> int:
        match = _TOKEN_ID.match(str(token))
        if match is None:
            raise self._contradiction(f"token {token!r} not given as token_id:N "
                                      "(return_tokens_as_token_ids)")
        return int(match.group(1))

    # -- the protocol ---------------------------------------------------------------------

    def sample(self, path: Sequence[tuple[int, Sequence[int]]], k: int, rule: StopRule,
               temperature: float, generator: torch.Generator) -> list[Sample]:
        """``k`` continuations of ``path``, identical ones merged, most often drawn first,
        then most likely."""
        prompt = [int(t) for _, tokens in path for t in tokens]
        room = self.model.context_length - len(prompt)
        if room < 1:
            raise InputError(f"The path is {len(prompt)} tokens: no room left in the "
                             f"model's context ({self.model.context_length}).")
        if rule.kind == "rollout":
            samples = [self._rollout(prompt, rule, temperature, generator) for _ in range(k)]
        else:
            stop = ["\n"] if rule.kind == "line" else None
            pieces = self._complete(prompt, k, min(rule.max_tokens, room), temperature,
                                    _seed(generator), stop)
            samples = [self._line_sample(prompt, p, rule, temperature, generator)
                       for p in pieces]
        merged: dict[tuple[int, ...], Sample] = {}
        for s in samples:
            key = tuple(s.token_ids)
            if key in merged:
                merged[key].count += s.count
            else:
                merged[key] = s
        done = list(merged.values())
        self.counter.generated += sum(len(s.token_ids) * s.count for s in done)
        self.counter.unique += sum(len(s.token_ids) for s in done)
        done.sort(key=lambda s: (-s.count, -s.logprob))
        return done

    def sample_many(self, requests: Sequence[SampleRequest], temperature: float
                    ) -> list[list[Sample]]:
        """``sample`` for each request in turn (the server batches what it runs at once)."""
        return [self.sample(r.path, r.k, r.rule, temperature, r.generator) for r in requests]

    def _ended(self, piece: _Piece, n_tokens: int, rule: StopRule, prompt_len: int
               ) -> EndReason:
        if piece.finish == "stop":
            return "stop" if piece.stop_string else "eos"
        if n_tokens >= rule.max_tokens:
            return "length"
        if prompt_len + n_tokens >= self.model.context_length:
            return "context"
        if piece.finish == "length":
            return "length"
        raise self._contradiction(f"finish_reason {piece.finish!r}")

    def _next_line(self, prompt: list[int], ids: list[int], rule: StopRule,
                   temperature: float, generator: torch.Generator) -> _Piece:
        """One more line after ``prompt + ids``, within the rule's limit and the context."""
        room = min(rule.max_tokens - len(ids),
                   self.model.context_length - len(prompt) - len(ids))
        return self._complete(prompt + ids, 1, room, temperature, _seed(generator),
                              ["\n"])[0]

    def _line_sample(self, prompt: list[int], piece: _Piece, rule: StopRule,
                     temperature: float, generator: torch.Generator) -> Sample:
        """A step or mini-step. A step that stopped at a newline before any other text goes
        on (the HF backend's rule: a step ends at the first newline after some text)."""
        ids, lps, confs = list(piece.token_ids), list(piece.logprobs), list(piece.confidences)
        top = list(piece.top)
        text = "".join(self.model.token_text(t) for t in ids)
        while (rule.kind == "line" and piece.stop_string and not text.strip()
               and len(ids) < rule.max_tokens
               and len(prompt) + len(ids) < self.model.context_length):
            piece = self._next_line(prompt, ids, rule, temperature, generator)
            ids += piece.token_ids
            lps += piece.logprobs
            confs += piece.confidences
            top += piece.top
            text = "".join(self.model.token_text(t) for t in ids)
        ended = self._ended(piece, len(ids), rule, len(prompt))
        if ended == "stop" and rule.kind == "tokens":
            ended = "eos"
        return Sample(ids, lps, confs, text, 1, ended, top=top)

    def _rollout(self, prompt: list[int], rule: StopRule, temperature: float,
                 generator: torch.Generator) -> Sample:
        """To a final line, a rejected line, EOS or the limit, one line per request."""
        ids: list[int] = []
        lps: list[float] = []
        confs: list[float] = []
        top: list[tuple[tuple[int, float], ...]] = []
        text = ""
        rejected = None
        while True:
            piece = self._next_line(prompt, ids, rule, temperature, generator)
            ids += piece.token_ids
            lps += piece.logprobs
            confs += piece.confidences
            top += piece.top
            text += "".join(self.model.token_text(t) for t in piece.token_ids)
            ended = self._ended(piece, len(ids), rule, len(prompt))
            if ended != "stop":
                break
            line = text.rstrip("\n").rsplit("\n", 1)[-1]
            if rule.is_final_line and rule.is_final_line(line):
                break
            if rule.rejects is not None:
                rejected = rule.rejects(text)
                if rejected is not None:
                    break
            if len(ids) >= rule.max_tokens:
                ended = "length"
                break
            if len(prompt) + len(ids) >= self.model.context_length:
                ended = "context"
                break
        return Sample(ids, lps, confs, text, 1, ended, None, rejected, top)

    def _prompt_logprobs(self, prompts: list[list[int]]) -> list[list[dict[str, Any]]]:
        """Each prompt's ``prompt_logprobs`` (one ``{token id: {logprob}}`` per position
        after the first), from one request (counted as forwarded from its usage)."""
        answer = self.model.completions({
            "prompt": prompts, "max_tokens": 1, "temperature": 0.0,
            "prompt_logprobs": TOP_LOGPROBS})
        choices = answer["choices"]
        if len(choices) != len(prompts):
            raise self._contradiction(f"{len(choices)} choices for {len(prompts)} prompts")
        self._count(answer.get("usage"))
        result = []
        for choice, prompt in zip(sorted(choices, key=lambda c: int(c.get("index", 0))),
                                  prompts, strict=True):
            positions = choice.get("prompt_logprobs")
            if not isinstance(positions, list) or len(positions) != len(prompt):
                raise self._contradiction("prompt_logprobs that do not match the prompt")
            result.append([p if isinstance(p, dict) else {} for p in positions[1:]])
        return result

    def force(self, path: Sequence[tuple[int, Sequence[int]]], token_ids: Sequence[int]
              ) -> Sample:
        """Score given tokens after ``path`` (a reflection line)."""
        prompt = [int(t) for _, tokens in path for t in tokens]
        forced = [int(t) for t in token_ids]
        positions = self._prompt_logprobs([prompt + forced])[0][len(prompt) - 1:]
        logprobs, confidences = [], []
        for token, position in zip(forced, positions, strict=True):
            entry = position.get(str(token))
            if not isinstance(entry, dict) or "logprob" not in entry:
                raise self._contradiction(f"prompt_logprobs without the forced token {token}")
            lp = float(entry["logprob"])
            top = [float(e["logprob"]) for e in position.values()
                   if isinstance(e, dict) and "logprob" in e]
            logprobs.append(lp)
            confidences.append(token_confidence(lp, top))
        self.counter.unique += len(forced)
        return Sample(forced, logprobs, confidences, self.model.decode(forced), 1, "stop")

    def judge(self, prompts: Sequence[str], words: tuple[str, str]) -> list[float]:
        """For each prompt, P(first word) / (P(first) + P(second)) of the next token (each
        word's first token), exactly: ``prompt + word`` is scored with prompt log-probs.
        Memoised per session; forwarded as the server reports it, and otherwise counted as
        the HF backend counts it (the prompt unique, one token generated: the verdict the
        model would write)."""
        first, second = (self.model.encode_continuation(" " + w)[0] for w in words)
        if first == second:
            raise InputError(f"{self.model.name}: the verdict words {words} start with the "
                             "same token, so the model's next token cannot tell them apart.")
        new = [p for p in dict.fromkeys(prompts) if p not in self.judged]
        if new:
            encoded = [self.model.encode_prompt(p) for p in new]
            asked = [ids + [w] for ids in encoded for w in (first, second)]
            answers = self._prompt_logprobs(asked)
            for i, prompt in enumerate(new):
                a = _logprob_of(answers[2 * i][-1], first)
                b = _logprob_of(answers[2 * i + 1][-1], second)
                if a is None or b is None:
                    raise self._contradiction("prompt_logprobs without the verdict token")
                pair = torch.log_softmax(torch.tensor([a, b], dtype=torch.float64), dim=0)
                self.judged[prompt] = float(pair[0].exp())
            self.counter.unique += sum(len(ids) for ids in encoded)
            self.counter.generated += len(new)
            self.counter.judged += len(new)
        return [self.judged[p] for p in prompts]


def _logprob_of(position: dict[str, Any], token: int) -> float | None:
    entry = position.get(str(token))
    if isinstance(entry, dict) and "logprob" in entry:
        return float(entry["logprob"])
    return None


def _seed(generator: torch.Generator) -> int:
    """A request seed drawn from the search's stream (reproducible where the server
    honours seeds)."""
    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
