"""The expansion and simulation phases of a round, with the model called once per round.

A round is one iteration in plain MCTS, or up to B in parallel MCTS (``SearchConfig.
parallel``). Each phase first decides, for every iteration of the round still to do, what
it needs (``phases.expansion_decision``: children to sample, a reflection line, nothing; a
rollout, a known value); then every sample the round needs is drawn in one batch
(``BackendSession.sample_many``), each from its own iteration's random stream; then the
events are made in iteration order, numbering new nodes one after another. With one
iteration this is exactly the plain search, event for event.

Every event of a batch carries the cumulative cost after the whole batch: the model spent
those tokens together (``Search.step_phase`` splits the batch's time evenly over them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.backends.protocol import Backend, Sample, SampleRequest, StopRule
from engine.core.events import ChildSpec, Expanded, Rollout, Simulated, TokenTop
from engine.core.phases import expansion_decision
from engine.core.rewards import combine
from engine.core.tree import ROOT_ID, Node, Pending
from engine.strategies.values import mix

if TYPE_CHECKING:
    from engine.strategies.search import Search


@dataclass
class _Plan:
    """One iteration's share of a phase: its event, or the sample it waits for."""

    iteration: int
    node: Node
    request: SampleRequest | None = None
    finish: Callable[[list[Sample]], Rollout] | None = None


def _round(search: Search) -> list[tuple[int, Pending]]:
    """(iteration, pending) of each iteration of the round still to do in this phase."""
    tree = search.tree
    return [(tree.next_iteration + i, p) for i, p in enumerate(tree.in_flight[tree.cursor:])]


def _sample(search: Search, plans: list[_Plan]) -> list[list[Sample] | None]:
    """Every plan's samples, drawn in one batch (``None`` for a plan that needs none)."""
    requests = [p.request for p in plans if p.request is not None]
    drawn = iter(search.session.sample_many(requests, search.config.temperature)
                 if requests else [])
    return [next(drawn) if p.request is not None else None for p in plans]


def expand_round(search: Search) -> list[Expanded]:
    """The round's expansions: every leaf that gets sampled children gets them from one
    batch; reflections and "nothing to add" are decided as in plain MCTS."""
    config = search.config
    plans: list[_Plan] = []
    reasons: list[str] = []
    reflections: list[list[int] | None] = []
    for it, pending in _round(search):
        leaf = search.tree.nodes[pending.path[-1]]
        decision = expansion_decision(leaf, max_depth=config.max_depth,
                                      reflection=config.reflection == "on")
        plan = _Plan(it, leaf)
        reflection = None
        reason = decision.reason
        if decision.action == "reflect":
            reflection = search.reflection_ids(leaf)
            if not search.fits(leaf.id, len(reflection)):
                reflection = None
                reason = ("no room left in the model's context for a reflection: the "
                          "answer is evaluated as it is")
        elif decision.action == "sample":
            plan.request = SampleRequest(search.path_tokens(leaf.id), config.children,
                                         search.step_rule(), search.generator("expand", it))
            more = " more" if leaf.children else ""
            reason = f"sampled {config.children}{more} next steps"
        plans.append(plan)
        reasons.append(reason)
        reflections.append(reflection)
    drawn = _sample(search, plans)
    next_id = len(search.tree.nodes)
    groups: list[tuple[int, list[tuple[ChildSpec, Sample]]]] = []
    forced: list[tuple[ChildSpec, ...]] = []
    added: dict[int, list[tuple[int, ...]]] = {}  # a node's children added in this round
    for plan, samples, reflection in zip(plans, drawn, reflections, strict=True):
        earlier = added.setdefault(plan.node.id, [])
        kept = [] if samples is None else search.new_children(plan.node.id, samples, next_id,
                                                              earlier)
        earlier.extend(tuple(spec.token_ids) for spec, _ in kept)
        children: tuple[ChildSpec, ...] = ()
        if reflection is not None:
            children = (search.reflection_child(plan.node, reflection, next_id),)
        groups.append((plan.node.id, kept))
        forced.append(children)
        next_id += len(kept) + len(children)
    sampled = search.valued(groups)
    tokens = search.tokens()
    events = []
    for plan, why, new, extra in zip(plans, reasons, sampled, forced, strict=True):
        if plan.request is not None:
            merged = config.children - len(new)
            why += f"; {merged} duplicate(s) merged" if merged else ""
        events.append(Expanded(plan.iteration, plan.node.id, new + extra, why, tokens=tokens))
    return events


def simulate_round(search: Search) -> list[Simulated]:
    """The round's simulations: every rollout the round needs is drawn in one batch; a
    finished answer, a node whose every next step is dead and a leaf scored by its state
    value alone need none."""
    config = search.config
    plans: list[_Plan] = []
    known: list[Rollout | None] = []
    for it, pending in _round(search):
        target = pending.simulate_node
        node = search.tree.nodes[ROOT_ID if target is None else target]
        plan = _Plan(it, node)
        plans.append(plan)
        if node.terminal:
            value, reward = combine(config.reward, node.confidences, node.verdict)
            known.append(Rollout("", (), (), value, node.answer, node.verdict, reward))
            continue
        if node.children and all(search.tree.nodes[c].dead for c in node.children):
            known.append(Rollout("", (), (), 0.0, None, None, "step check",
                                 stopped="every next step was rejected by the step check"))
            continue
        state_value = search.state_value(node) if config.leaf_value != "rollout" else None
        if config.leaf_value == "value" and state_value is not None:
            known.append(Rollout("", (), (), state_value, None, None,
                                 f"state value ({config.evaluator})",
                                 state_value=state_value))
            continue
        known.append(None)
        prefix = search.generated_text(node.id)
        rule = StopRule("rollout", config.rollout_max_tokens, search.task.is_final_line,
                        search.evaluator.rollout_check(prefix))
        plan.request = SampleRequest(search.path_tokens(node.id), 1, rule,
                                     search.generator("simulate", it))
        plan.finish = _rollout_finisher(search, prefix, state_value)
    drawn = _sample(search, plans)
    rollouts: list[Rollout] = []
    for plan, rollout, samples in zip(plans, known, drawn, strict=True):
        if rollout is None:
            assert plan.finish is not None and samples is not None, "a rollout was drawn"
            rollout = plan.finish(samples)
        rollouts.append(rollout)
    tokens = search.tokens()
    return [Simulated(plan.iteration, plan.node.id, rollout, tokens)
            for plan, rollout in zip(plans, rollouts, strict=True)]


def _rollout_finisher(search: Search, prefix: str, state_value: float | None
                      ) -> Callable[[list[Sample]], Rollout]:
    """How a rollout's one sample after ``prefix`` becomes a ``Rollout``: judged, its
    reward mixed with the leaf's ``state_value``."""
    config = search.config

    def finish(samples: list[Sample]) -> Rollout:
        sample = samples[0]
        judgement = search.judge_attempt(prefix, sample)
        reward_value, reward = combine(config.reward, sample.confidences,
                                       judgement.verdict)
        value = mix(reward_value, state_value, config.value_weight)
        if state_value is not None:
            reward = f"{reward} mixed with state value ({config.evaluator})"
        tokens = tuple(search.model.token_text(t) for t in sample.token_ids)
        return Rollout(sample.text, tokens, tuple(sample.confidences), value,
                       judgement.answer, judgement.verdict, reward, sample.rejected,
                       reward_value, state_value, top=token_top(search.model, sample))

    return finish


def token_top(model: Backend, sample: Sample) -> tuple[TokenTop, ...]:
    """Each of the sample's tokens' top alternatives (``Sample.top``) as the events keep
    them: the token's text and its probability rounded down to 4 decimals (so that they
    stay in descending order and their sum stays at most 1)."""
    return tuple(tuple((model.token_text(t), math.floor(p * 10_000) / 10_000) for t, p in top)
                 for top in sample.top)


def token_texts(model: Backend, sample: Sample) -> tuple[str, ...]:
    """The sample's tokens as text, kept beside their alternatives (``ChildSpec.
    token_texts``); ``()`` where the sample has no alternatives."""
    return tuple(model.token_text(t) for t in sample.token_ids) if sample.top else ()
