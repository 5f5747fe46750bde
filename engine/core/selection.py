"""Selection rules as pure functions that return the whole score breakdown.

UCT:  Q + c * sqrt(ln N_parent / N)
PUCT: Q + c * P * sqrt(max(N_parent, 1)) / (1 + N)

An unvisited child has no Q yet. Where the search's evaluator gave it a state value V (see
``engine.strategies.values``), that value stands in for Q, and UCT scores the child as if it
had been visited once with that value: V + c * sqrt(ln N_parent / 1). So the most promising
new child is tried first, and a poor one can wait: values steer the search before its
first success. Without a value, an unvisited child scores +inf under UCT (every child is
tried once) and 0 + exploration under PUCT.

P is the prior as a probability among siblings (``sibling_priors``): a sampled child's
weight is ``count * exp(log-probability)``. A child whose text the model did not choose (a
reflection line, forced after the path) has no sampling probability to speak of: its
forced log-probability is tiny by design, and using it would make PUCT all but never visit
a reflection. Each such child therefore gets an equal share ``1/n`` of the n siblings, and
the sampled siblings share the rest in proportion to their weights.

A parent with no visits yet (the root before the first backup) still explores by prior:
the square root is taken of at least 1.

Ties go to the earlier child in the parent's list of children (``pick``). Siblings from one
expansion are listed most-sampled first, then most likely first; children added later
(a reflection) come after them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from engine.core.events import ScoreBreakdown, SelectionLevel

if TYPE_CHECKING:
    from engine.core.tree import Tree


def sibling_priors(
    log_priors: Sequence[float], counts: Sequence[int], forced: Sequence[bool] | None = None
) -> list[float]:
    """Priors as probabilities among siblings (see the module docstring for forced ones)."""
    n = len(log_priors)
    if not n:
        return []
    forced = list(forced) if forced is not None else [False] * n
    sampled = [i for i in range(n) if not forced[i]]
    if not sampled:
        return [1.0 / n] * n
    top = max(log_priors[i] for i in sampled)
    weights = {i: counts[i] * math.exp(log_priors[i] - top) for i in sampled}
    total = sum(weights.values())
    left = 1.0 - (n - len(sampled)) / n
    return [1.0 / n if forced[i] else left * weights[i] / total for i in range(n)]


def uct(q: float, visits: int, parent_visits: int, c: float,
        value: float | None = None) -> tuple[float, float]:
    """(exploitation, exploration) under UCT; ``value``: an unvisited child's state value."""
    if visits == 0:
        if value is None:
            return 0.0, math.inf
        q, visits = value, 1
    return q, c * math.sqrt(math.log(max(parent_visits, 1)) / visits)


def puct(q: float, visits: int, parent_visits: int, c: float, prior: float,
         value: float | None = None) -> tuple[float, float]:
    """(exploitation, exploration) under PUCT; ``value``: an unvisited child's state value."""
    exploit = q if visits else (0.0 if value is None else value)
    return exploit, c * prior * math.sqrt(max(parent_visits, 1)) / (1 + visits)


def score_children(
    rule: str,
    c: float,
    parent_visits: int,
    children: Sequence[tuple[int, float, int, float] | tuple[int, float, int, float, float | None]],
    excluded: Mapping[int, str] | None = None,
) -> list[ScoreBreakdown]:
    """Score each ``(child_id, q, visits, prior_probability[, state_value])`` under
    ``rule``; a child in ``excluded`` is scored too, but carries the reason it may not be
    chosen."""
    scores: list[ScoreBreakdown] = []
    for child in children:
        child_id, q, visits, prior = child[:4]
        value = child[4] if len(child) > 4 else None
        if rule == "uct":
            exploit, explore = uct(q, visits, parent_visits, c, value)
        elif rule == "puct":
            exploit, explore = puct(q, visits, parent_visits, c, prior, value)
        else:
            raise ValueError(f"unknown selection rule {rule!r}")
        reason = (excluded or {}).get(child_id)
        scores.append(ScoreBreakdown(child_id, exploit, explore, exploit + explore, visits,
                                     prior, reason))
    return scores


def pick(scores: Sequence[ScoreBreakdown]) -> ScoreBreakdown:
    """The best total among the children that are not excluded; a tie goes to the one
    listed first (the parent's order of children). Raise ``ValueError`` if all are
    excluded."""
    best: ScoreBreakdown | None = None
    for s in scores:
        if s.excluded is None and (best is None or s.total > best.total):
            best = s
    if best is None:
        raise ValueError("every child is excluded from selection")
    return best


def tied_with_chosen(level: SelectionLevel) -> list[int]:
    """The other children that scored exactly the chosen child's total (and could have been
    chosen), in the parent's order; the tie went to the one listed first."""
    chosen = next(s for s in level.scores if s.child == level.chosen)
    return [s.child for s in level.scores
            if s.child != level.chosen and s.excluded is None and s.total == chosen.total]


def children_scores(
    tree: Tree, parent_id: int, rule: str, c: float,
    excluded: Mapping[int, str] | None = None,
    virtual: Mapping[int, int] | None = None,
) -> list[ScoreBreakdown]:
    """The current score of each child of ``parent_id``, as selection would compute it.

    ``virtual``: parallel MCTS's virtual loss, node id -> selections of the round in flight
    through it; each counts as a visit of value 0 (for the children and the parent).

    A child pinned by hand (``Node.pinned``) is scored with the pinned value as its Q (and,
    unvisited, as its state value), and its breakdown carries ``pinned``: the one place
    where a pin enters a score, so selection, the graph and the breakdown agree."""
    virtual = virtual or {}
    parent = tree.nodes[parent_id]
    children = [tree.nodes[i] for i in parent.children]
    priors = sibling_priors([n.prior for n in children], [n.count for n in children],
                            [n.kind == "reflection" for n in children])
    scores = score_children(
        rule, c, parent.visits + virtual.get(parent_id, 0),
        [(n.id, _with_virtual_loss(n.q if n.pinned is None else n.pinned, n.visits,
                                   virtual.get(n.id, 0)),
          n.visits + virtual.get(n.id, 0), p, n.value if n.pinned is None else n.pinned)
         for n, p in zip(children, priors, strict=True)],
        excluded,
    )
    marked = []
    for score, node in zip(scores, children, strict=True):
        if node.pinned is not None:
            score = replace(score, pinned=node.pinned)
        if virtual.get(node.id):
            score = replace(score, virtual_loss=virtual[node.id])
        marked.append(score)
    return marked


def _with_virtual_loss(q: float, visits: int, virtual: int) -> float:
    """Q after ``virtual`` more visits of value 0 (Q itself when there are none)."""
    if not virtual:
        return q
    return q * visits / (visits + virtual)


def tree_scores(
    tree: Tree, rule: str, c: float, excluded: Mapping[int, str] | None = None
) -> dict[int, ScoreBreakdown]:
    """Every non-root node's current selection score (what the graph and replay show)."""
    scores: dict[int, ScoreBreakdown] = {}
    for node in tree.nodes:
        if node.children:
            for score in children_scores(tree, node.id, rule, c, excluded):
                scores[score.child] = score
    return scores
