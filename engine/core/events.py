"""The phase events: the one stream that the live search, storage and replay share.

An iteration is four events: ``Selected``, ``Expanded``, ``Simulated``,
``Backpropagated``. An expansion outside the four-phase cycle (a reflection added by hand,
a beam search step, a user's own step) is an ``Expanded`` event whose ``origin`` says which;
a pin, unpin, prune or restore by hand is a ``Steered`` event, also outside the cycle.
Each event turns into a JSON-ready dict and back without loss;
``engine.core.event_formats.upgrade_event_dict`` reads the dicts that earlier versions wrote.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from engine.core.event_parts import (
    END_REASONS,
    EXPANSION_ORIGINS,
    NODE_KINDS,
    ChildSpec,
    EndReason,
    ExpansionOrigin,
    NodeKind,
    Rollout,
    ScoreBreakdown,
    SelectionLevel,
    TokenCounts,
    TokenTop,
    child_from_dict,
    drop_unset,
    json_float,
    level_from_dict,
    optional_float,
    parse_float,
    parse_origin,
    parse_str,
    rollout_from_dict,
    score_from_dict,
    tokens_from_dict,
    top_to_dict,
)

__all__ = [
    "END_REASONS", "EVENT_FORMAT", "EXPANSION_ORIGINS", "NODE_KINDS", "PHASES", "ROOT_ID",
    "STEER_ACTIONS", "Backpropagated", "ChildSpec", "EndReason", "Event", "Expanded",
    "ExpansionOrigin", "NodeKind", "Phase", "Rollout", "ScoreBreakdown", "SelectionLevel",
    "Selected", "Simulated", "SteerAction", "Steered", "TokenCounts", "TokenTop",
    "event_from_dict", "event_to_dict",
]

Phase = Literal["select", "expand", "simulate", "backprop"]
PHASES: tuple[Phase, ...] = ("select", "expand", "simulate", "backprop")
SteerAction = Literal["pin", "unpin", "prune", "restore"]
STEER_ACTIONS: tuple[str, ...] = ("pin", "unpin", "prune", "restore")
EVENT_FORMAT = 2
"""The dict format ``event_to_dict`` writes (1: ``Expanded.manual``; 2: ``origin``). Format
2 grew additions that leave every earlier dict as it was, each written only when set: the
``steer`` event, a score's ``pinned``, an event's ``ms``, a child's or rollout's ``top``
(flat since 2026-11-26, ``event_parts.top_to_dict``; the nested form before it is still
read) and a child's ``token_texts``."""

ROOT_ID = 0
"""The root's node id: the prompt, the one node that every path starts at."""


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
    ms: float | None = field(default=None, compare=False)
    """Wall time, in milliseconds, that the search spent computing this event (``None``
    in runs saved before it was recorded). Where a parallel round computes a phase for all
    its iterations as one batch, the batch's time is split evenly over its events. Not
    compared: equal events may take different times."""
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
    ms: float | None = field(default=None, compare=False)
    """Wall time spent computing this event (``Selected.ms``)."""
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
    ms: float | None = field(default=None, compare=False)
    """Wall time spent computing this event (``Selected.ms``)."""
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
    ms: float | None = field(default=None, compare=False)
    """Wall time spent computing this event (``Selected.ms``)."""
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
    ms: float | None = field(default=None, compare=False)
    """Wall time spent computing this event (``Selected.ms``)."""
    phase: Literal["steer"] = field(default="steer", init=False)


Event = Selected | Expanded | Simulated | Backpropagated | Steered


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict (infinities written as strings)."""
    raw = asdict(event)
    if isinstance(event, Selected):
        for score in [*(s for level in raw["levels"] for s in level["scores"]),
                      *raw["candidates"]]:
            for key in ("exploitation", "exploration", "total", "prior"):
                score[key] = json_float(score[key])
            # Written only when set, so that plain MCTS's dicts stay as they were.
            if score["pinned"] is None:
                del score["pinned"]
            if not score["virtual_loss"]:
                del score["virtual_loss"]
        if raw["round_size"] == 1:
            del raw["round_size"]
    for child in raw.get("children", ()):
        child["top"] = top_to_dict(child["top"])
        drop_unset(child, "top", "token_texts")
    if "rollout" in raw:
        raw["rollout"]["top"] = top_to_dict(raw["rollout"]["top"])
        drop_unset(raw["rollout"], "top")
    return drop_unset(raw, "ms")


def event_from_dict(raw: dict[str, Any]) -> Event:
    """Rebuild an event from ``event_to_dict``'s output; raise ``ValueError`` if malformed."""
    if not isinstance(raw, dict):
        raise ValueError(f"an event must be an object, not {type(raw).__name__}")
    try:
        phase = raw["phase"]
        it = int(raw["iteration"])
        ms = optional_float(raw.get("ms"))
        if phase == "select":
            levels = tuple(level_from_dict(lv) for lv in raw["levels"])
            candidates = tuple(score_from_dict(s) for s in raw.get("candidates") or ())
            return Selected(it, tuple(int(n) for n in raw["path"]), levels, candidates,
                            int(raw.get("round_size", 1)), ms=ms)
        if phase == "expand":
            children = tuple(child_from_dict(c) for c in raw["children"])
            return Expanded(it, int(raw["node"]), children, parse_str(raw["reason"]),
                            parse_origin(raw["origin"]), tokens_from_dict(raw.get("tokens")),
                            ms=ms)
        if phase == "simulate":
            return Simulated(it, int(raw["node"]), rollout_from_dict(raw["rollout"]),
                             tokens_from_dict(raw.get("tokens")), ms=ms)
        if phase == "backprop":
            tokens = tokens_from_dict(raw["tokens"])
            if tokens is None:
                raise ValueError("a backprop event needs its token counts")
            q_after = raw.get("q_after")
            return Backpropagated(it, tuple(int(n) for n in raw["path"]),
                                  parse_float(raw["value"]), tokens,
                                  None if q_after is None
                                  else tuple(parse_float(q) for q in q_after), ms=ms)
        if phase == "steer":
            action = raw["action"]
            if action not in STEER_ACTIONS:
                raise ValueError(f"unknown steer action {action!r}")
            return Steered(it, int(raw["node"]), action, optional_float(raw["value"]), ms=ms)
    except (KeyError, TypeError) as err:
        raise ValueError(f"malformed {raw.get('phase', '?')} event: {err}") from err
    raise ValueError(f"unknown phase {phase!r}")
