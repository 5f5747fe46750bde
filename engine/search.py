"""MCTS over a language model's steps, one phase at a time.

Each phase computes one event from the tree and applies it with ``tree.apply``:

    select    -> Selected(path, every sibling's score at every level)
    expand    -> Expanded(node, k sampled children, identical ones merged)
    simulate  -> Simulated(node, rollout to an answer, value)
    backprop  -> Backpropagated(path, value): value_sum += v, visits += 1 on the path
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import torch

from engine import game24
from engine.config import SearchConfig
from engine.errors import InputError
from engine.events import (
    Backpropagated,
    ChildSpec,
    Event,
    Expanded,
    Rollout,
    Selected,
    SelectionLevel,
    Simulated,
    TokenCounts,
)
from engine.lm import HFModel, ModelSession, Sample, StopRule
from engine.rewards import combine
from engine.selection import children_scores, pick
from engine.tasks import Task, make_task, node_kind
from engine.tree import ROOT_ID, Node, Tree, apply

logger = logging.getLogger(__name__)

REFLECTION_TEXT = game24.REFLECTION_LINE
_PHASE_SALT = {"select": 0, "expand": 1, "simulate": 2, "backprop": 3, "reflect": 4}


class Search:
    """A search over one problem: steps phases, applies events, keeps them in order."""

    def __init__(
        self,
        model: HFModel,
        config: SearchConfig,
        problem: str,
        *,
        events: Iterable[Event] = (),
    ) -> None:
        """Start a new search, or continue one from its ``events`` (resume, fork)."""
        self.model = model
        self.config = config
        self.task: Task = make_task(config.task, problem, config.reference_answer)
        self.session: ModelSession = model.new_session(
            reuse=config.cache_reuse, budget_bytes=int(config.cache_budget_mb * (1 << 20))
        )
        self.prompt_ids = model.encode_prompt(self.task.prompt(model.chat))
        self.tree = Tree.new(self.task.problem)
        self.events: list[Event] = []
        for event in events:
            apply(self.tree, event)
            self.events.append(event)
        if self.events:
            tokens = self.tree.tokens
            self.session.counter.forwarded = tokens.forwarded
            self.session.counter.unique = tokens.unique
            self.session.counter.generated = tokens.generated
        else:
            self.session.count_unique(len(self.prompt_ids))

    # -- stepping -------------------------------------------------------------------------

    def step_phase(self) -> Event:
        """Compute the next phase's event, apply it to the tree and return it."""
        phase = self.tree.next_phase
        if phase == "select":
            event: Event = self.select()
        elif phase == "expand":
            event = self.expand()
        elif phase == "simulate":
            event = self.simulate()
        else:
            event = self.backpropagate()
        self._apply(event)
        return event

    def step_iteration(self) -> list[Event]:
        """Run phases until the current iteration is complete (four events from a fresh one)."""
        events = [self.step_phase()]
        while self.tree.next_phase != "select":
            events.append(self.step_phase())
        return events

    def run(
        self,
        iterations: int,
        on_event: Callable[[Event], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[Event]:
        """Complete ``iterations`` more iterations; ``should_stop`` is asked between them."""
        done: list[Event] = []
        target = self.tree.iterations_done + iterations
        while self.tree.iterations_done < target:
            if should_stop is not None and should_stop():
                break
            for event in self.step_iteration():
                done.append(event)
                if on_event is not None:
                    on_event(event)
        return done

    def _apply(self, event: Event) -> None:
        apply(self.tree, event)
        self.events.append(event)

    def _generator(self, phase: str) -> torch.Generator:
        # Seeded per (run seed, iteration, phase): a resumed search draws the same numbers.
        seed = (self.config.seed * 1_000_003 + self.tree.iterations_done) * 8 + _PHASE_SALT[phase]
        return torch.Generator().manual_seed(seed % (2**63))

    def _path_tokens(self, node_id: int) -> list[tuple[int, list[int]]]:
        path = self.tree.path_to(node_id)
        nodes = [(n, self.tree.nodes[n].token_ids) for n in path[1:]]
        return [(ROOT_ID, self.prompt_ids), *nodes]

    def generated_text(self, node_id: int) -> str:
        """Everything the model wrote from the root down to ``node_id``."""
        ids = [t for n in self.tree.path_to(node_id)[1:] for t in self.tree.nodes[n].token_ids]
        return self.model.decode(ids)

    # -- the four phases ------------------------------------------------------------------

    def select(self) -> Selected:
        """Descend from the root by the best score until a node without children."""
        node = self.tree.root
        path = [node.id]
        levels: list[SelectionLevel] = []
        while node.children:
            scores = children_scores(self.tree, node.id, self.config.selection,
                                     self.config.exploration)
            best = pick(scores)
            levels.append(SelectionLevel(node.id, node.visits, tuple(scores), best.child))
            node = self.tree.nodes[best.child]
            path.append(node.id)
        return Selected(self.tree.iterations_done, tuple(path), tuple(levels))

    def expand(self) -> Expanded:
        """Add children to the selected leaf, or say why it is simulated as it is."""
        leaf = self.tree.nodes[self.tree.pending.path[-1]]
        it = self.tree.iterations_done
        if leaf.terminal:
            if self._wants_reflection(leaf):
                child = self._reflection_child(leaf)
                reason = "the answer is not verified correct, so search reflects and continues"
                return Expanded(it, leaf.id, (child,), reason)
            return Expanded(it, leaf.id, (), "terminal node: it is evaluated directly")
        if leaf.id != ROOT_ID and leaf.visits == 0:
            return Expanded(it, leaf.id, (), "first visit: simulate from this node as it is")
        if leaf.depth >= self.config.max_depth:
            return Expanded(it, leaf.id, (), f"at the depth limit ({self.config.max_depth})")
        children = self.sample_children(leaf.id, self._generator("expand"))
        merged = self.config.children - len(children)
        reason = f"sampled {self.config.children} next steps" + (
            f"; {merged} duplicate(s) merged" if merged else "")
        return Expanded(it, leaf.id, children, reason)

    def simulate(self) -> Simulated:
        """Roll out from the node to an answer (or evaluate a terminal node directly)."""
        node = self.tree.nodes[self.tree.pending.simulate_node or ROOT_ID]
        it = self.tree.iterations_done
        if node.terminal:
            value, reward = combine(self.config.reward, node.confidences, node.verdict)
            rollout = Rollout("", (), (), value, node.answer, node.verdict, reward)
            return Simulated(it, node.id, rollout)
        rule = StopRule("rollout", self.config.rollout_max_tokens, self.task.is_final_line)
        sample = self.session.sample(self._path_tokens(node.id), 1, rule,
                                     self.config.temperature, self._generator("simulate"))[0]
        judgement = self.task.judge(self.generated_text(node.id) + sample.text,
                                    sample.ended == "eos")
        value, reward = combine(self.config.reward, sample.confidences, judgement.verdict)
        tokens = tuple(self.model.token_text(t) for t in sample.token_ids)
        rollout = Rollout(sample.text, tokens, tuple(sample.confidences), value,
                          judgement.answer, judgement.verdict, reward)
        return Simulated(it, node.id, rollout)

    def backpropagate(self) -> Backpropagated:
        """Add the value to every node on the path from the root to the simulated node."""
        pending = self.tree.pending
        path = pending.path
        if pending.simulate_node is not None and pending.simulate_node != path[-1]:
            path = (*path, pending.simulate_node)
        c = self.session.counter
        return Backpropagated(self.tree.iterations_done, path, pending.value or 0.0,
                              TokenCounts(c.forwarded, c.unique, c.generated))

    def sample_children(self, node_id: int, generator: torch.Generator) -> tuple[ChildSpec, ...]:
        """Sample k next steps under ``node_id`` (identical ones merged) and keep their caches.

        Returns the new children's specs, numbered after the tree's last node; nothing is
        applied to the tree.
        """
        parent = self.tree.nodes[node_id]
        samples = self.session.sample(
            self._path_tokens(node_id), self.config.children, self._step_rule(),
            self.config.temperature, generator,
        )
        first = len(self.tree.nodes)
        children = tuple(self._child_spec(parent, s, first + i) for i, s in enumerate(samples))
        for spec, sample in zip(children, samples, strict=True):
            self.session.remember(spec.id, sample.state)
        return children

    def expand_manually(self, node_id: int, reason: str, generator: torch.Generator) -> Expanded:
        """Add sampled children under any node outside the four-phase cycle (beam search)."""
        event = Expanded(self.tree.iterations_done, node_id,
                         self.sample_children(node_id, generator), reason, manual=True)
        self._apply(event)
        return event

    # -- reflection -----------------------------------------------------------------------

    def add_reflection(self, node_id: int) -> Expanded:
        """Add a reflection child under any node (outside the four-phase cycle)."""
        if not 0 <= node_id < len(self.tree.nodes):
            raise InputError(f"There is no node {node_id} in this tree.")
        node = self.tree.nodes[node_id]
        if any(self.tree.nodes[c].kind == "reflection" for c in node.children):
            raise InputError(f"Node {node_id} already has a reflection branch.")
        event = Expanded(self.tree.iterations_done, node_id, (self._reflection_child(node),),
                         "reflection added by hand", manual=True)
        self._apply(event)
        return event

    def _wants_reflection(self, leaf: Node) -> bool:
        return (self.config.reflection == "on" and leaf.verdict is not True
                and not leaf.children and leaf.depth < self.config.max_depth)

    def _reflection_child(self, parent: Node) -> ChildSpec:
        text = self.generated_text(parent.id) if parent.id != ROOT_ID else "\n"
        lead = "" if text.endswith("\n") else "\n"
        token_ids = self.model.encode_continuation(lead + REFLECTION_TEXT + "\n")
        sample = self.session.force(self._path_tokens(parent.id), token_ids)
        child_id = len(self.tree.nodes)
        self.session.remember(child_id, sample.state)
        return ChildSpec(child_id, "reflection", REFLECTION_TEXT, tuple(token_ids),
                         sample.logprob, 1, tuple(sample.confidences), False, None, None)

    # -- helpers --------------------------------------------------------------------------

    def _step_rule(self) -> StopRule:
        if self.config.granularity == "mini-step":
            return StopRule("tokens", self.config.mini_step_tokens)
        return StopRule("line", self.config.max_step_tokens)

    def _child_spec(self, parent: Node, sample: Sample, child_id: int) -> ChildSpec:
        granularity = self.config.granularity
        text = sample.text.rstrip("\n") if granularity == "step" else sample.text
        kind = node_kind(self.task, text, granularity)
        full = self.generated_text(parent.id) + sample.text
        finished_line = any(self.task.is_final_line(line) for line in full.split("\n")[:-1])
        terminal = (sample.ended in ("eos", "context") or kind == "answer"
                    or (granularity == "mini-step" and finished_line))
        answer, verdict = None, None
        if terminal:
            judgement = self.task.judge(full, sample.ended == "eos")
            answer, verdict = judgement.answer, judgement.verdict
        return ChildSpec(child_id, kind, text, tuple(sample.token_ids), sample.logprob,
                         sample.count, tuple(sample.confidences), terminal, answer, verdict)
