"""Plain summaries of a tree for the CLI, storage and the app (no recomputed decisions)."""

from __future__ import annotations

import math
from typing import Any

from engine.core.config import SearchConfig
from engine.core.events import Phase
from engine.core.phases import scores_for
from engine.core.tree import Tree, best_answer, node_summary


def nodes_report(tree: Tree, config: SearchConfig) -> list[dict[str, Any]]:
    """Every node as the replay contract's dict; ``uct`` is the node's current selection
    score under the run's rule (``null`` for the root and for an unvisited UCT child;
    MCTSr: its UCT among all answers)."""
    scores = scores_for(tree, config)
    rows = []
    for node in tree.nodes:
        row = node_summary(node)
        score = scores.get(node.id)
        row["uct"] = score.total if score is not None and math.isfinite(score.total) else None
        rows.append(row)
    return rows


def search_summary(tree: Tree) -> dict[str, Any]:
    """Best answer, solved flag and token counts of a tree."""
    answer, verdict = best_answer(tree)
    return {
        "iterations": tree.iterations_done,
        "best_answer": answer,
        "solved": verdict,
        "tokens": {
            "forwarded": tree.tokens.forwarded,
            "unique": tree.tokens.unique,
            "generated": tree.tokens.generated,
        },
    }


# -- iteration numbering ------------------------------------------------------------------
# One rule, used by the CLI (`mctslab replay`), storage (`RunStore.tree_at`) and the app
# (Replay caption, status line): iteration k is the k-th iteration, counted from 1. The tree
# "after k iterations" is the end of iteration k, the same moment as "iteration k, after
# backprop"; "after 0 iterations" is the root alone, which has no phases. Events store the
# 0-based index of their iteration (``Event.iteration``): iteration k's events carry k - 1.

_PHASE_BEFORE: dict[Phase, Phase] = {
    "expand": "select", "simulate": "expand", "backprop": "simulate", "select": "backprop",
}


def iteration_number(event_iteration: int) -> int:
    """The 1-based number of the iteration an event with ``Event.iteration`` belongs to."""
    return event_iteration + 1


def event_iteration(iteration: int) -> int:
    """``Event.iteration`` of the events of (1-based) iteration ``iteration``."""
    return iteration - 1


def moment(iterations_done: int, next_phase: Phase) -> tuple[int, Phase | None]:
    """Where a tree stands, as ``mctslab replay`` addresses it: ``(k, None)`` after k
    completed iterations, ``(k, phase)`` right after ``phase`` of iteration k."""
    if next_phase == "select":
        return iterations_done, None
    return iterations_done + 1, _PHASE_BEFORE[next_phase]


def phase_label(iteration: int, phase: str) -> str:
    """``iteration 12 · after select``: right after ``phase`` of (1-based) iteration k."""
    return f"iteration {iteration} · after {phase}"


def tree_moment(tree: Tree) -> tuple[int, Phase | None]:
    """``moment`` of a tree, rounds of parallel MCTS included: the last event applied in
    the four-phase cycle, as ``(k, phase)`` (iteration k, 1-based), or ``(k, None)`` after k
    completed iterations with none in flight."""
    done, in_flight = tree.iterations_done, tree.in_flight
    if not in_flight:
        return done, None
    if tree.next_phase == "select":
        return done + len(in_flight), "select"
    if tree.cursor:
        return done + tree.cursor, _PHASE_BEFORE[tree.next_phase]
    if tree.next_phase == "backprop" and len(in_flight) < tree.round_size:
        return done, "backprop"
    return done + len(in_flight), _PHASE_BEFORE[tree.next_phase]


def tree_label(tree: Tree) -> str:
    """``iteration_label`` of a tree (``tree_moment``), with the round when it has more
    than one iteration in flight."""
    iteration, phase = tree_moment(tree)
    if phase is None:
        return f"after {iteration} iteration{'' if iteration == 1 else 's'}"
    label = phase_label(iteration, phase)
    if tree.round_size > 1 and tree.in_flight:
        first = tree.iterations_done - (tree.round_size - len(tree.in_flight)) + 1 \
            if tree.next_phase == "backprop" else tree.iterations_done + 1
        label += f" (round of iterations {first}-{first + tree.round_size - 1})"
    return label


def iteration_label(iterations_done: int, next_phase: Phase) -> str:
    """The moment of a tree in words: ``after 12 iterations`` between iterations,
    ``iteration 13 · after expand`` inside one (see ``moment``)."""
    iteration, phase = moment(iterations_done, next_phase)
    if phase is None:
        return f"after {iteration} iteration{'' if iteration == 1 else 's'}"
    return phase_label(iteration, phase)
