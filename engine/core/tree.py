"""The search tree and the fold that applies phase events to it.

``apply(tree, event)`` is the only way a tree changes, for the live search and for
replay alike, so that a tree rebuilt from stored events equals the live one.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.core.events import (
    ROOT_ID,
    Backpropagated,
    EndReason,
    Event,
    Expanded,
    ExpansionOrigin,
    NodeKind,
    Phase,
    Rollout,
    Selected,
    Simulated,
    Steered,
    TokenCounts,
    TokenTop,
)
from engine.core.mctsr import backup_values
from engine.core.phases import backup_path, simulation_target
from engine.core.steering import apply_steer

__all__ = ["ROOT_ID", "Node", "Pending", "Tree", "apply", "best_answer", "check_invariants", "fold",
           "node_summary"]


@dataclass
class Node:
    """One node: the root (the prompt) or a step, mini-step, reflection or answer."""

    id: int
    parent: int | None
    depth: int
    kind: NodeKind
    text: str
    """The node's own text (the root's is the problem)."""
    token_ids: list[int] = field(default_factory=list)
    prior: float = 0.0
    """Log-probability of the node's tokens given its prefix (0 for the root)."""
    count: int = 1
    """Identical samples merged into this node at expansion."""
    confidences: list[float] = field(default_factory=list)
    top: list[TokenTop] = field(default_factory=list)
    """Each token's top-5 alternatives with probabilities (``ChildSpec.top``)."""
    token_texts: list[str] = field(default_factory=list)
    """Each token's text, kept with ``top`` (``ChildSpec.token_texts``)."""
    visits: int = 0
    value_sum: float = 0.0
    terminal: bool = False
    answer: str | None = None
    verdict: bool | None = None
    """True: verified correct; False: verified wrong; None: not known."""
    ended: EndReason | None = None
    """How the model's sample of this node ended (``ChildSpec.ended``)."""
    value: float | None = None
    """The state value under the search's evaluator (``ChildSpec.value``)."""
    dead: str | None = None
    """Why the step check rejected this step; a dead node is never selected or expanded."""
    iteration_created: int = 0
    origin: ExpansionOrigin = "phase"
    """Which expansion added the node (``Expanded.origin``): an iteration's expansion phase,
    a reflection added by hand, a beam step or a user's step."""
    children: list[int] = field(default_factory=list)
    rollouts: list[Rollout] = field(default_factory=list)
    tokens_spent: int = 0
    """Tokens generated for this node: its own plus its rollouts'."""
    critique: str | None = None
    """MCTSr: the critique this answer rewrote its parent's with (``ChildSpec.critique``)."""
    rewards: list[float] = field(default_factory=list)
    """MCTSr: the sampled self-rewards of this answer (``Rollout.rewards``)."""
    placeholder: bool = False
    """An answer the model did not write, standing in for one (MCTSr's dummy answer)."""
    backed_q: float | None = None
    """MCTSr: Q as its backup rule left it (``Backpropagated.q_after``); ``None`` under
    MCTS, whose Q is the mean value."""
    pinned: float | None = None
    """A value pinned by hand (``Steered``): selection's Q for this node; ``None``: none."""
    pruned: bool = False
    """Pruned by hand (``Steered``): selection never enters this node's subtree."""

    @property
    def q(self) -> float:
        """MCTS: the mean value ``value_sum / visits`` (0 before the first visit); MCTSr:
        the Q its backup rule gave."""
        if self.backed_q is not None:
            return self.backed_q
        return self.value_sum / self.visits if self.visits else 0.0


@dataclass(frozen=True)
class Pending:
    """What the iteration in progress has decided so far (empty between iterations)."""

    path: tuple[int, ...] = ()
    simulate_node: int | None = None
    value: float | None = None


@dataclass
class Tree:
    """All nodes by id (``nodes[i].id == i``) and the state of the iteration in flight."""

    problem: str
    nodes: list[Node]
    iterations_done: int = 0
    next_phase: Phase = "select"
    in_flight: list[Pending] = field(default_factory=list)
    """The round's iterations not yet backed up, in order: the first is iteration
    ``iterations_done`` (one at most in plain MCTS; up to ``round_size`` in parallel
    MCTS)."""
    round_size: int = 1
    """How many iterations the round in flight has (``Selected.round_size``)."""
    cursor: int = 0
    """Which of ``in_flight`` the next expansion or simulation is for."""
    tokens: TokenCounts = field(default_factory=TokenCounts)
    events_applied: int = 0

    @property
    def pending(self) -> Pending:
        """The iteration the next event is for (during selection: the last one selected;
        between rounds: an empty ``Pending``)."""
        if not self.in_flight:
            return Pending()
        if self.next_phase == "select":
            return self.in_flight[-1]
        return self.in_flight[self.cursor]

    @property
    def next_iteration(self) -> int:
        """The iteration number the next event carries."""
        if self.next_phase == "select":
            return self.iterations_done + len(self.in_flight)
        return self.iterations_done + self.cursor

    def virtual_visits(self) -> dict[int, int]:
        """Node id -> how many selections of the round in flight passed through it and are
        not backed up yet: parallel MCTS's virtual loss."""
        counts: dict[int, int] = {}
        for pending in self.in_flight:
            for node_id in pending.path:
                counts[node_id] = counts.get(node_id, 0) + 1
        return counts

    @classmethod
    def new(cls, problem: str) -> Tree:
        """An empty tree: just the root, whose text is the problem (the prompt's tokens are
        the model's business, so the tree does not depend on the tokenizer)."""
        root = Node(id=ROOT_ID, parent=None, depth=0, kind="root", text=problem)
        return cls(problem=problem, nodes=[root])

    @property
    def root(self) -> Node:
        return self.nodes[ROOT_ID]

    def path_to(self, node_id: int) -> list[int]:
        """Node ids from the root to ``node_id``."""
        path = [node_id]
        while (parent := self.nodes[path[-1]].parent) is not None:
            path.append(parent)
        return path[::-1]

    def copy(self) -> Tree:
        return copy.deepcopy(self)


def apply(tree: Tree, event: Event) -> None:
    """Apply one event to ``tree`` in place. Raise ``ValueError`` if it does not fit.

    A round of b iterations (``Selected.round_size``; 1 in plain MCTS) is b selections,
    then b expansions, b simulations and b backpropagations, each phase in iteration order.
    """
    if isinstance(event, Steered):  # out of the cycle, like a hand-added expansion
        apply_steer(tree, event)
        tree.events_applied += 1
        return
    if isinstance(event, Expanded) and not event.in_cycle:
        _add_children(tree, event)
        _count_tokens(tree, event.tokens)
        tree.events_applied += 1
        return
    if event.phase != tree.next_phase:
        raise ValueError(f"expected a {tree.next_phase} event, got {event.phase}")
    if event.iteration != tree.next_iteration:
        raise ValueError(f"event of iteration {event.iteration}, tree is at "
                         f"{tree.next_iteration}")
    if isinstance(event, Selected):
        _select(tree, event)
    elif isinstance(event, Expanded):
        pending = tree.in_flight[tree.cursor]
        if event.node != pending.path[-1]:
            raise ValueError("expansion of a node that was not selected")
        _add_children(tree, event)
        _count_tokens(tree, event.tokens)
        target = simulation_target(event.node, event.children)
        tree.in_flight[tree.cursor] = Pending(path=pending.path, simulate_node=target)
        _advance(tree, "simulate")
    elif isinstance(event, Simulated):
        pending = tree.in_flight[tree.cursor]
        if event.node != pending.simulate_node:
            raise ValueError("simulation of a node that was not expanded")
        node = tree.nodes[event.node]
        if not (node.terminal and not event.rollout.tokens):
            # A finished answer is evaluated as it is: no rollout to keep.
            node.rollouts.append(event.rollout)
            node.tokens_spent += len(event.rollout.tokens)
        if event.rollout.rewards:
            node.rewards = list(event.rollout.rewards)
        _count_tokens(tree, event.tokens)
        tree.in_flight[tree.cursor] = Pending(pending.path, event.node, event.rollout.value)
        _advance(tree, "backprop")
    elif isinstance(event, Backpropagated):
        _backpropagate(tree, event)
    tree.events_applied += 1


def _select(tree: Tree, event: Selected) -> None:
    _check_path(tree, event.path)
    if event.round_size < 1:
        raise ValueError("a round has at least one iteration")
    if not tree.in_flight:
        tree.round_size = event.round_size
    elif event.round_size != tree.round_size:
        raise ValueError(f"a selection of a round of {event.round_size} in a round of "
                         f"{tree.round_size}")
    tree.in_flight.append(Pending(path=event.path))
    if len(tree.in_flight) == tree.round_size:
        tree.next_phase, tree.cursor = "expand", 0


def _advance(tree: Tree, next_phase: Phase) -> None:
    """The next iteration of the round in the same phase, or the next phase."""
    tree.cursor += 1
    if tree.cursor == len(tree.in_flight):
        tree.next_phase, tree.cursor = next_phase, 0


def _backpropagate(tree: Tree, event: Backpropagated) -> None:
    _check_path(tree, event.path)
    pending = tree.in_flight[0]
    value = 0.0 if pending.value is None else pending.value
    if event.path != backup_path(pending) or event.value != value:
        raise ValueError("backpropagation does not match the selected path and the "
                         "simulated value")
    if event.q_after is not None and \
            event.q_after != backup_values(tree, event.path, event.value):
        raise ValueError("the Q values of an MCTSr backup do not follow its rule")
    for i, node_id in enumerate(event.path):
        tree.nodes[node_id].visits += 1
        tree.nodes[node_id].value_sum += event.value
        if event.q_after is not None:
            tree.nodes[node_id].backed_q = event.q_after[i]
    tree.tokens = event.tokens
    tree.iterations_done += 1
    tree.in_flight.pop(0)
    if not tree.in_flight:
        tree.next_phase, tree.round_size = "select", 1


def _count_tokens(tree: Tree, tokens: TokenCounts | None) -> None:
    """Take an event's cumulative cost (events saved before costs were recorded have none)."""
    if tokens is not None:
        tree.tokens = tokens


def _check_path(tree: Tree, path: tuple[int, ...]) -> None:
    if not path or path[0] != ROOT_ID:
        raise ValueError("a path must start at the root")
    for parent, child in zip(path, path[1:], strict=False):
        if not 0 <= child < len(tree.nodes) or tree.nodes[child].parent != parent:
            raise ValueError(f"node {child} is not a child of {parent}")


def _add_children(tree: Tree, event: Expanded) -> None:
    if not 0 <= event.node < len(tree.nodes):
        raise ValueError(f"no node {event.node}")
    parent = tree.nodes[event.node]
    for spec in event.children:
        if spec.id != len(tree.nodes):
            raise ValueError(f"new node id {spec.id}, expected {len(tree.nodes)}")
        tree.nodes.append(Node(
            id=spec.id, parent=parent.id, depth=parent.depth + 1, kind=spec.kind,
            text=spec.text, token_ids=list(spec.token_ids), prior=spec.prior,
            count=spec.count, confidences=list(spec.confidences), top=list(spec.top),
            token_texts=list(spec.token_texts),
            terminal=spec.terminal,
            answer=spec.answer, verdict=spec.verdict, ended=spec.ended, value=spec.value,
            dead=spec.dead, critique=spec.critique, placeholder=spec.placeholder,
            iteration_created=event.iteration, origin=event.origin,
            tokens_spent=len(spec.token_ids) * spec.count + spec.critique_tokens,
        ))
        parent.children.append(spec.id)


def fold(problem: str, events: Iterable[Event]) -> Tree:
    """The tree after ``events``, starting from an empty tree for ``problem``."""
    tree = Tree.new(problem)
    for event in events:
        apply(tree, event)
    return tree


def check_invariants(tree: Tree, value_range: tuple[float, float] = (0.0, 1.0)) -> list[str]:
    """Every broken invariant, described; an empty list when the tree is sound."""
    problems: list[str] = []
    if tree.root.visits != tree.iterations_done:
        problems.append(f"root visits {tree.root.visits} != iterations {tree.iterations_done}")
    lo, hi = value_range
    for node in tree.nodes:
        child_visits = sum(tree.nodes[c].visits for c in node.children)
        if child_visits > node.visits:
            problems.append(f"node {node.id}: children visits {child_visits} > {node.visits}")
        if node.visits and not lo - 1e-9 <= node.q <= hi + 1e-9:
            problems.append(f"node {node.id}: q {node.q} outside [{lo}, {hi}]")
        for c in node.children:
            if tree.nodes[c].parent != node.id or tree.nodes[c].depth != node.depth + 1:
                problems.append(f"node {c}: wrong parent or depth")
    return problems


def best_answer(tree: Tree) -> tuple[str | None, bool | None]:
    """The answer to report and its verdict; ``(None, None)`` when no answer was reached.

    Every answer the tree reached (a final-answer node, or the end of a rollout) is a
    candidate. A verified-correct one wins, then an unverified one, then a verified-wrong
    one; among equals, the answer reached most often (its nodes' visits and its rollouts),
    then the one with the higher mean value. The visits of the node a rollout started from
    do not count: a wrong answer that search kept reflecting on must not win by them.
    A placeholder (MCTSr's dummy answer, which the model did not write) is no candidate.
    """
    support: dict[str, list[float]] = {}  # answer -> [times reached, value sum, rank]
    for node in tree.nodes:
        # A placeholder the model did not write (MCTSr's dummy) is never reported.
        reached = [(node.answer, node.verdict, float(node.visits), node.value_sum)] \
            if node.terminal and not node.placeholder \
            else []
        reached += [(r.answer, r.verdict, 1, r.value) for r in node.rollouts]
        for answer, verdict, times, value in reached:
            if answer is None:
                continue
            rank = 2 if verdict is True else (1 if verdict is None else 0)
            entry = support.setdefault(answer, [0.0, 0.0, rank])
            entry[0] += times
            entry[1] += value
            entry[2] = max(entry[2], rank)
    if not support:
        return None, None
    answer, (_, _, best_rank) = max(
        support.items(), key=lambda kv: (kv[1][2], kv[1][0], kv[1][1] / max(kv[1][0], 1)))
    return answer, {2: True, 1: None, 0: False}[int(best_rank)]


def node_summary(node: Node) -> dict[str, Any]:
    """The node fields of the replay contract (without ``uct``, which needs the parent)."""
    return {
        "id": node.id, "parent": node.parent, "kind": node.kind, "text": node.text,
        "visits": node.visits, "value_sum": node.value_sum, "q": node.q,
        "prior": node.prior, "depth": node.depth, "terminal": node.terminal,
        "answer": node.answer, "verdict": node.verdict, "count": node.count,
        "tokens_spent": node.tokens_spent, "iteration_created": node.iteration_created,
        "value": node.value, "dead": node.dead, "critique": node.critique,
        "rewards": list(node.rewards), "placeholder": node.placeholder,
        "origin": node.origin, "pinned": node.pinned, "pruned": node.pruned,
    }
