"""What the phase just run touched, from its event (drawn on top of the tree): pure, no
Streamlit.

Under MCTS a node's Q is the mean value ``W / N``, so its Q before a backup follows from the
tree after it. Under MCTSr Q is what the backup rule left (``Backpropagated.q_after``), so
the Q before is the one the previous backup through the node carried (``history``, the
events before this one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.web.mctsr_view import previous_q
from engine.core.events import (
    Backpropagated,
    Event,
    Expanded,
    ExpansionOrigin,
    Phase,
    Selected,
    Simulated,
    Steered,
)
from engine.core.tree import Tree


@dataclass(frozen=True)
class Change:
    """How one node's statistics moved in the phase just run."""

    visits_before: int
    q_before: float | None
    """``None`` when the node had no visit before: Q is undefined at N = 0."""
    visits_after: int
    q_after: float


@dataclass(frozen=True)
class Highlight:
    """What the phase just run touched (drawn on top of the tree)."""

    phase: Phase | None = None
    path: tuple[int, ...] = ()
    """The selected path (select, expand) or the backed-up path (backprop)."""
    new_children: tuple[int, ...] = ()
    rolled_out: int | None = None
    """The node simulated from (simulate)."""
    changed: dict[int, Change] = field(default_factory=dict)
    """Nodes whose N and Q changed (backprop), with the change."""
    origin: ExpansionOrigin | None = None
    """An expansion's origin (``Expanded.origin``); ``None`` for the other phases."""

    @property
    def edges(self) -> set[tuple[int, int]]:
        return set(zip(self.path, self.path[1:], strict=False))


def highlight_for(tree: Tree, event: Event | None,
                  history: Sequence[Event] = ()) -> Highlight:
    """The highlight of ``event``, the last event applied to ``tree`` (None: nothing);
    ``history``: the run's events (an MCTSr backup's Q before is read from them)."""
    if event is None:
        return Highlight()
    if isinstance(event, Selected):
        return Highlight("select", path=event.path)
    if isinstance(event, Expanded):
        path = tuple(tree.path_to(event.node))
        ids = tuple(c.id for c in event.children)
        return Highlight("expand", path=path, new_children=ids,
                         origin=event.origin)
    if isinstance(event, Simulated):
        return Highlight("simulate", path=tuple(tree.path_to(event.node)),
                         rolled_out=event.node)
    if isinstance(event, Steered):  # no phase: the path to the node steered, for the view
        return Highlight(path=tuple(tree.path_to(event.node)))
    return Highlight("backprop", path=event.path,
                     changed=backprop_changes(tree, event, history))


def backprop_changes(tree: Tree, event: Backpropagated,
                     history: Sequence[Event] = ()) -> dict[int, Change]:
    """Each node on the backed-up path: N and Q before and after ``event`` (already
    applied). MCTSr: Q after is the event's ``q_after``; Q before, the previous backup's
    (``None`` for a node no backup reached before, or when ``history`` lacks it)."""
    changes: dict[int, Change] = {}
    for i, node_id in enumerate(event.path):
        node = tree.nodes[node_id]
        before_n = node.visits - 1
        if event.q_after is not None:
            before_q = previous_q(history, event.iteration, node_id) if before_n else None
            changes[node_id] = Change(before_n, before_q, node.visits, event.q_after[i])
            continue
        before_q = (node.value_sum - event.value) / before_n if before_n else None
        changes[node_id] = Change(before_n, before_q, node.visits, node.q)
    return changes
