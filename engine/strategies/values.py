"""Values of states: the search's evaluator, dead steps, and how a leaf is scored.

``SearchConfig.evaluator`` picks what a state is worth before any answer is found:

- ``outcome``: the verifier on a finished answer (1 or 0); nothing for an open state;
- ``confidence``: Marco-o1's mean token confidence of the node's own tokens;
- ``step-check``: the task's rule check of the step: 1 legal, 0 rejected (a task with no
  rule, like free text, says nothing);
- ``self-eval``: the model judges the state itself (Tree of Thoughts' value prompt,
  MCTSr's self-reward): P(sure) over the two verdict words, one forward pass.

A finished answer with a verdict is worth that verdict under every evaluator but
``confidence``; a dead step is worth 0. ``SearchConfig.leaf_value`` then scores a leaf by
a ``rollout`` (its reward), by the state ``value`` alone (AlphaZero), or ``mixed``:
``(1 - lambda) * rollout + lambda * value`` (AlphaGo).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.backends.protocol import BackendSession
from engine.core.config import SearchConfig
from engine.core.rewards import confidence_value
from engine.tasks.task import VERDICT_WORDS, Task


@dataclass(frozen=True)
class StateToValue:
    """What the evaluator needs to know of one state."""

    generated: str
    """Everything the model wrote from the root to the state (its last line finished)."""
    confidences: Sequence[float]
    """The node's own tokens' confidences."""
    terminal: bool
    verdict: bool | None
    dead: str | None


class Evaluator:
    """The evaluator of one search: step checks and state values, charged to its session."""

    def __init__(self, task: Task, session: BackendSession, config: SearchConfig) -> None:
        self.task = task
        self.session = session
        self.config = config

    def dead(self, generated: str, step: str) -> str | None:
        """Why the step check rejects ``step`` after ``generated`` (``None``: alive, or the
        check is off or only steps of a line can be checked)."""
        if self.config.step_check == "off" or self.config.granularity != "step":
            return None
        return self.task.step_check(generated, step)

    def rollout_check(self, prefix: str) -> Callable[[str], str | None] | None:
        """For a rollout after ``prefix``: a check of each line it finishes (``None`` when
        the step check is off)."""
        if self.config.step_check == "off":
            return None

        def rejects(text: str) -> str | None:
            head, _, line = text.rstrip("\n").rpartition("\n")
            return self.task.step_check(prefix + (head + "\n" if head else ""), line)

        return rejects

    def values(self, states: Sequence[StateToValue]) -> list[float | None]:
        """Each state's value under the evaluator; self-evaluations are judged in one batch."""
        kind = self.config.evaluator
        values: list[float | None] = []
        ask: list[tuple[int, str]] = []
        for i, state in enumerate(states):
            known = decided(state)
            if kind == "confidence":
                values.append(confidence_value(state.confidences))
            elif known is not None or kind == "outcome":
                values.append(known)
            elif kind == "step-check":
                values.append(1.0 if self.task.has_step_check else None)
            else:
                values.append(None)
                prompt = self.task.value_prompt(state.generated)
                if prompt is not None:
                    ask.append((i, prompt))
        if ask:
            judged = self.session.judge([p for _, p in ask], VERDICT_WORDS)
            for (i, _), value in zip(ask, judged, strict=True):
                values[i] = value
        return values


def decided(state: StateToValue) -> float | None:
    """A value known without asking: 0 for a dead step, a finished answer's verdict."""
    if state.dead is not None:
        return 0.0
    if state.terminal and state.verdict is not None:
        return 1.0 if state.verdict else 0.0
    return None


def mix(reward_value: float | None, state_value: float | None, weight: float) -> float:
    """``(1 - weight) * reward + weight * state``, or whichever of the two is known."""
    if reward_value is None:
        return 0.0 if state_value is None else state_value
    if state_value is None:
        return reward_value
    return (1.0 - weight) * reward_value + weight * state_value
