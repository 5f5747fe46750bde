"""MCTS over a language model's steps (or MCTSr over whole answers), one phase at a time.

Each phase computes one event from the tree and applies it with ``tree.apply``:

    select    -> Selected(path, every sibling's score at every level)
    expand    -> Expanded(node, k sampled children, identical ones merged)
    simulate  -> Simulated(node, rollout to an answer, value)
    backprop  -> Backpropagated(path, value): value_sum += v, visits += 1 on the path

With ``SearchConfig.algorithm == "mctsr"`` the four events carry MCTSr's phases (``engine.
strategies.mctsr``): selection over every candidate, self-refine, self-rewards, its backup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

import torch

from engine.backends.protocol import Backend, BackendSession, Sample, StopRule
from engine.core.config import SearchConfig
from engine.core.costs import E, stamped
from engine.core.events import (
    Backpropagated,
    ChildSpec,
    Event,
    Expanded,
    ExpansionOrigin,
    Selected,
    SteerAction,
    Steered,
    TokenCounts,
)
from engine.core.phases import backup_path, closed_for, next_selection, select_round
from engine.core.seeding import stream_seed
from engine.core.tree import ROOT_ID, Node, Tree, apply
from engine.errors import InputError
from engine.strategies import steer as steering
from engine.strategies.mctsr import Refiner
from engine.strategies.rounds import expand_round, simulate_round, token_texts, token_top
from engine.strategies.values import Evaluator, StateToValue
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
        self._queued: list[Event] = []
        """A parallel round's events of the current phase, computed, not yet applied."""
        for event in events:
            apply(self.tree, event)
            self.events.append(event)
        if self.events:
            for name in ("forwarded", "unique", "generated", "judged", "discarded"):
                setattr(self.session.counter, name, getattr(self.tree.tokens, name))
        else:
            self.session.count_unique(len(self.prompt_ids))

    # -- stepping -------------------------------------------------------------------------

    def step_phase(self, round_cap: int | None = None) -> Event:
        """Compute the next phase's event, apply it to the tree and return it. In a parallel
        round (``SearchConfig.parallel`` B > 1) one phase's events for all the round's
        iterations are computed at once, as one batch for the model, and handed out one per
        call, in iteration order, each with an even share of the batch's wall time as
        ``ms``. ``round_cap``: the most iterations a round that starts now may have."""
        if not self._queued:
            started = time.perf_counter()
            events = self._phase_events(round_cap)
            self._queued = stamped(events, time.perf_counter() - started)
        return self._apply(self._queued.pop(0))

    def step_round_phase(self) -> list[Event]:
        """The current phase for every iteration of the round (what "next phase" does): one
        event in plain MCTS, up to B in a parallel round."""
        phase = self.tree.next_phase
        events = [self.step_phase()]
        while self.tree.next_phase == phase:
            events.append(self.step_phase())
        return events

    def step_iteration(self, round_cap: int | None = None) -> list[Event]:
        """Run phases until the current round is complete (four events from a fresh one in
        plain MCTS; 4 x b in a parallel round of b <= B, b <= ``round_cap``)."""
        events = [self.step_phase(round_cap)]
        while not self.between_rounds:
            events.append(self.step_phase())
        return events

    @property
    def round_left(self) -> int:
        """Iterations left to complete in the round in flight; between rounds, the next
        round's most (``parallel``)."""
        tree = self.tree
        if not tree.in_flight:
            return self.parallel
        return len(tree.in_flight) if tree.next_phase == "backprop" else tree.round_size

    @property
    def between_rounds(self) -> bool:
        """Whether no iteration is in flight (the next event starts a round)."""
        return self.tree.next_phase == "select" and not self.tree.in_flight

    def run(
        self,
        iterations: int,
        on_event: Callable[[Event], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        *,
        raise_when_exhausted: bool = False,
        round_cap: Callable[[], int] | None = None,
    ) -> list[Event]:
        """Complete ``iterations`` more iterations (those in flight count), calling
        ``on_event`` after every phase, so that a caller can keep each event even if it is
        interrupted. ``should_stop`` is asked between rounds (between iterations in plain
        MCTS); a parallel round never runs past ``iterations``, nor past ``round_cap()``
        (asked as a round starts: a token budget's share). An exhausted tree (every branch
        ended) stops the run, or raises ``SearchExhausted`` with ``raise_when_exhausted``."""
        done: list[Event] = []
        target = self.tree.iterations_done + iterations
        while self.tree.iterations_done < target:
            cap = target - self.tree.iterations_done
            if self.between_rounds:
                cap = cap if round_cap is None else max(1, min(cap, round_cap()))
                if should_stop is not None and should_stop():
                    break
                if self.exhausted:
                    if raise_when_exhausted:
                        self.select()  # raises SearchExhausted, which says why
                    break
            event = self.step_phase(cap)
            done.append(event)
            if on_event is not None:
                on_event(event)
        return done

    def check_no_half_phase(self) -> None:
        """Raise ``InputError`` while a parallel round's phase is half applied: the rest
        of its events are computed with the nodes numbered as they are, so a node added by
        hand must wait until the phase is complete."""
        if self._queued:
            raise InputError(f"This round's {self.tree.next_phase} phase has "
                             f"{len(self._queued)} more event(s) to apply: step to the end "
                             "of the phase first.")

    def _apply(self, event: E, started: float | None = None) -> E:
        """Apply and keep ``event``, with its ``ms`` if computed since ``started``."""
        if started is not None:
            event = stamped([event], time.perf_counter() - started)[0]
        apply(self.tree, event)
        self.events.append(event)
        return event

    def generator(self, purpose: str, counter: int | None = None) -> torch.Generator:
        """The random stream for one draw, seeded by (run seed, problem, ``counter`` (by
        default the iteration), ``purpose``): a resumed search draws the same numbers."""
        step = self.tree.next_iteration if counter is None else counter
        return torch.Generator().manual_seed(
            stream_seed(self.config.seed, self.tree.problem, step, purpose))

    def path_tokens(self, node_id: int) -> list[tuple[int, list[int]]]:
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
        return self.between_rounds and ROOT_ID in self.closed()

    @property
    def parallel(self) -> int:
        """Iterations per round: ``SearchConfig.parallel`` for MCTS, 1 for MCTSr."""
        return self.config.parallel if self.refiner is None else 1

    def select(self) -> Selected:
        """Descend from the root by the best score until a leaf, avoiding closed nodes."""
        return next_selection(self.tree, self.config)

    def _phase_events(self, round_cap: int | None) -> list[Event]:
        """The next phase's events for the rest of the round, computed as one batch."""
        phase = self.tree.next_phase
        if phase == "select":
            size = self.parallel if round_cap is None else max(1, min(self.parallel,
                                                                       round_cap))
            return list(select_round(self.tree, self.config, size))
        if self.refiner is not None:
            refine: dict[str, Callable[[], Event]] = {
                "expand": self.refiner.expand, "simulate": self.refiner.simulate,
                "backprop": self.refiner.backpropagate}
            return [refine[phase]()]
        if phase == "expand":
            return list(expand_round(self))
        if phase == "simulate":
            return list(simulate_round(self))
        return [self.backpropagate()]

    def judge_attempt(self, prefix: str, sample: Sample) -> Judgement:
        """What a whole attempt (``sample`` after the text ``prefix``) amounts to. One the
        step check stopped at a rejected step has no answer, and it failed where the task
        checks steps."""
        if sample.rejected is not None:
            return Judgement(None, False if self.task.has_step_check else None)
        return self.task.judge(prefix + sample.text, sample.ended == "eos")

    def state_value(self, node: Node) -> float | None:
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
        applied to the tree."""
        samples = self.session.sample(
            self.path_tokens(node_id), self.config.children, self.step_rule(),
            self.config.temperature, generator,
        )
        kept = self.new_children(node_id, samples, len(self.tree.nodes))
        return self.valued([(node_id, kept)])[0]

    def new_children(self, node_id: int, samples: list[Sample], first_id: int,
                     earlier: list[tuple[int, ...]] | None = None
                     ) -> list[tuple[ChildSpec, Sample]]:
        """The children that ``samples`` (drawn under ``node_id``) make, numbered from
        ``first_id``, without their state values (``valued`` adds them). A sample identical
        to a child of the node or to one of ``earlier`` (the children that the round's
        earlier expansions of it add) is dropped (its tokens were spent all the same); the
        node never exceeds ``max_children``."""
        parent, earlier = self.tree.nodes[node_id], earlier or []
        known = {tuple(self.tree.nodes[c].token_ids) for c in parent.children} | set(earlier)
        room = max(0, self.config.max_children - len(parent.children) - len(earlier))
        kept = [s for s in samples if tuple(s.token_ids) not in known][:room]
        kept_ids = {id(s) for s in kept}
        self.session.counter.discarded += sum(len(s.token_ids) * s.count for s in samples
                                              if id(s) not in kept_ids)
        return [(self._child_spec(parent, s, first_id + i), s) for i, s in enumerate(kept)]

    def valued(self, groups: list[tuple[int, list[tuple[ChildSpec, Sample]]]]
               ) -> list[tuple[ChildSpec, ...]]:
        """Each group's children (``(parent id, new_children(...))``) with their state
        values, judged in one call for all groups; their caches are kept."""
        states = [StateToValue(self.generated_text(parent) + s.text, c.confidences,
                               c.terminal, c.verdict, c.dead)
                  for parent, kept in groups for c, s in kept]
        values = iter(self.evaluator.values(states))
        out = []
        for _, kept in groups:
            for spec, sample in kept:
                self.session.remember(spec.id, sample.state)
            out.append(tuple(replace(c, value=next(values)) for c, _ in kept))
        return out

    def expand_out_of_cycle(self, node_id: int, reason: str, generator: torch.Generator,
                            origin: ExpansionOrigin) -> Expanded:
        """Sampled children under any node, outside the four-phase cycle (a beam step)."""
        started = time.perf_counter()
        self.check_no_half_phase()
        children = self.sample_children(node_id, generator)
        event = Expanded(self.tree.iterations_done, node_id, children, reason, origin,
                         self.tokens())
        return self._apply(event, started)

    # -- reflection -----------------------------------------------------------------------

    def add_reflection(self, node_id: int) -> Expanded:
        """Add a reflection child under any node (outside the four-phase cycle)."""
        started = time.perf_counter()
        if not 0 <= node_id < len(self.tree.nodes):
            raise InputError(f"There is no node {node_id} in this tree.")
        self.check_no_half_phase()
        node = self.tree.nodes[node_id]
        if self.refiner is not None:
            raise InputError("An MCTSr run refines its answers itself: a reflection by hand "
                             "is for MCTS runs.")
        if any(self.tree.nodes[c].kind == "reflection" for c in node.children):
            raise InputError(f"Node {node_id} already has a reflection branch.")
        if node.ended in ("eos", "context"):
            raise InputError(f"Node {node_id} ended the text ({node.ended}): nothing can "
                             "follow it, so it cannot get a reflection.")
        reflection_ids = self.reflection_ids(node)
        if not self.fits(node.id, len(reflection_ids)):
            raise InputError(f"Node {node_id} leaves no room in the model's context for the "
                             "reflection line.")
        event = Expanded(self.tree.iterations_done, node_id,
                         (self.reflection_child(node, reflection_ids),),
                         "reflection added by hand", "reflection_by_hand", self.tokens())
        return self._apply(event, started)

    # -- steering by hand (engine.strategies.steer) ----------------------------------------

    def add_user_step(self, node_id: int, text: str) -> Expanded:
        """Add the user's ``text`` as a child of ``node_id``, scored by the model (origin
        ``user``); ``InputError`` for a bad request."""
        self.check_no_half_phase()
        return steering.add_user_step(self, node_id, text)

    def steer(self, node_id: int, action: SteerAction, value: float | None = None) -> Steered:
        """Pin ``value`` on a node, unpin it, prune its subtree or restore it."""
        return steering.steer(self, node_id, action, value)

    def reflection_ids(self, parent: Node) -> list[int]:
        """The reflection line's tokens after ``parent`` (on a line of its own)."""
        text = self.generated_text(parent.id) if parent.id != ROOT_ID else "\n"
        lead = "" if text.endswith("\n") else "\n"
        return self.model.encode_continuation(lead + REFLECTION_LINE + "\n")

    def fits(self, node_id: int, extra_tokens: int) -> bool:
        """Whether ``extra_tokens`` more after ``node_id``'s path leave room to go on."""
        used = sum(len(tokens) for _, tokens in self.path_tokens(node_id))
        return used + extra_tokens < self.model.context_length

    def reflection_child(self, parent: Node, token_ids: list[int],
                         child_id: int | None = None) -> ChildSpec:
        """The reflection line under ``parent``, scored, as child ``child_id`` (default: the
        next id)."""
        sample = self.session.force(self.path_tokens(parent.id), token_ids)
        child_id = len(self.tree.nodes) if child_id is None else child_id
        self.session.remember(child_id, sample.state)
        return ChildSpec(child_id, "reflection", REFLECTION_LINE, tuple(token_ids),
                         sample.logprob, 1, tuple(sample.confidences), False, None, None)

    def step_rule(self) -> StopRule:
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
                         sample.ended, None, dead, top=token_top(self.model, sample),
                         token_texts=token_texts(self.model, sample))
