"""A small worked example for the Learn page: four iterations and a reflection on
'4 5 6 10', written as phase events so the page draws it with the app's own graph.

Every phase follows the engine's own rules (``engine.core.phases``) on the tree as
it stands, exactly as a live search scores them. The model's outputs (texts, priors, token
confidences) are made up; everything derived from them is computed by the engine: each
rollout's answer and verdict by the task's judge, its value by the reward
(``engine.core.rewards``, reward = confidence), every Q by the fold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.core.events import (
    Backpropagated,
    ChildSpec,
    Event,
    Expanded,
    Rollout,
    Simulated,
    TokenCounts,
)
from engine.core.phases import (
    backup_path,
    closed_nodes,
    expansion_decision,
    select_path,
    simulation_target,
)
from engine.core.rewards import combine, token_confidence
from engine.core.tree import Tree, apply
from engine.tasks import make_task
from engine.tasks.reflection import REFLECTION_LINE

PROBLEM = "4 5 6 10"
MAX_DEPTH = 12
REWARD = "confidence"
"""The example's reward: a rollout's value is its mean token confidence (Marco-o1)."""


def _child(node_id: int, text: str, prior: float, *, answer: str | None = None,
           verdict: bool | None = None, kind: str = "step") -> ChildSpec:
    return ChildSpec(node_id, kind, text, (), prior, 1, (), answer is not None,  # type: ignore[arg-type]
                     answer, verdict)


def _rollout(text: str, confidences: tuple[float, ...]) -> Rollout:
    """A rollout of ``text``: judged by the task, valued by the example's reward."""
    tokens = tuple(text[i:i + 4] for i in range(0, len(text), 4))
    confs = tuple(confidences[i % len(confidences)] for i in range(len(tokens)))
    judged = make_task("game24", PROBLEM).judge(text, True)
    value, reward = combine(REWARD, confs, judged.verdict)
    return Rollout(text, tokens, confs, value, judged.answer, judged.verdict, reward)


@dataclass(frozen=True)
class ConfidenceExample:
    """One position of a rollout: the five most likely next tokens and the one chosen."""

    name: str
    chosen: float
    """The chosen token's log-probability."""
    top: tuple[float, ...]
    """The five largest log-probabilities, most likely first."""

    @property
    def confidence(self) -> float:
        return token_confidence(self.chosen, self.top)


VOCABULARY = 1000
"""Tokens in the examples' toy vocabulary: the five named ones and the rest."""


def _position(name: str, logits: tuple[float, ...], chosen: int,
              rest_logit: float) -> ConfidenceExample:
    """Softmax over ``logits`` and ``VOCABULARY - 5`` other tokens at ``rest_logit``: real
    probabilities, so the top five add up to less than 1."""
    rest = VOCABULARY - len(logits)
    peak = max(max(logits), rest_logit)
    norm = peak + math.log(sum(math.exp(x - peak) for x in logits) +
                           rest * math.exp(rest_logit - peak))
    logprobs = tuple(sorted((x - norm for x in logits), reverse=True))
    return ConfidenceExample(name, logits[chosen] - norm, logprobs)


def confidence_examples() -> list[ConfidenceExample]:
    """A sure pick, a pick torn between two, and an unlikely pick."""
    return [
        _position("sure", (9.0, 4.0, 3.0, 2.5, 2.0), 0, -2.0),
        _position("torn between two", (6.0, 5.9, 3.0, 2.0, 1.5), 1, -2.0),
        _position("unlikely pick", (6.0, 4.5, 3.5, 3.0, 2.5), 2, -2.0),
    ]


def example_events(rule: str = "uct", c: float = 1.0) -> list[Event]:
    """The example's events: 4 iterations, then a reflection added by hand under #1."""
    tree = Tree.new(PROBLEM)
    events: list[Event] = []

    def push(event: Event) -> None:
        apply(tree, event)
        events.append(event)

    plan = [
        ((_child(1, "Step: 10-4=6 (left: 5 6 6)", -0.4),
          _child(2, "Step: 10-6=4 (left: 4 4 5)", -1.2),
          _child(3, "Step: 5+6=11 (left: 4 10 11)", -2.0)),
         "Step: 6*6=36 (left: 5 36)\nAnswer: (10-4)*6-5=24\n", (0.9, 0.2, 0.4)),
        ((), "Step: 4*5=20 (left: 4 20)\nAnswer: (10-6)+4*5=24\n", (0.95, 0.9, 0.85)),
        ((), "Step: 11-10=1 (left: 1 4)\nAnswer: none\n", (0.7, 0.4, 0.5)),
        ((_child(4, "Step: 4*5=20 (left: 4 20)", -0.3),
          _child(5, "Step: 4+4=8 (left: 5 8)", -1.5)),
         "Step: 20+4=24 (left: 24)\nAnswer: (10-6)+4*5=24\n", (0.99, 0.97, 0.98)),
    ]
    generated = 0
    for iteration, (children, text, confs) in enumerate(plan):
        closed = closed_nodes(tree, max_depth=MAX_DEPTH, reflection=False)
        selected = select_path(tree, rule, c, closed)
        push(selected)
        leaf = selected.path[-1]
        decision = expansion_decision(tree.nodes[leaf], max_depth=MAX_DEPTH, reflection=False)
        if (decision.action == "sample") != bool(children):
            raise AssertionError(f"the example's plan breaks the expansion rule at #{leaf}")
        reason = f"sampled {len(children)} next steps" if children else decision.reason
        push(Expanded(iteration, leaf, children, reason))
        target = simulation_target(leaf, children)
        rollout = _rollout(text, confs)
        push(Simulated(iteration, target, rollout))
        generated += len(text) + sum(len(ch.text) for ch in children)
        push(Backpropagated(iteration, backup_path(tree.pending), rollout.value,
                            TokenCounts(generated * 2, generated, generated)))
    reflection = _child(6, REFLECTION_LINE, -0.1, kind="reflection")
    push(Expanded(tree.iterations_done, 1, (reflection,), "reflection added by hand",
                  "reflection_by_hand"))
    return events
