"""The rules of the four phases, as pure functions of the tree.

``Search`` (``engine.strategies.search``) calls these to decide each phase and the model
only to carry out what they decide; the Learn page's worked example, the storage benchmark's
synthetic runs and ``tree.apply``'s checks call the same functions, so the rule is written
once:

- ``closed_nodes``: the nodes selection may no longer enter, and why (a final answer already
  evaluated: its value is known, so a revisit would add nothing);
- ``select_path``: descend by the best score until a node without open children, or one
  that progressive widening wants to grow (``Selected``);
- ``expansion_decision``: sample children, add a reflection, or simulate the leaf as it is;
- ``simulation_target``: the first new child, or the leaf itself when none was added;
- ``backup_path``: the selected path, extended by the simulated child.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from engine.core.events import ROOT_ID, ChildSpec, ScoreBreakdown, Selected, SelectionLevel
from engine.core.mctsr import candidate_scores, refine_closed, refine_selection
from engine.core.selection import children_scores, pick, tree_scores
from engine.core.steering import PRUNED
from engine.errors import SearchExhausted

if TYPE_CHECKING:
    from engine.core.config import SearchConfig
    from engine.core.tree import Node, Pending, Tree

ExpansionAction = Literal["sample", "reflect", "none"]


def can_grow(node: Node, *, max_depth: int, max_children: int) -> bool:
    """Whether expansion may still add children to ``node``: it is open, above the depth
    limit, and has fewer than ``max_children``."""
    return not node.terminal and node.depth < max_depth and len(node.children) < max_children


@dataclass(frozen=True)
class Growth:
    """When a node that already has children gets more (``SearchConfig``'s settings)."""

    max_depth: int
    max_children: int
    widening: float
    """Progressive widening: a node with N visits wants at least ``ceil(widening *
    sqrt(N))`` live (not dead) children; 0 turns it off."""


def wants_growth(node: Node, live_children: int, growth: Growth) -> bool:
    """Whether selection should stop at ``node`` (which has children) and expand it again:
    it may grow, and it has fewer live children than progressive widening asks for."""
    if growth.widening <= 0 or not can_grow(node, max_depth=growth.max_depth,
                                            max_children=growth.max_children):
        return False
    return live_children < math.ceil(growth.widening * math.sqrt(max(node.visits, 1)))


def closed_nodes(
    tree: Tree, *, max_depth: int, reflection: bool, max_children: int = 1_000_000
) -> dict[int, str]:
    """Node id -> why selection may not enter it.

    - A node pruned by hand is closed (``steering.PRUNED``), and so its whole subtree.
    - A dead step (rejected by the step check) is closed.
    - A final answer that has been evaluated is closed (unless reflection would continue
      it): its value is known, so a visit would only repeat it.
    - A node whose children are all closed is closed once it may not grow (``can_grow``);
      until then selection stops there and expansion samples more next steps. A node whose
      children are all dead and that may not grow is dead itself.
    """
    closed: dict[int, str] = {}
    for node in reversed(tree.nodes):  # children have larger ids than their parent
        if node.pruned:
            closed[node.id] = PRUNED
            continue
        if node.dead is not None:
            closed[node.id] = f"dead: {node.dead}"
        elif node.children:
            if not all(c in closed for c in node.children) or can_grow(
                    node, max_depth=max_depth, max_children=max_children):
                continue
            if all(tree.nodes[c].dead is not None for c in node.children):
                closed[node.id] = "dead: every next step from it was rejected"
            else:
                closed[node.id] = "every branch below it has ended"
        elif node.terminal and node.visits > 0:
            if expansion_decision(node, max_depth=max_depth,
                                  reflection=reflection).action != "reflect":
                closed[node.id] = "a final answer, already evaluated (its value is known)"
    return closed


def select_path(
    tree: Tree, rule: str, c: float, closed: dict[int, str] | None = None,
    growth: Growth | None = None, virtual: dict[int, int] | None = None,
    promised: dict[int, int] | None = None,
) -> Selected:
    """Descend from the root by the best score until a node without open children (none
    yet, or all closed), never into a ``closed`` node (those are listed in the breakdown
    with their reason).

    Every level carries every sibling's score breakdown and the winner. ``virtual``: the
    virtual loss of a parallel round's earlier selections (``Tree.virtual_visits``);
    ``promised``: the children their expansions will add, per node, which progressive
    widening counts as live. Raise ``SearchExhausted`` if the root itself is closed.
    """
    closed = closed or {}
    if ROOT_ID in closed:
        raise SearchExhausted("Every branch of this tree has ended, so there is nothing left "
                              "to search: each answer's value is already known.")
    node = tree.root
    path = [node.id]
    levels: list[SelectionLevel] = []
    while any(child not in closed for child in node.children):
        live = sum(tree.nodes[child].dead is None for child in node.children)
        live += (promised or {}).get(node.id, 0)
        if growth is not None and wants_growth(node, live, growth):
            break
        scores = children_scores(tree, node.id, rule, c, closed, virtual)
        best = pick(scores)
        parent_visits = node.visits + (virtual or {}).get(node.id, 0)
        levels.append(SelectionLevel(node.id, parent_visits, tuple(scores), best.child))
        node = tree.nodes[best.child]
        path.append(node.id)
    return Selected(tree.next_iteration, tuple(path), tuple(levels))


@dataclass(frozen=True)
class ExpansionDecision:
    """What the expansion phase does at the selected leaf, and why (shown to the user)."""

    action: ExpansionAction
    """``sample``: k new children from the model; ``reflect``: one reflection child;
    ``none``: no children, the leaf itself is simulated."""
    reason: str


def expansion_decision(
    leaf: Node, *, max_depth: int, reflection: bool
) -> ExpansionDecision:
    """The expansion rule: a terminal leaf is evaluated as it is (or reflected on when
    ``reflection`` is on and its answer is not verified correct); any other leaf is
    simulated as it is on its first visit, and gets sampled children on the next one,
    unless it is at the depth limit. The root is expanded at once."""
    if leaf.terminal:
        # No reflection after the model ended the text itself (EOS) or filled its context:
        # there is nothing to continue.
        if reflection and leaf.verdict is not True and not leaf.children \
                and leaf.depth < max_depth and leaf.ended not in ("eos", "context"):
            return ExpansionDecision(
                "reflect", "the answer is not verified correct, so search reflects and "
                "continues")
        return ExpansionDecision("none", "terminal node: it is evaluated directly")
    if leaf.id != ROOT_ID and leaf.visits == 0:
        return ExpansionDecision("none", "first visit: simulate from this node as it is")
    if leaf.depth >= max_depth:
        return ExpansionDecision("none", f"at the depth limit ({max_depth})")
    if leaf.children:
        return ExpansionDecision("sample", "it has too few open next steps for its visits "
                                 "(progressive widening), or all are dead or finished, so "
                                 "more are sampled")
    return ExpansionDecision("sample", "sample next steps")


def simulation_target(leaf: int, children: Sequence[ChildSpec]) -> int:
    """The node the simulation starts from: the first new child that is not dead, else the
    leaf (which, when every new child is dead, is worth 0: no step from it survives)."""
    return next((c.id for c in children if c.dead is None), leaf)


def backup_path(pending: Pending) -> tuple[int, ...]:
    """The nodes that receive the value: the selected path, plus the simulated child."""
    path = pending.path
    if pending.simulate_node is not None and pending.simulate_node != path[-1]:
        path = (*path, pending.simulate_node)
    return path


def closed_for(tree: Tree, config: SearchConfig) -> dict[int, str]:
    """``closed_nodes`` with a search's own settings (what ``Search`` and the app use);
    under MCTSr, the answers that are not candidates (``mctsr.refine_closed``)."""
    if config.algorithm == "mctsr":
        return refine_closed(tree, config)
    return closed_nodes(tree, max_depth=config.max_depth,
                        reflection=config.reflection == "on",
                        max_children=config.max_children)


def next_selection(tree: Tree, config: SearchConfig,
                   closed: dict[int, str] | None = None) -> Selected:
    """``select_path`` with a search's own settings: its rule, c, closed nodes and
    progressive widening (under MCTSr, ``mctsr.refine_selection``). Raise
    ``SearchExhausted`` when nothing is left to select."""
    if config.algorithm == "mctsr":
        return refine_selection(tree, config)
    growth = Growth(config.max_depth, config.max_children, config.widening)
    return select_path(tree, config.selection, config.exploration,
                       closed_for(tree, config) if closed is None else closed, growth)


def select_round(tree: Tree, config: SearchConfig, size: int) -> list[Selected]:
    """Parallel MCTS: up to ``size`` selections for the next round, each made with the
    virtual loss of the ones before it (every node on an earlier path counts one more visit
    of value 0), so that they spread over the tree. A leaf may be taken again in the same
    round while it has room: one that is only rolled out from (its first visit, or at the
    depth limit, as Best-of-N's root) gets another rollout from its own iteration's random
    stream, and one that is expanded gets another k samples, up to ``max_children``; the
    children a round's expansions will add count as live for progressive widening. A
    finished answer (its value is known) and a leaf out of room are closed to the rest of
    the round, and so is a node whose every open child is; the round ends early when
    nothing open is left. Each ``Selected`` carries the round's size.

    A round whose selections were interrupted (a run resumed from its stored events)
    continues: the selections already made count, and the rest are what the round would
    have selected. ``size`` 1 is ``next_selection``: plain MCTS. Raise ``SearchExhausted``
    when not even one selection can be made."""
    made = list(tree.in_flight)
    if size <= 1 and not made:
        return [next_selection(tree, config)]
    if config.algorithm == "mctsr":
        raise ValueError("parallel rounds are for MCTS: MCTSr refines one answer at a time")
    closed = closed_for(tree, config)
    growth = Growth(config.max_depth, config.max_children, config.widening)
    target = tree.round_size if made else size
    picks: list[Selected] = []
    taken: dict[int, str] = {}
    promised: dict[int, int] = {}
    virtual = tree.virtual_visits()

    def take(leaf_id: int, iteration: int) -> None:
        leaf = tree.nodes[leaf_id]
        action = expansion_decision(leaf, max_depth=config.max_depth,
                                    reflection=config.reflection == "on").action
        if action == "sample":
            promised[leaf_id] = promised.get(leaf_id, 0) + config.children
            if len(leaf.children) + promised[leaf_id] < config.max_children:
                return
        elif action == "none" and not leaf.terminal:
            return  # only rolled out from: another rollout is another sample of its value
        taken[leaf_id] = f"selected by iteration {iteration + 1} of this round"

    for i, pending in enumerate(made):
        take(pending.path[-1], tree.iterations_done + i)
    while len(made) + len(picks) < target:
        closed_now = _closed_in_round(tree, closed, taken)
        if (made or picks) and ROOT_ID in closed_now:
            break
        chosen = select_path(tree, config.selection, config.exploration, closed_now,
                             growth, virtual, promised)
        chosen = replace(chosen, iteration=tree.next_iteration + len(picks))
        picks.append(chosen)
        take(chosen.path[-1], chosen.iteration)
        for node_id in chosen.path:
            virtual[node_id] = virtual.get(node_id, 0) + 1
    if made and len(made) + len(picks) != target:
        raise ValueError(f"a round of {target} cannot be completed: nothing left to select")
    rounded = target if made else len(picks)
    return [replace(p, round_size=rounded) for p in picks] if rounded > 1 else picks


def _closed_in_round(tree: Tree, closed: dict[int, str], taken: dict[int, str]
                     ) -> dict[int, str]:
    """``closed`` plus the nodes taken earlier in the round, and every node whose children
    are all closed once those are (it has nothing open left this round)."""
    if not taken:
        return closed
    now = {**closed, **{n: r for n, r in taken.items() if n not in closed}}
    for node in reversed(tree.nodes):  # children have larger ids than their parent
        if node.id not in now and node.children and all(c in now for c in node.children) \
                and any(c not in closed for c in node.children):
            now[node.id] = "every open branch below it is taken in this round"
    return now


def scores_for(tree: Tree, config: SearchConfig) -> dict[int, ScoreBreakdown]:
    """Every node's current selection score under a search's own rule (what the graph
    shows): MCTS scores each child among its siblings; MCTSr scores every answer at once."""
    closed = closed_for(tree, config)
    if config.algorithm == "mctsr":
        return {s.child: s for s in candidate_scores(tree, config.exploration,
                                                     config.refine_epsilon, closed)
                if s.child != ROOT_ID}
    return tree_scores(tree, config.selection, config.exploration, closed)


def what_if_path(tree: Tree, config: SearchConfig, exploration: float,
                 rule: str | None = None) -> tuple[int, ...] | str:
    """The path the next selection would walk on ``tree`` as it stands if the run used the
    exploration constant ``exploration`` and the selection ``rule`` (``uct`` or ``puct``;
    ``None``: the run's own; ignored under MCTSr, whose rule is its own UCT), or why
    nothing could be selected (``SearchExhausted``'s message).

    A projection only: ``next_selection`` with a copy of ``config``, so the engine's own
    selection decides (closed nodes, progressive widening and all); nothing is applied to
    the tree and no event is made."""
    update: dict[str, object] = {"exploration": float(exploration)}
    if rule is not None and config.algorithm != "mctsr":
        update["selection"] = rule
    try:
        return next_selection(tree, config.model_copy(update=update)).path
    except SearchExhausted as err:
        return str(err)
