"""Cutting a run's event stream at a moment, and folding it into that moment's tree.

Moments are addressed as the CLI and the app name them (``engine.core.report``'s numbering:
iteration k is the k-th, counted from 1; its events carry ``Event.iteration == k - 1``):

- after ``k`` completed iterations (the end of iteration k): every event before iteration
  ``k + 1`` began, hand-added reflections after iteration k's backpropagation included;
- iteration ``k`` and a phase: up to and including that phase's event of iteration k; for
  ``backprop`` that is the end of iteration k, the same moment as "after k iterations".

The functions here take ``Event.iteration`` values (0-based); ``RunStore.tree_at`` converts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from engine.core.events import Event, Expanded, Phase, Steered
from engine.core.tree import Tree, fold
from storage.errors import StorageError


def out_of_cycle(event: Event) -> bool:
    """True for an expansion outside the four-phase cycle (a reflection added by hand, a
    beam step, a user's step) and for a pin, prune and the like (``Steered``): it belongs
    to no iteration's phases."""
    return isinstance(event, Steered) or (isinstance(event, Expanded) and not event.in_cycle)


def events_before_iteration(events: Sequence[Event], iteration: int) -> list[Event]:
    """The events up to the moment ``iteration`` iterations were complete (all of them if
    that never happened): through the backpropagation of iteration ``iteration - 1`` and
    the expansions outside the cycle that follow it. In plain MCTS that is everything
    before iteration ``iteration`` began; in a parallel round the later iterations'
    selections come before it and belong to the moment too."""
    if iteration <= 0:
        end = next((i for i, e in enumerate(events) if not out_of_cycle(e)), len(events))
        return list(events[:end])
    cut = events_through_phase(events, iteration - 1, "backprop")
    return list(events) if cut is None else cut


def events_through_phase(
    events: Sequence[Event], iteration: int, phase: Phase
) -> list[Event] | None:
    """The events up to and including ``phase``'s event of ``iteration`` (an
    ``Event.iteration``); ``None`` if the run has no such event. After ``backprop`` the
    iteration is over: expansions outside the cycle that follow it before the next
    in-cycle event belong to that moment too (as to "after k iterations")."""
    for index, event in enumerate(events):
        if out_of_cycle(event):
            continue
        if event.iteration == iteration and event.phase == phase:
            end = index + 1
            if phase == "backprop":
                while end < len(events) and out_of_cycle(events[end]):
                    end += 1
            return list(events[:end])
    return None


def fold_or_fail(problem: str, events: Sequence[Event], what: str, first_seq: int = 0) -> Tree:
    """``fold(problem, events)``; an event that does not fit raises ``StorageError`` naming
    its sequence number (``first_seq`` is the number of ``events[0]``)."""
    position = [first_seq - 1]

    def counted() -> Iterator[Event]:
        for event in events:
            position[0] += 1
            yield event

    try:
        return fold(problem, counted())
    except (ValueError, IndexError) as err:
        raise StorageError(f"{what}: event seq {position[0]} does not fit the tree "
                           f"({err})") from None
