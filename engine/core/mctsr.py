"""MCTSr (Monte Carlo Tree Self-Refine, Zhang et al. 2024) as pure functions of the tree.

In MCTSr a node is a whole answer and a child is a refined rewrite of its parent. The root
(the problem) is expanded once, into the model's first answer and a *dummy* answer ("I
don't know"), as in the paper. Then every iteration:

- **select**: among the *candidates* (answers that are not fully expanded), the one with the
  best ``UCT = Q + c * sqrt(ln(N_parent + 1) / (N + eps))``. Selection compares every
  candidate in the tree at once; it does not descend level by level. A node is fully
  expanded when it has ``max_children`` children, or when one of its children's Q beats
  its own (the search goes on from that better child).
- **expand**: self-refine the selected answer: a critique of it, then a rewrite that uses
  the critique. The rewrite is the one new child.
- **simulate**: the new answer's self-reward, sampled several times;
  ``Q = (min + mean) / 2`` of the samples.
- **backpropagate**: the new answer's Q is its reward; every ancestor's becomes
  ``(Q + max over its children's Q) / 2``; the root, which is no answer, takes the best of
  its children's Q. Visits rise by one along the path, as in MCTS.

MCTSr stops at a verified-correct answer, or when the budget is spent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from engine.core.events import ROOT_ID, ScoreBreakdown, Selected
from engine.errors import SearchExhausted

if TYPE_CHECKING:
    from engine.core.config import SearchConfig
    from engine.core.tree import Node, Tree

DUMMY_REWARD = 0.0
"""The dummy answer's value: it says nothing, so it is worth nothing."""


def reward_q(rewards: Sequence[float]) -> float:
    """``(min + mean) / 2`` of the sampled rewards: the mean, pulled toward the worst sample
    (the paper's guard against one over-generous self-reward)."""
    if not rewards:
        raise ValueError("MCTSr needs at least one reward sample")
    return 0.5 * (min(rewards) + sum(rewards) / len(rewards))


def backed_up(q: float, children_q: Sequence[float]) -> float:
    """The backup rule for an answer with children: ``(Q + max children Q) / 2``."""
    return 0.5 * (q + max(children_q))


def refine_uct(q: float, visits: int, parent_visits: int, c: float, eps: float
               ) -> tuple[float, float]:
    """(exploitation, exploration) under MCTSr's UCT:
    ``Q + c * sqrt(ln(N_parent + 1) / (N + eps))``."""
    return q, c * math.sqrt(math.log(parent_visits + 1) / (visits + eps))


def answer_q(node: Node) -> float:
    """An answer's Q: its backed-up Q once visited, else its value at creation (the dummy's
    0), else 0."""
    if node.visits:
        return node.q
    return node.value if node.value is not None else 0.0


def backup_values(tree: Tree, path: Sequence[int], value: float) -> tuple[float, ...]:
    """The Q of every node on ``path`` (root first) after backing up ``value``, the reward of
    the path's last node."""
    new: dict[int, float] = {path[-1]: value}
    for node_id in reversed(path[:-1]):
        node = tree.nodes[node_id]
        best = [new.get(c, answer_q(tree.nodes[c])) for c in node.children]
        if node_id == ROOT_ID:
            new[node_id] = max(best)
        else:
            new[node_id] = backed_up(answer_q(node), best)
    return tuple(new[n] for n in path)


def fully_expanded(tree: Tree, node: Node, max_children: int) -> str | None:
    """Why ``node`` is fully expanded (the paper's rule), or ``None`` when it is not."""
    if len(node.children) >= max_children:
        return f"fully expanded: it has {len(node.children)} children (the limit)"
    if any(tree.nodes[c].ended == "context" for c in node.children):
        return "fully expanded: its last rewrite found no room in the model's context"
    own = answer_q(node)
    for c in node.children:
        if answer_q(tree.nodes[c]) > own:
            return (f"fully expanded: child #{c} has Q {answer_q(tree.nodes[c]):.3f}, above "
                    f"its own {own:.3f}")
    return None


def exclusions(tree: Tree, *, max_children: int, max_depth: int) -> dict[int, str]:
    """Node id -> why it is not a candidate for refinement."""
    excluded: dict[int, str] = {}
    for node in tree.nodes:
        reason = None
        if node.id == ROOT_ID:
            if node.children:
                reason = "the problem: expanded once, into the first answer and the dummy"
        elif node.verdict is True:
            reason = "verified correct: nothing to refine"
        elif node.ended == "context":
            reason = "its answer filled the model's context: no room to refine it"
        elif node.depth >= max_depth:
            reason = f"at the depth limit ({max_depth})"
        else:
            reason = fully_expanded(tree, node, max_children)
        if reason is not None:
            excluded[node.id] = reason
    return excluded


def exhausted_reason(tree: Tree, excluded: dict[int, str]) -> str | None:
    """Why MCTSr has nothing left to do, or ``None``."""
    if any(n.verdict is True for n in tree.nodes):
        return "MCTSr stops: a verified-correct answer was found."
    if all(n.id in excluded for n in tree.nodes):
        return "Every answer in the tree is fully expanded: nothing is left to refine."
    return None


def candidate_scores(tree: Tree, c: float, eps: float,
                     excluded: dict[int, str]) -> list[ScoreBreakdown]:
    """Every node's MCTSr score (the root's too), in id order; the excluded ones carry why.
    ``prior`` is unused by MCTSr and given as 0."""
    scores = []
    for node in tree.nodes:
        parent_visits = tree.nodes[node.parent].visits if node.parent is not None else 0
        exploit, explore = refine_uct(answer_q(node), node.visits, parent_visits, c, eps)
        scores.append(ScoreBreakdown(node.id, exploit, explore, exploit + explore,
                                     node.visits, 0.0, excluded.get(node.id)))
    return scores


def refine_closed(tree: Tree, config: SearchConfig) -> dict[int, str]:
    """The nodes MCTSr may not select, and why; the root is among them (with the reason
    the search is over) when nothing is left to refine."""
    excluded = exclusions(tree, max_children=config.max_children, max_depth=config.max_depth)
    done = exhausted_reason(tree, excluded)
    excluded.pop(ROOT_ID, None)
    if done is not None:
        excluded[ROOT_ID] = done
    return excluded


def refine_selection(tree: Tree, config: SearchConfig) -> Selected:
    """MCTSr's selection: the best-scoring candidate in the whole tree (ties: the lowest
    id). ``Selected.path`` runs from the root to it; ``candidates`` holds every score.
    Raise ``SearchExhausted`` when nothing is left to refine."""
    excluded = exclusions(tree, max_children=config.max_children, max_depth=config.max_depth)
    done = exhausted_reason(tree, excluded)
    if done is not None:
        raise SearchExhausted(done)
    scores = candidate_scores(tree, config.exploration, config.refine_epsilon, excluded)
    best: ScoreBreakdown | None = None
    for s in scores:
        if s.excluded is None and (best is None or s.total > best.total):
            best = s
    assert best is not None, "exhausted_reason found a candidate"
    return Selected(tree.iterations_done, tuple(tree.path_to(best.child)), (),
                    tuple(scores))
