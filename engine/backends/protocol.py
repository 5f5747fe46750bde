"""What a search needs from a language model: the backend protocol and its value types.

A backend (the local Hugging Face model in ``hf``; later an OpenAI-compatible server) is
loaded once and shared; each search opens a *session* on it, which samples continuations of
tree paths, scores forced text (a reflection line) and counts the tokens it spends.

A path is given as ``(node_id, token_ids)`` pairs from the root (the prompt) down, so that a
backend may keep per-node state (a KV cache) keyed by node id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch

from engine.core.events import EndReason

Path = Sequence[tuple[int, Sequence[int]]]
"""``(node_id, token_ids)`` from the root down; the root's tokens are the prompt."""

StopKind = Literal["line", "tokens", "rollout"]

@dataclass(frozen=True)
class StopRule:
    """When a sample ends: after a line (a step), after ``max_tokens`` (a mini-step), or at
    a final line / the end of text (a rollout). Every rule also stops at EOS."""

    kind: StopKind
    max_tokens: int
    is_final_line: Callable[[str], bool] | None = None
    rejects: Callable[[str], str | None] | None = None
    """Rollouts: given the sample's text up to a finished line, why that line is rejected
    (the sample stops there, ``Sample.rejected`` says why), or ``None`` to go on."""


@dataclass
class Sample:
    """One generated continuation."""

    token_ids: list[int]
    logprobs: list[float]
    """Log-probability of each chosen token under the model (temperature 1)."""
    confidences: list[float]
    text: str
    count: int
    """How many of the requested samples are this exact continuation."""
    ended: EndReason
    """``eos``, ``stop``, ``length`` or ``context``."""
    state: Any = None
    """Backend state after the sample (a KV cache), kept only when cache reuse is on."""
    rejected: str | None = None
    """Why ``StopRule.rejects`` stopped the sample at its last line, or ``None``."""
    top: list[tuple[tuple[int, float], ...]] = field(default_factory=list)
    """For each sampled token, the model's 5 most likely tokens at that position as
    ``(token id, probability at temperature 1)``, most likely first (empty where the
    backend did not give them: forced text)."""

    @property
    def logprob(self) -> float:
        return float(sum(self.logprobs))


@dataclass(frozen=True)
class SampleRequest:
    """One path's share of a batch (``BackendSession.sample_many``): ``k`` continuations
    of ``path`` under ``rule``, drawn from ``generator``."""

    path: Path
    k: int
    rule: StopRule
    generator: torch.Generator


@dataclass
class TokenCounter:
    """A session's running cost (``engine.core.events.TokenCounts`` says what each is)."""

    forwarded: int = 0
    unique: int = 0
    generated: int = 0
    judged: int = 0
    discarded: int = 0



class BackendSession(Protocol):
    """One search's use of a model: sampling, forced scoring and token counts."""

    counter: TokenCounter

    def count_unique(self, n: int) -> None:
        """Add tokens that belong to the tree (the prompt) to the unique count."""
        ...

    def sample(self, path: Path, k: int, rule: StopRule, temperature: float,
               generator: torch.Generator) -> list[Sample]:
        """``k`` continuations of ``path``, identical ones merged, most likely first."""
        ...

    def sample_many(self, requests: Sequence[SampleRequest], temperature: float
                    ) -> list[list[Sample]]:
        """``sample`` for several paths at once (parallel MCTS): one list per request, as
        ``sample`` would give it. A backend may batch them (the Hugging Face session runs
        them as one batch); the results do not depend on how."""
        ...

    def force(self, path: Path, token_ids: Sequence[int]) -> Sample:
        """Score given tokens after ``path`` (e.g. the reflection line)."""
        ...

    def judge(self, prompts: Sequence[str], words: tuple[str, str]) -> list[float]:
        """For each prompt, the model's P(first word) / (P(first) + P(second)) as its next
        token: a self-evaluation. Counted in the token counters."""
        ...

    def remember(self, node_id: int, state: Any) -> None:
        """Keep a sample's state as node ``node_id``'s, for its descendants."""
        ...


class Backend(Protocol):
    """A loaded language model that searches share."""

    name: str
    fingerprint: str
    chat: bool
    context_length: int

    def encode_prompt(self, prompt: str) -> list[int]:
        """Token ids of the prompt (wrapped in the chat template for instruct models)."""
        ...

    def encode_continuation(self, text: str) -> list[int]:
        """Token ids of text that continues a path (no special tokens)."""
        ...

    def decode(self, token_ids: Sequence[int]) -> str:
        """Text of token ids (special tokens dropped)."""
        ...

    def token_text(self, token_id: int) -> str:
        """Text of one token."""
        ...

    def new_session(self, reuse: bool = True, budget_bytes: int = 512 << 20) -> BackendSession:
        """A session for one search (``reuse``: keep per-node state under the byte budget)."""
        ...
