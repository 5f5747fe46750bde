"""A small MCTSr worked example for the Learn page: four iterations on '4 5 6 10', written
as phase events so the page draws and explains it with the app's own graph and teaching.

As in ``learn_examples``, the model's outputs are made up (the answers and the sampled
self-rewards); everything derived from them is the engine's: each selection is
``engine.core.mctsr.refine_selection`` on the tree as it stands, each answer is judged by the
task, each value is ``reward_q`` of its samples, each backup ``backup_values``, and the fold
(``engine.core.tree.apply``) checks every event.
"""

from __future__ import annotations

from engine.core.config import SearchConfig
from engine.core.events import (
    Backpropagated,
    ChildSpec,
    Event,
    Expanded,
    Rollout,
    Simulated,
    TokenCounts,
)
from engine.core.mctsr import DUMMY_REWARD, backup_values, refine_selection, reward_q
from engine.core.phases import backup_path
from engine.core.tree import ROOT_ID, Tree, apply
from engine.strategies.mctsr import DUMMY_ANSWER
from engine.tasks import make_task
from engine.tasks.reflection import REFLECTION_LINE

PROBLEM = "4 5 6 10"
CONFIG = SearchConfig(algorithm="mctsr")
"""The example's settings: MCTSr's defaults (c = 1, eps = 0.001, 3 reward samples)."""
SHOWN_ITERATION = 3
"""The iteration (0-based) the Learn page shows phase by phase: it refines an answer that is
itself a rewrite, and the backup changes three answers and the root."""


def _answer(node_id: int, text: str, critique: str | None) -> ChildSpec:
    judged = make_task("game24", PROBLEM).judge(text + "\n", True)
    return ChildSpec(node_id, "answer", text, (), -1.0, 1, (), True, judged.answer,
                     judged.verdict, "eos", None, None, critique)


def _dummy(node_id: int) -> ChildSpec:
    judged = make_task("game24", PROBLEM).judge(DUMMY_ANSWER + "\n", False)
    return ChildSpec(node_id, "answer", DUMMY_ANSWER, (), 0.0, 1, (), True, judged.answer,
                     judged.verdict, None, DUMMY_REWARD, placeholder=True)


PLAN: tuple[tuple[str, tuple[float, ...]], ...] = (
    ("Step: 5+6=11 (left: 4 10 11)\nStep: 11-10=1 (left: 1 4)", (1.0, 0.0, 0.0)),
    ("Step: 10-6=4 (left: 4 4 5)\nStep: 4*5=20 (left: 4 20)", (1.0, 1.0, 0.0)),
    ("Step: 10-4=6 (left: 5 6 6)\nStep: 6*5=30 (left: 6 30)", (0.0, 1.0, 0.0)),
    ("Step: 10-6=4 (left: 4 4 5)\nStep: 4*5=20 (left: 4 20)\nStep: 20+4=24 (left: 24)\n"
     "Answer: (10-6)+4*5=24", (1.0, 1.0, 1.0)),
)
"""Each iteration's new answer and its sampled self-rewards (the model's part)."""


def mctsr_example_events() -> list[Event]:
    """The example's events: the root's expansion, then three self-refines."""
    tree = Tree.new(PROBLEM)
    events: list[Event] = []

    def push(event: Event) -> None:
        apply(tree, event)
        events.append(event)

    generated = 0
    for iteration, (text, rewards) in enumerate(PLAN):
        selected = refine_selection(tree, CONFIG)
        push(selected)
        leaf = selected.path[-1]
        first = len(tree.nodes)
        if leaf == ROOT_ID:
            children: tuple[ChildSpec, ...] = (_answer(first, text, None), _dummy(first + 1))
            reason = "MCTSr starts: the model's first answer, and the dummy answer"
        else:
            children = (_answer(first, text, REFLECTION_LINE),)
            reason = f"self-refine #{leaf}: its legal steps, the reflection line, then a " \
                     "new attempt"
        generated += len(text)
        push(Expanded(iteration, leaf, children, reason))
        value = reward_q(rewards)
        node = tree.nodes[first]
        push(Simulated(iteration, first, Rollout(
            "", (), (), value, node.answer, node.verdict,
            f"self-reward: the model's verdict, drawn {len(rewards)} times (sure 1, "
            f"impossible 0); Q = (min + mean) / 2 of {len(rewards)} sample(s)",
            rewards=rewards)))
        path = backup_path(tree.pending)
        push(Backpropagated(iteration, path, value,
                            TokenCounts(generated * 2, generated, generated),
                            backup_values(tree, path, value)))
    return events
