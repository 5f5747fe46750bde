"""Steering by hand: what a ``Steered`` event (pin, unpin, prune, restore) may do to a tree,
and doing it.

A pinned node keeps its visits and value sum (backpropagation is unchanged); selection
scores it with the pinned value as its Q (``engine.core.selection.children_scores``, the
one place Q is read for a score, so the graph, the breakdown and selection agree). A pruned
node is closed (``engine.core.phases.closed_nodes``: ``PRUNED``), so selection never enters
its subtree until it is restored.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from engine.core.events import ROOT_ID, Steered

if TYPE_CHECKING:
    from engine.core.tree import Tree

PRUNED = "pruned by hand"
"""Why selection may not enter a pruned node (its subtree with it)."""


def steer_problem(tree: Tree, event: Steered) -> str | None:
    """Why ``event`` does not fit ``tree`` (one line for people), or ``None`` when it does."""
    if not 0 <= event.node < len(tree.nodes):
        return f"There is no node {event.node} in this tree."
    node = tree.nodes[event.node]
    if event.action == "pin":
        if event.value is None or not math.isfinite(event.value) \
                or not 0.0 <= event.value <= 1.0:
            return f"A pinned value must be a number from 0 to 1, not {event.value}."
        return None
    if event.value is not None:
        return f"Only a pin carries a value ({event.action} does not)."
    if event.action == "unpin" and node.pinned is None:
        return f"Node {node.id} is not pinned."
    if event.action == "prune":
        if node.id == ROOT_ID:
            return "The root cannot be pruned: that would leave nothing to search."
        if node.pruned:
            return f"Node {node.id} is already pruned."
    if event.action == "restore" and not node.pruned:
        return f"Node {node.id} is not pruned: only a pruned subtree can be restored."
    return None


def apply_steer(tree: Tree, event: Steered) -> None:
    """Apply ``event`` to ``tree`` in place; ``ValueError`` if it does not fit."""
    problem = steer_problem(tree, event)
    if problem is not None:
        raise ValueError(problem)
    node = tree.nodes[event.node]
    if event.action in ("pin", "unpin"):
        node.pinned = event.value
    else:
        node.pruned = event.action == "prune"


def pruned_subtrees(tree: Tree) -> set[int]:
    """Every node in a pruned subtree (the pruned nodes and all below them)."""
    inside: set[int] = set()
    for node in tree.nodes:  # a parent has a smaller id than its children
        if node.pruned or (node.parent is not None and node.parent in inside):
            inside.add(node.id)
    return inside
