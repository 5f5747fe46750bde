"""The parts of phase events (``engine.core.events``): scores, token counts, new children,
rollouts, and how each is read back from its JSON-ready dict."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

NodeKind = Literal["root", "step", "mini_step", "reflection", "answer"]
NODE_KINDS: tuple[str, ...] = ("root", "step", "mini_step", "reflection", "answer")
ExpansionOrigin = Literal["phase", "reflection_by_hand", "beam", "user"]
EXPANSION_ORIGINS: tuple[str, ...] = ("phase", "reflection_by_hand", "beam", "user")
EndReason = Literal["eos", "stop", "length", "context"]
END_REASONS: tuple[str, ...] = ("eos", "stop", "length", "context")
TokenTop = tuple[tuple[str, float], ...]
"""One generated token's most likely alternatives under the model (temperature 1), most
likely first: ``(token text, probability)``, at most 5 (``ChildSpec.top``, ``Rollout.top``)."""


@dataclass(frozen=True)
class ScoreBreakdown:
    """How one child scored at one level of selection."""

    child: int
    """The child's node id."""
    exploitation: float
    """The Q term (0 for an unvisited child)."""
    exploration: float
    """The exploration bonus; ``inf`` for an unvisited child under UCT."""
    total: float
    """exploitation + exploration: the score compared between siblings."""
    visits: int
    """The child's visits when it was scored."""
    prior: float
    """The prior probability used (PUCT: normalised among siblings; UCT: the same, shown)."""
    excluded: str | None = None
    """Why selection may not take this child (e.g. its answer is final and already
    counted), or ``None`` when it competes."""
    virtual_loss: int = 0
    """Parallel MCTS: selections earlier in the same round whose paths pass through this
    child. Each counts as a visit of value 0 in the scores above (``visits`` includes
    them), so that the round's selections spread out; backpropagation replaces them."""
    pinned: float | None = None
    """The value a user pinned on this child (``Steered``), which is then its Q term
    (``exploitation``); ``None`` when its Q is its own."""


@dataclass(frozen=True)
class SelectionLevel:
    """One level of the selected path: every sibling's score and the winner."""

    parent: int
    parent_visits: int
    scores: tuple[ScoreBreakdown, ...]
    chosen: int


@dataclass(frozen=True)
class TokenCounts:
    """Cumulative model cost of a search."""

    forwarded: int = 0
    """Every token run through the model, prefill and recomputation included."""
    unique: int = 0
    """The prompt plus every node's and rollout's own tokens."""
    generated: int = 0
    """Tokens the model produced: children and rollouts (each sample times its
    multiplicity), plus one verdict token per self-evaluation."""
    judged: int = 0
    """Self-evaluation verdicts drawn (each: one verdict token generated; its prompt
    forwarded once, the first time it is asked). MCTSr draws ``reward_samples`` per
    answer."""
    discarded: int = 0
    """Generated tokens of samples dropped because they repeated an existing child."""


@dataclass(frozen=True)
class ChildSpec:
    """A new node created by an expansion."""

    id: int
    kind: NodeKind
    text: str
    token_ids: tuple[int, ...]
    prior: float
    """Log-probability of the node's tokens under the model, given its prefix."""
    count: int
    """How many of the k samples gave exactly this text (identical siblings merged)."""
    confidences: tuple[float, ...]
    """Marco-o1 confidence of each of the node's tokens."""
    terminal: bool
    answer: str | None
    verdict: bool | None
    ended: EndReason | None = None
    """How the model's sample ended (``eos``: the model stopped; ``stop``: end of a step or
    answer line; ``length``: the step limit; ``context``: the context was full); ``None``
    for text the model did not sample (a reflection line)."""
    value: float | None = None
    """The state's value under the search's evaluator (``SearchConfig.evaluator``), in
    [0, 1]; ``None`` where that evaluator says nothing about this state."""
    dead: str | None = None
    """Why the task's step check rejected this step (a dead branch), or ``None``."""
    critique: str | None = None
    """MCTSr: the critique this answer rewrites its parent's with (the reflection line for
    a model trained on it, the model's own critique for a chat model); ``None`` elsewhere."""
    placeholder: bool = False
    """An answer the model did not write, standing in for one (MCTSr's dummy answer): it
    is never reported as the search's answer."""
    critique_tokens: int = 0
    """MCTSr: tokens the model generated for the critique (0 for the reflection line,
    which is given, not generated)."""
    top: tuple[TokenTop, ...] = ()
    """Each token's top-5 alternatives with their probabilities, when the model sampled
    the node (``()`` for runs saved before they were recorded, and for text not sampled)."""
    token_texts: tuple[str, ...] = ()
    """The text of each of ``token_ids``, kept with ``top`` (to show each token beside its
    alternatives); ``()`` where ``top`` is."""


@dataclass(frozen=True)
class Rollout:
    """One simulation from a node: the text generated and how it was scored."""

    text: str
    tokens: tuple[str, ...]
    """The rollout's tokens as text, for colouring by confidence."""
    confidences: tuple[float, ...]
    value: float
    answer: str | None
    verdict: bool | None
    reward: str
    """Which reward decided the value: ``confidence`` or ``verifier``."""
    stopped: str | None = None
    """Why the rollout was cut short: its first step that the step check rejected."""
    reward_value: float | None = None
    """The rollout's own reward before mixing (``None``: no rollout was run)."""
    state_value: float | None = None
    """The leaf's state value used in ``value`` (``None``: not used)."""
    rewards: tuple[float, ...] = ()
    """MCTSr: the sampled self-rewards; ``value`` is ``(min + mean) / 2`` of them."""
    top: tuple[TokenTop, ...] = ()
    """Each rollout token's top-5 alternatives with their probabilities (``()``: not
    recorded)."""


def json_float(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def parse_float(x: Any) -> float:
    if isinstance(x, str):
        if x in ("inf", "-inf"):
            return math.inf if x == "inf" else -math.inf
        raise ValueError(f"not a number: {x!r}")
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise ValueError(f"not a number: {x!r}")
    return float(x)


def score_from_dict(s: dict[str, Any]) -> ScoreBreakdown:
    return ScoreBreakdown(
        child=int(s["child"]), exploitation=parse_float(s["exploitation"]),
        exploration=parse_float(s["exploration"]), total=parse_float(s["total"]),
        visits=int(s["visits"]), prior=parse_float(s["prior"]),
        excluded=optional_str(s.get("excluded")), pinned=optional_float(s.get("pinned")),
        virtual_loss=int(s.get("virtual_loss", 0)),
    )


def level_from_dict(lv: dict[str, Any]) -> SelectionLevel:
    scores = tuple(score_from_dict(s) for s in lv["scores"])
    return SelectionLevel(parent=int(lv["parent"]), parent_visits=int(lv["parent_visits"]),
                          chosen=int(lv["chosen"]), scores=scores)


def rollout_from_dict(r: dict[str, Any]) -> Rollout:
    return Rollout(
        text=parse_str(r["text"]),
        tokens=tuple(parse_str(t) for t in r["tokens"]),
        confidences=tuple(parse_float(c) for c in r["confidences"]),
        value=parse_float(r["value"]),
        answer=None if r["answer"] is None else parse_str(r["answer"]),
        verdict=_verdict(r["verdict"]),
        reward=parse_str(r["reward"]),
        stopped=optional_str(r.get("stopped")),
        reward_value=optional_float(r.get("reward_value")),
        state_value=optional_float(r.get("state_value")),
        rewards=tuple(parse_float(x) for x in r.get("rewards") or ()),
        top=top_from_dict(r.get("top")),
    )


def parse_str(x: Any) -> str:
    if not isinstance(x, str):
        raise ValueError(f"expected text, got {type(x).__name__}")
    return x


def optional_float(x: Any) -> float | None:
    return None if x is None else parse_float(x)


def optional_str(x: Any) -> str | None:
    return None if x is None else parse_str(x)


def tokens_from_dict(t: Any) -> TokenCounts | None:
    if t is None:
        return None
    return TokenCounts(int(t["forwarded"]), int(t["unique"]), int(t["generated"]),
                       int(t.get("judged", 0)), int(t.get("discarded", 0)))


def parse_origin(x: Any) -> ExpansionOrigin:
    if x not in EXPANSION_ORIGINS:
        raise ValueError(f"unknown expansion origin {x!r}")
    return x  # type: ignore[no-any-return]


def _ended(x: Any) -> EndReason | None:
    if x is not None and x not in END_REASONS:
        raise ValueError(f"unknown end reason {x!r}")
    return x  # type: ignore[no-any-return]


def _bool(x: Any) -> bool:
    if not isinstance(x, bool):
        raise ValueError(f"expected true or false, got {x!r}")
    return x


def _verdict(x: Any) -> bool | None:
    if x is None or isinstance(x, bool):
        return x
    raise ValueError(f"verdict must be true, false or null, not {x!r}")


def child_from_dict(c: dict[str, Any]) -> ChildSpec:
    kind = c["kind"]
    if kind not in NODE_KINDS:
        raise ValueError(f"unknown node kind {kind!r}")
    return ChildSpec(
        id=int(c["id"]),
        kind=kind,
        text=parse_str(c["text"]),
        token_ids=tuple(int(t) for t in c["token_ids"]),
        prior=parse_float(c["prior"]),
        count=int(c["count"]),
        confidences=tuple(parse_float(x) for x in c["confidences"]),
        terminal=_bool(c["terminal"]),
        answer=None if c["answer"] is None else parse_str(c["answer"]),
        verdict=_verdict(c["verdict"]),
        ended=_ended(c.get("ended")),
        value=optional_float(c.get("value")),
        dead=optional_str(c.get("dead")),
        critique=optional_str(c.get("critique")),
        critique_tokens=int(c.get("critique_tokens") or 0),
        placeholder=_bool(c.get("placeholder", False)),
        top=top_from_dict(c.get("top")),
        token_texts=tuple(parse_str(t) for t in c.get("token_texts") or ()),
    )


TOP_SEPARATOR = "\x1f"
"""Joins the alternatives' texts in the flat form of ``top`` (``top_to_dict``)."""


def top_to_dict(top: Any) -> Any:
    """``ChildSpec.top`` / ``Rollout.top`` as stored: ``{"width": w, "texts": "a\x1fb...",
    "p": [...]}``, every token's w alternatives one after another. A run holds hundreds of
    thousands of them, and one string and one list per node decode about four times faster
    than a small list per alternative (a 1,000-iteration replay went from 1.2 s to under
    the second its target allows). Tokens with unequal numbers of alternatives, or a text
    containing the separator, keep the nested form ``[[[text, p], ...], ...]``, which
    ``top_from_dict`` also reads (runs saved before)."""
    if not top:
        return top
    widths = {len(token) for token in top}
    texts = [text for token in top for text, _ in token]
    if len(widths) != 1 or any(TOP_SEPARATOR in text for text in texts):
        return [[list(pair) for pair in token] for token in top]
    return {"width": widths.pop(), "texts": TOP_SEPARATOR.join(texts),
            "p": [p for token in top for _, p in token]}


def top_from_dict(raw: Any) -> tuple[TokenTop, ...]:
    """``ChildSpec.top`` / ``Rollout.top`` from either stored form (absent: ``()``)."""
    if raw is None:
        return ()
    if isinstance(raw, dict):
        width, texts, probs = int(raw["width"]), parse_str(raw["texts"]).split(TOP_SEPARATOR), \
            raw["p"]
        if width < 1 or not isinstance(probs, list) or len(texts) != len(probs) \
                or len(probs) % width:
            raise ValueError("malformed token alternatives")
        if not all(type(p) is float for p in probs):
            probs = [parse_float(p) for p in probs]
        pairs = list(zip(texts, probs, strict=True))
        return tuple(tuple(pairs[i:i + width]) for i in range(0, len(pairs), width))
    return tuple(tuple((parse_str(text), parse_float(p)) for text, p in token)
                 for token in raw)


def drop_unset(raw: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``raw`` without ``keys`` whose value is unset (``None``, empty), so that a field
    written only when set leaves older dicts as they were."""
    for key in keys:
        if key in raw and (raw[key] is None or raw[key] in ((), [])):
            del raw[key]
    return raw
