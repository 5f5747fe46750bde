"""MCTS over a language model's steps (or MCTSr over whole answers), one phase at a time.

Each phase computes one event from the tree and applies it with ``tree.apply``:

    select    -> Selected(path, every sibling's score at every level)
    expand    -> Expanded(node, k sampled children, identical ones merged)
    simulate  -> Simulated(node, rollout to an answer, value)
    backprop  -> Backpropagated(path, value): value_sum += v, visits += 1 on the path

With ``SearchConfig.algorithm == "mctsr"`` the same four events carry MCTSr's phases
(``engine.strategies.mctsr``): selection over every candidate answer, self-refine,
sampled self-rewards and its backup rule.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace

import torch

from engine.backends.protocol import Backend, BackendSession, Sample, StopRule
from engine.core.config import SearchConfig
from engine.core.events import (
    Backpropagated,
    ChildSpec,
    Event,
    Expanded,
    ExpansionOrigin,
    Rollout,
    Selected,
    Simulated,
    SteerAction,
    Steered,
    TokenCounts,
)
from engine.core.phases import backup_path, closed_for, expansion_decision, next_selection
from engine.core.rewards import combine
from engine.core.seeding import stream_seed
from engine.core.tree import ROOT_ID, Node, Tree, apply
from engine.errors import InputError
from engine.strategies import steer as steering
from engine.strategies.mctsr import Refiner
from engine.strategies.values import Evaluator, StateToValue, mix
from engine.tasks import Task, make_task, node_kind
from engine.tasks.reflection import REFLECTION_LINE
from engine.tasks.task import Judgement

logger = logging.getLogger(__name__)



class Search:
    """A search over one problem: steps phases, applies events, keeps them in order."""

    def __init__(
        self,
        model: Backend,
        config: SearchConfig,
        problem: str,
        *,
        events: Iterable[Event] = (),
    ) -> None:
        """Start a new search, or continue one from its ``events`` (resume, fork)."""
        self.model = model
        self.config = config
        self.task: Task = make_task(config.task, problem, config.reference_answer)
        self.session: BackendSession = model.new_session(
            reuse=config.cache_reuse, budget_bytes=int(config.cache_budget_mb * (1 << 20))
        )
        self.prompt_ids = model.encode_prompt(self.task.prompt(model.chat))
        self.evaluator = Evaluator(self.task, self.session, config)
        self.refiner = Refiner(self) if config.algorithm == "mctsr" else None
        """MCTSr's phases (``engine.strategies.mctsr``); ``None`` for MCTS."""
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
            self.session.counter.judged = tokens.judged
            self.session.counter.discarded = tokens.discarded
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
        *,
        raise_when_exhausted: bool = False,
    ) -> list[Event]:
        """Complete ``iterations`` more iterations (the one in progress counts as one),
        calling ``on_event`` after every phase, so that a caller can keep each event even
        if it is interrupted. ``should_stop`` is asked between iterations. An exhausted
        tree (every branch ended) stops the run, or raises ``SearchExhausted`` with
        ``raise_when_exhausted``."""
        done: list[Event] = []
        target = self.tree.iterations_done + iterations
        while self.tree.iterations_done < target:
            if self.tree.next_phase == "select":
                if should_stop is not None and should_stop():
                    break
                if self.exhausted:
                    if raise_when_exhausted:
                        self.select()  # raises SearchExhausted, which says why
                    break
            event = self.step_phase()
            done.append(event)
            if on_event is not None:
                on_event(event)
        return done

    def _apply(self, event: Event) -> None:
        apply(self.tree, event)
        self.events.append(event)

    def generator(self, purpose: str, counter: int | None = None) -> torch.Generator:
        """The random stream for one draw: seeded by (run seed, problem, ``counter``, which
        defaults to the iteration, ``purpose``), so a resumed search draws the same numbers
        and different problems draw independent ones."""
        step = self.tree.iterations_done if counter is None else counter
        return torch.Generator().manual_seed(
            stream_seed(self.config.seed, self.tree.problem, step, purpose))

    def _path_tokens(self, node_id: int) -> list[tuple[int, list[int]]]:
        path = self.tree.path_to(node_id)
        nodes = [(n, self.tree.nodes[n].token_ids) for n in path[1:]]
        return [(ROOT_ID, self.prompt_ids), *nodes]

    def generated_text(self, node_id: int) -> str:
        """Everything the model wrote from the root down to ``node_id``."""
        ids = [t for n in self.tree.path_to(node_id)[1:] for t in self.tree.nodes[n].token_ids]
        return self.model.decode(ids)

    # -- the four phases ------------------------------------------------------------------

    def closed(self) -> dict[int, str]:
        """The nodes selection may no longer enter, and why (``phases.closed_nodes``)."""
        return closed_for(self.tree, self.config)

    @property
    def exhausted(self) -> bool:
        """Whether every branch has ended, so that no iteration can add anything."""
        return self.tree.next_phase == "select" and ROOT_ID in self.closed()

    def select(self) -> Selected:
        """Descend from the root by the best score until a leaf, avoiding closed nodes."""
        return next_selection(self.tree, self.config)

    def expand(self) -> Expanded:
        """Add children to the selected leaf, or say why it is simulated as it is."""
        if self.refiner is not None:
            return self.refiner.expand()
        leaf = self.tree.nodes[self.tree.pending.path[-1]]
        it = self.tree.iterations_done
        decision = expansion_decision(leaf, max_depth=self.config.max_depth,
                                      reflection=self.config.reflection == "on")
        if decision.action == "reflect":
            token_ids = self._reflection_ids(leaf)
            if not self._fits(leaf.id, len(token_ids)):
                return Expanded(it, leaf.id, (), "no room left in the model's context for a "
                                "reflection: the answer is evaluated as it is",
                                tokens=self.tokens())
            child = self._reflection_child(leaf, token_ids)
            return Expanded(it, leaf.id, (child,), decision.reason, tokens=self.tokens())
        if decision.action == "none":
            return Expanded(it, leaf.id, (), decision.reason, tokens=self.tokens())
        children = self.sample_children(leaf.id, self.generator("expand"))
        merged = self.config.children - len(children)
        more = " more" if leaf.children else ""
        reason = f"sampled {self.config.children}{more} next steps" + (
            f"; {merged} duplicate(s) merged" if merged else "")
        return Expanded(it, leaf.id, children, reason, tokens=self.tokens())

    def simulate(self) -> Simulated:
        """Roll out from the node to an answer (or evaluate a terminal node directly)."""
        if self.refiner is not None:
            return self.refiner.simulate()
        target = self.tree.pending.simulate_node
        node = self.tree.nodes[ROOT_ID if target is None else target]
        it = self.tree.iterations_done
        if node.terminal:
            value, reward = combine(self.config.reward, node.confidences, node.verdict)
            rollout = Rollout("", (), (), value, node.answer, node.verdict, reward)
            return Simulated(it, node.id, rollout, self.tokens())
        if node.children and all(self.tree.nodes[c].dead for c in node.children):
            rollout = Rollout("", (), (), 0.0, None, None, "step check",
                              stopped="every next step was rejected by the step check")
            return Simulated(it, node.id, rollout, self.tokens())
        mode = self.config.leaf_value
        state_value = self._state_value(node) if mode != "rollout" else None
        if mode == "value" and state_value is not None:
            rollout = Rollout("", (), (), state_value, None, None,
                              f"state value ({self.config.evaluator})",
                              state_value=state_value)
            return Simulated(it, node.id, rollout, self.tokens())
        rollout = self._rollout(node, state_value)
        return Simulated(it, node.id, rollout, self.tokens())

    def _rollout(self, node: Node, state_value: float | None) -> Rollout:
        """Sample to an answer from ``node``; its reward, mixed with ``state_value``."""
        prefix = self.generated_text(node.id)
        rule = StopRule("rollout", self.config.rollout_max_tokens, self.task.is_final_line,
                        self.evaluator.rollout_check(prefix))
        sample = self.session.sample(self._path_tokens(node.id), 1, rule,
                                     self.config.temperature, self.generator("simulate"))[0]
        judgement = self.judge_attempt(prefix, sample)
        reward_value, reward = combine(self.config.reward, sample.confidences,
                                       judgement.verdict)
        value = mix(reward_value, state_value, self.config.value_weight)
        if state_value is not None:
            reward = f"{reward} mixed with state value ({self.config.evaluator})"
        tokens = tuple(self.model.token_text(t) for t in sample.token_ids)
        return Rollout(sample.text, tokens, tuple(sample.confidences), value,
                       judgement.answer, judgement.verdict, reward, sample.rejected,
                       reward_value, state_value)

    def judge_attempt(self, prefix: str, sample: Sample) -> Judgement:
        """What a whole attempt (``sample`` after the text ``prefix``) amounts to. One the
        step check stopped at a rejected step has no answer, and it failed where the task
        checks steps."""
        if sample.rejected is not None:
            return Judgement(None, False if self.task.has_step_check else None)
        return self.task.judge(prefix + sample.text, sample.ended == "eos")

    def _state_value(self, node: Node) -> float | None:
        """The node's state value: stored at its creation, or judged now (the root)."""
        if node.value is not None or node.id != ROOT_ID:
            return node.value
        return self.evaluator.values([StateToValue("", (), False, None, None)])[0]

    def backpropagate(self) -> Backpropagated:
        """Add the value to every node on the path from the root to the simulated node."""
        if self.refiner is not None:
            return self.refiner.backpropagate()
        pending = self.tree.pending
        value = 0.0 if pending.value is None else pending.value
        return Backpropagated(self.tree.iterations_done, backup_path(pending), value,
                              self.tokens())

    def tokens(self) -> TokenCounts:
        """The search's cumulative cost so far (carried by every event that spends)."""
        c = self.session.counter
        return TokenCounts(c.forwarded, c.unique, c.generated, c.judged, c.discarded)

    def sample_children(self, node_id: int, generator: torch.Generator) -> tuple[ChildSpec, ...]:
        """Sample k next steps under ``node_id`` (identical ones merged) and keep their caches.

        Returns the new children's specs, numbered after the tree's last node; nothing is
        applied to the tree. A sample identical to one of the node's children is dropped
        (its tokens were spent all the same), and the node never exceeds ``max_children``.
        """
        parent = self.tree.nodes[node_id]
        samples = self.session.sample(
            self._path_tokens(node_id), self.config.children, self._step_rule(),
            self.config.temperature, generator,
        )
        known = {tuple(self.tree.nodes[c].token_ids) for c in parent.children}
        room = max(0, self.config.max_children - len(parent.children))
        kept = [s for s in samples if tuple(s.token_ids) not in known][:room]
        kept_ids = {id(s) for s in kept}
        self.session.counter.discarded += sum(len(s.token_ids) * s.count for s in samples
                                              if id(s) not in kept_ids)
        samples = kept
        first = len(self.tree.nodes)
        children = [self._child_spec(parent, s, first + i) for i, s in enumerate(samples)]
        before = self.generated_text(parent.id)
        values = self.evaluator.values([
            StateToValue(before + s.text, c.confidences, c.terminal, c.verdict, c.dead)
            for c, s in zip(children, samples, strict=True)])
        for spec, sample in zip(children, samples, strict=True):
            self.session.remember(spec.id, sample.state)
        return tuple(replace(c, value=v) for c, v in zip(children, values, strict=True))

    def expand_out_of_cycle(self, node_id: int, reason: str, generator: torch.Generator,
                            origin: ExpansionOrigin) -> Expanded:
        """Add sampled children under any node outside the four-phase cycle (a beam-search
        step), recorded with its ``origin``."""
        children = self.sample_children(node_id, generator)
        event = Expanded(self.tree.iterations_done, node_id, children, reason, origin,
                         self.tokens())
        self._apply(event)
        return event

    # -- reflection -----------------------------------------------------------------------

    def add_reflection(self, node_id: int) -> Expanded:
        """Add a reflection child under any node (outside the four-phase cycle)."""
        if not 0 <= node_id < len(self.tree.nodes):
            raise InputError(f"There is no node {node_id} in this tree.")
        node = self.tree.nodes[node_id]
        if self.refiner is not None:
            raise InputError("An MCTSr run refines its answers itself: a reflection by hand "
                             "is for MCTS runs.")
        if any(self.tree.nodes[c].kind == "reflection" for c in node.children):
            raise InputError(f"Node {node_id} already has a reflection branch.")
        if node.ended in ("eos", "context"):
            raise InputError(f"Node {node_id} ended the text ({node.ended}): nothing can "
                             "follow it, so it cannot get a reflection.")
        reflection_ids = self._reflection_ids(node)
        if not self._fits(node.id, len(reflection_ids)):
            raise InputError(f"Node {node_id} leaves no room in the model's context for the "
                             "reflection line.")
        event = Expanded(self.tree.iterations_done, node_id,
                         (self._reflection_child(node, reflection_ids),),
                         "reflection added by hand", "reflection_by_hand", self.tokens())
        self._apply(event)
        return event

    # -- steering by hand (engine.strategies.steer) ----------------------------------------

    def add_user_step(self, node_id: int, text: str) -> Expanded:
        """Add the user's ``text`` as a child of ``node_id``, scored by the model (origin
        ``user``); ``InputError`` for a bad request."""
        return steering.add_user_step(self, node_id, text)

    def steer(self, node_id: int, action: SteerAction, value: float | None = None) -> Steered:
        """Pin ``value`` on a node, unpin it, prune its subtree or restore it."""
        return steering.steer(self, node_id, action, value)

    def _reflection_ids(self, parent: Node) -> list[int]:
        """The reflection line's tokens after ``parent`` (on a line of its own)."""
        text = self.generated_text(parent.id) if parent.id != ROOT_ID else "\n"
        lead = "" if text.endswith("\n") else "\n"
        return self.model.encode_continuation(lead + REFLECTION_LINE + "\n")

    def _fits(self, node_id: int, extra_tokens: int) -> bool:
        """Whether ``extra_tokens`` more after ``node_id``'s path leave room to go on."""
        used = sum(len(tokens) for _, tokens in self._path_tokens(node_id))
        return used + extra_tokens < self.model.context_length

    def _reflection_child(self, parent: Node, token_ids: list[int]) -> ChildSpec:
        sample = self.session.force(self._path_tokens(parent.id), token_ids)
        child_id = len(self.tree.nodes)
        self.session.remember(child_id, sample.state)
        return ChildSpec(child_id, "reflection", REFLECTION_LINE, tuple(token_ids),
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
        dead = None if terminal else self.evaluator.dead(full[:len(full) - len(sample.text)],
                                                         text)
        return ChildSpec(child_id, kind, text, tuple(sample.token_ids), sample.logprob,
                         sample.count, tuple(sample.confidences), terminal, answer, verdict,
                         sample.ended, None, dead)
