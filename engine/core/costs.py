"""Where the tokens and the time went: each event's cost, a node's, each phase's.

Every event that spends tokens carries the search's cumulative ``TokenCounts`` after it
(``Expanded``, ``Simulated``, ``Backpropagated``); a ``Selected`` or ``Steered`` event
spends none. An event's tokens are therefore the difference between its counts and those
of the last earlier event that carried counts. A parallel round's phase is one batch whose
events all carry the counts after the whole batch, so the batch's tokens fall on its first
event (its time, ``ms``, is split evenly over them when they are made: ``stamped``).
Events saved before a field was recorded (no counts, no ``ms``) cost 0 and ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, TypeVar

from engine.core.events import (
    PHASES,
    Event,
    Expanded,
    Phase,
    Selected,
    Simulated,
    Steered,
    TokenCounts,
)

CostPhase = Phase | Literal["by hand"]
COST_PHASES: tuple[CostPhase, ...] = (*PHASES, "by hand")
"""The four phases, and "by hand": whatever happened outside the four-phase cycle (a
user's step or steer, a reflection added by hand, a beam step)."""

E = TypeVar("E", bound=Event)


def stamped(events: Sequence[E], seconds: float) -> list[E]:
    """``events``, computed together in ``seconds`` of wall time, each carrying an even
    share of it as ``ms``."""
    share = seconds * 1000.0 / len(events) if events else 0.0
    return [replace(e, ms=share) for e in events]


@dataclass(frozen=True)
class EventCost:
    """One event's cost."""

    index: int
    """The event's position in the run's stream."""
    iteration: int
    phase: CostPhase
    generated: int
    """Tokens the model produced for this event (``TokenCounts.generated``)."""
    forwarded: int
    """Tokens run through the model for this event (``TokenCounts.forwarded``)."""
    ms: float | None
    """Wall time spent computing it (``None``: not recorded)."""


def cost_phase(event: Event) -> CostPhase:
    """The phase an event's cost is counted under."""
    if isinstance(event, Steered) or (isinstance(event, Expanded) and not event.in_cycle):
        return "by hand"
    return event.phase


def event_costs(events: Sequence[Event]) -> list[EventCost]:
    """Each event's tokens (the difference of cumulative counts) and time, in order."""
    last = TokenCounts()
    costs = []
    for i, event in enumerate(events):
        tokens = None if isinstance(event, Selected | Steered) else event.tokens
        generated = forwarded = 0
        if tokens is not None:
            generated = tokens.generated - last.generated
            forwarded = tokens.forwarded - last.forwarded
            last = tokens
        costs.append(EventCost(i, event.iteration, cost_phase(event), generated, forwarded,
                               event.ms))
    return costs


@dataclass(frozen=True)
class PhaseCost:
    """One phase's total over one iteration (events of the same iteration and phase)."""

    iteration: int
    phase: CostPhase
    generated: int
    forwarded: int
    ms: float
    """Recorded time only (events without ``ms`` add 0)."""
    events: int


def phase_costs(events: Sequence[Event]) -> list[PhaseCost]:
    """Per-phase totals per iteration, by iteration, then in ``COST_PHASES`` order; an
    out-of-cycle event counts under "by hand" at the iterations completed when it came."""
    totals: dict[tuple[int, CostPhase], list[float]] = {}
    for c in event_costs(events):
        row = totals.setdefault((c.iteration, c.phase), [0, 0, 0.0, 0])
        row[0] += c.generated
        row[1] += c.forwarded
        row[2] += c.ms or 0.0
        row[3] += 1
    order = {p: i for i, p in enumerate(COST_PHASES)}
    return [PhaseCost(it, phase, int(row[0]), int(row[1]), float(row[2]), int(row[3]))
            for (it, phase), row in sorted(totals.items(),
                                           key=lambda kv: (kv[0][0], order[kv[0][1]]))]


@dataclass(frozen=True)
class NodeCost:
    """What one node cost: the tokens generated for it and its rollouts, and the time of
    the events that made it and simulated from it."""

    generated: int
    """Its own tokens (times the identical samples merged into it), its critique's (MCTSr)
    and its rollouts' tokens."""
    ms: float | None
    """The time of the expansion that created it (shared with the siblings it created)
    plus its simulations'; ``None`` where none was recorded."""
    expansion_ms: float | None
    simulation_ms: float | None
    simulations: int


def node_cost(events: Sequence[Event], node_id: int) -> NodeCost:
    """``node_id``'s cost, from the events that created and simulated it."""
    generated = 0
    expansion: float | None = None
    simulation: float | None = None
    simulations = 0
    for event in events:
        if isinstance(event, Expanded):
            for child in event.children:
                if child.id == node_id:
                    generated += len(child.token_ids) * child.count + child.critique_tokens
                    expansion = _add(expansion, event.ms)
        elif isinstance(event, Simulated) and event.node == node_id:
            generated += len(event.rollout.tokens)
            simulation = _add(simulation, event.ms)
            simulations += 1
    total = None if expansion is None and simulation is None else \
        (expansion or 0.0) + (simulation or 0.0)
    return NodeCost(generated, total, expansion, simulation, simulations)


def _add(total: float | None, ms: float | None) -> float | None:
    return total if ms is None else (total or 0.0) + ms
