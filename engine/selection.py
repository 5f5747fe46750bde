"""Selection rules as pure functions that return the whole score breakdown.

UCT:  Q + c * sqrt(ln N_parent / N)        (an unvisited child scores +inf)
PUCT: Q + c * P * sqrt(N_parent) / (1 + N) (P: the prior normalised among siblings)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from engine.events import ScoreBreakdown
from engine.tree import Tree


def sibling_priors(log_priors: Sequence[float], counts: Sequence[int]) -> list[float]:
    """Priors as probabilities among siblings: ``count * exp(logp)``, normalised."""
    if not log_priors:
        return []
    top = max(log_priors)
    weights = [c * math.exp(lp - top) for lp, c in zip(log_priors, counts, strict=True)]
    total = sum(weights)
    return [w / total for w in weights]


def uct(q: float, visits: int, parent_visits: int, c: float) -> tuple[float, float]:
    """(exploitation, exploration) under UCT."""
    if visits == 0:
        return 0.0, math.inf
    return q, c * math.sqrt(math.log(max(parent_visits, 1)) / visits)


def puct(q: float, visits: int, parent_visits: int, c: float, prior: float) -> tuple[float, float]:
    """(exploitation, exploration) under PUCT."""
    return (q if visits else 0.0), c * prior * math.sqrt(parent_visits) / (1 + visits)


def score_children(
    rule: str,
    c: float,
    parent_visits: int,
    children: Sequence[tuple[int, float, int, float]],
) -> list[ScoreBreakdown]:
    """Score each ``(child_id, q, visits, prior_probability)`` under ``rule``."""
    scores: list[ScoreBreakdown] = []
    for child_id, q, visits, prior in children:
        if rule == "uct":
            exploit, explore = uct(q, visits, parent_visits, c)
        elif rule == "puct":
            exploit, explore = puct(q, visits, parent_visits, c, prior)
        else:
            raise ValueError(f"unknown selection rule {rule!r}")
        scores.append(ScoreBreakdown(child_id, exploit, explore, exploit + explore, visits, prior))
    return scores


def pick(scores: Sequence[ScoreBreakdown]) -> ScoreBreakdown:
    """The best score; ties go to the earlier child (children are ordered by prior)."""
    best = scores[0]
    for s in scores[1:]:
        if s.total > best.total:
            best = s
    return best


def children_scores(tree: Tree, parent_id: int, rule: str, c: float) -> list[ScoreBreakdown]:
    """The current score of each child of ``parent_id``, as selection would compute it."""
    parent = tree.nodes[parent_id]
    children = [tree.nodes[i] for i in parent.children]
    priors = sibling_priors([n.prior for n in children], [n.count for n in children])
    return score_children(
        rule, c, parent.visits,
        [(n.id, n.q, n.visits, p) for n, p in zip(children, priors, strict=True)],
    )


def tree_scores(tree: Tree, rule: str, c: float) -> dict[int, ScoreBreakdown]:
    """Every non-root node's current selection score (what the graph and replay show)."""
    scores: dict[int, ScoreBreakdown] = {}
    for node in tree.nodes:
        if node.children:
            for score in children_scores(tree, node.id, rule, c):
                scores[score.child] = score
    return scores
