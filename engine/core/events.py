"""The phase events: the one stream that the live search, storage and replay share.

An iteration is four events: ``Selected``, ``Expanded``, ``Simulated``,
``Backpropagated``. An expansion outside the four-phase cycle (a reflection added by hand,
a beam search step, a user's own step) is an ``Expanded`` event whose ``origin`` says which;
a pin, unpin, prune or restore by hand is a ``Steered`` event, also outside the cycle.
Each event turns into a JSON-ready dict and back without loss;
``engine.core.event_formats.upgrade_event_dict`` reads the dicts that earlier versions wrote.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Phase = Literal["select", "expand", "simulate", "backprop"]
PHASES: tuple[Phase, ...] = ("select", "expand", "simulate", "backprop")
NodeKind = Literal["root", "step", "mini_step", "reflection", "answer"]
NODE_KINDS: tuple[str, ...] = ("root", "step", "mini_step", "reflection", "answer")
ExpansionOrigin = Literal["phase", "reflection_by_hand", "beam", "user"]
EXPANSION_ORIGINS: tuple[str, ...] = ("phase", "reflection_by_hand", "beam", "user")
EndReason = Literal["eos", "stop", "length", "context"]
END_REASONS: tuple[str, ...] = ("eos", "stop", "length", "context")
SteerAction = Literal["pin", "unpin", "prune", "restore"]
STEER_ACTIONS: tuple[str, ...] = ("pin", "unpin", "prune", "restore")
EVENT_FORMAT = 2
"""The dict format ``event_to_dict`` writes (1: ``Expanded.manual``; 2: ``origin``). Format
2 grew two additions that leave every earlier dict as it was: the ``steer`` event and a
score's ``pinned``, written only when set."""
ROOT_ID = 0
"""The root's node id: the prompt, the one node that every path starts at."""


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


@dataclass(frozen=True)
class Selected:
    iteration: int
    path: tuple[int, ...]
    """Node ids from the root to the selected leaf."""
    levels: tuple[SelectionLevel, ...]
    """MCTS: one level per step down the path."""
    candidates: tuple[ScoreBreakdown, ...] = ()
    """MCTSr: every node's score at once (selection compares the whole tree, it does not
    descend), the non-candidates with why; ``levels`` is then empty."""
    round_size: int = 1
    """Parallel MCTS: how many iterations the round this selection belongs to has. A round
    of b iterations is b selections, then b expansions, b simulations and b
    backpropagations, each in iteration order (1: plain MCTS, one iteration at a time)."""
    phase: Phase = field(default="select", init=False)


@dataclass(frozen=True)
class Expanded:
    iteration: int
    node: int
    children: tuple[ChildSpec, ...]
    reason: str
    """Why these children (or none): shown by the teaching panel."""
    origin: ExpansionOrigin = "phase"
    """``phase``: the expansion phase of iteration ``iteration``; anything else happened
    between iterations, outside the four-phase cycle: ``reflection_by_hand`` (a user added
    a reflection), ``beam`` (a beam-search step), ``user`` (a user's own step)."""
    tokens: TokenCounts | None = None
    """Cumulative cost after this event (``None`` in runs saved before it was recorded)."""
    phase: Phase = field(default="expand", init=False)

    @property
    def in_cycle(self) -> bool:
        """Whether this is an iteration's expansion phase (not an out-of-cycle addition)."""
        return self.origin == "phase"


@dataclass(frozen=True)
class Simulated:
    iteration: int
    node: int
    rollout: Rollout
    tokens: TokenCounts | None = None
    """Cumulative cost after this event (``None`` in runs saved before it was recorded)."""
    phase: Phase = field(default="simulate", init=False)


@dataclass(frozen=True)
class Backpropagated:
    iteration: int
    path: tuple[int, ...]
    value: float
    tokens: TokenCounts
    """Cumulative cost after this iteration."""
    q_after: tuple[float, ...] | None = None
    """MCTSr: each path node's Q after its backup rule (``engine.core.mctsr``), root
    first; ``None`` for MCTS, whose Q is the mean value ``value_sum / visits``."""
    phase: Phase = field(default="backprop", init=False)


@dataclass(frozen=True)
class Steered:
    """A user's hand on the search, outside the four-phase cycle: ``pin`` a node's value
    (selection then uses ``value`` as its Q), ``unpin`` it, ``prune`` its subtree (selection
    never enters it) or ``restore`` it. Backpropagation is unchanged by either."""

    iteration: int
    """The iterations completed when it happened (``Tree.iterations_done``)."""
    node: int
    action: SteerAction
    value: float | None = None
    """The pinned value, in [0, 1] (``pin`` only)."""
    phase: Literal["steer"] = field(default="steer", init=False)


Event = Selected | Expanded | Simulated | Backpropagated | Steered


def _json_float(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _float(x: Any) -> float:
    if isinstance(x, str):
        if x in ("inf", "-inf"):
            return math.inf if x == "inf" else -math.inf
        raise ValueError(f"not a number: {x!r}")
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise ValueError(f"not a number: {x!r}")
    return float(x)


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict (infinities written as strings)."""
    raw = asdict(event)
    if isinstance(event, Selected):
        for score in [*(s for level in raw["levels"] for s in level["scores"]),
                      *raw["candidates"]]:
            for key in ("exploitation", "exploration", "total", "prior"):
                score[key] = _json_float(score[key])
            # Written only when set, so that plain MCTS's dicts stay as they were.
            if score["pinned"] is None:
                del score["pinned"]
            if not score["virtual_loss"]:
                del score["virtual_loss"]
        if raw["round_size"] == 1:
            del raw["round_size"]
    return raw


def event_from_dict(raw: dict[str, Any]) -> Event:
    """Rebuild an event from ``event_to_dict``'s output; raise ``ValueError`` if malformed."""
    if not isinstance(raw, dict):
        raise ValueError(f"an event must be an object, not {type(raw).__name__}")
    try:
        phase = raw["phase"]
        it = int(raw["iteration"])
        if phase == "select":
            levels = tuple(_level_from_dict(lv) for lv in raw["levels"])
            candidates = tuple(_score_from_dict(s) for s in raw.get("candidates") or ())
            return Selected(it, tuple(int(n) for n in raw["path"]), levels, candidates,
                            int(raw.get("round_size", 1)))
        if phase == "expand":
            children = tuple(_child_from_dict(c) for c in raw["children"])
            return Expanded(it, int(raw["node"]), children, _str(raw["reason"]),
                            _origin(raw["origin"]), _tokens(raw.get("tokens")))
        if phase == "simulate":
            return Simulated(it, int(raw["node"]), _rollout_from_dict(raw["rollout"]),
                             _tokens(raw.get("tokens")))
        if phase == "backprop":
            tokens = _tokens(raw["tokens"])
            if tokens is None:
                raise ValueError("a backprop event needs its token counts")
            q_after = raw.get("q_after")
            return Backpropagated(it, tuple(int(n) for n in raw["path"]),
                                  _float(raw["value"]), tokens,
                                  None if q_after is None
                                  else tuple(_float(q) for q in q_after))
        if phase == "steer":
            action = raw["action"]
            if action not in STEER_ACTIONS:
                raise ValueError(f"unknown steer action {action!r}")
            return Steered(it, int(raw["node"]), action, _optional_float(raw["value"]))
    except (KeyError, TypeError) as err:
        raise ValueError(f"malformed {raw.get('phase', '?')} event: {err}") from err
    raise ValueError(f"unknown phase {phase!r}")


def _score_from_dict(s: dict[str, Any]) -> ScoreBreakdown:
    return ScoreBreakdown(
        child=int(s["child"]), exploitation=_float(s["exploitation"]),
        exploration=_float(s["exploration"]), total=_float(s["total"]),
        visits=int(s["visits"]), prior=_float(s["prior"]),
        excluded=_optional_str(s.get("excluded")), pinned=_optional_float(s.get("pinned")),
        virtual_loss=int(s.get("virtual_loss", 0)),
    )


def _level_from_dict(lv: dict[str, Any]) -> SelectionLevel:
    scores = tuple(_score_from_dict(s) for s in lv["scores"])
    return SelectionLevel(parent=int(lv["parent"]), parent_visits=int(lv["parent_visits"]),
                          chosen=int(lv["chosen"]), scores=scores)


def _rollout_from_dict(r: dict[str, Any]) -> Rollout:
    return Rollout(
        text=_str(r["text"]),
        tokens=tuple(_str(t) for t in r["tokens"]),
        confidences=tuple(_float(c) for c in r["confidences"]),
        value=_float(r["value"]),
        answer=None if r["answer"] is None else _str(r["answer"]),
        verdict=_verdict(r["verdict"]),
        reward=_str(r["reward"]),
        stopped=_optional_str(r.get("stopped")),
        reward_value=_optional_float(r.get("reward_value")),
        state_value=_optional_float(r.get("state_value")),
        rewards=tuple(_float(x) for x in r.get("rewards") or ()),
    )


def _str(x: Any) -> str:
    if not isinstance(x, str):
        raise ValueError(f"expected text, got {type(x).__name__}")
    return x


def _optional_float(x: Any) -> float | None:
    return None if x is None else _float(x)


def _optional_str(x: Any) -> str | None:
    return None if x is None else _str(x)


def _tokens(t: Any) -> TokenCounts | None:
    if t is None:
        return None
    return TokenCounts(int(t["forwarded"]), int(t["unique"]), int(t["generated"]),
                       int(t.get("judged", 0)), int(t.get("discarded", 0)))


def _origin(x: Any) -> ExpansionOrigin:
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


def _child_from_dict(c: dict[str, Any]) -> ChildSpec:
    kind = c["kind"]
    if kind not in NODE_KINDS:
        raise ValueError(f"unknown node kind {kind!r}")
    return ChildSpec(
        id=int(c["id"]),
        kind=kind,
        text=_str(c["text"]),
        token_ids=tuple(int(t) for t in c["token_ids"]),
        prior=_float(c["prior"]),
        count=int(c["count"]),
        confidences=tuple(_float(x) for x in c["confidences"]),
        terminal=_bool(c["terminal"]),
        answer=None if c["answer"] is None else _str(c["answer"]),
        verdict=_verdict(c["verdict"]),
        ended=_ended(c.get("ended")),
        value=_optional_float(c.get("value")),
        dead=_optional_str(c.get("dead")),
        critique=_optional_str(c.get("critique")),
        critique_tokens=int(c.get("critique_tokens") or 0),
        placeholder=_bool(c.get("placeholder", False)),
    )
