"""Runs written as event streams by the engine's own phase rules (``engine.core.phases``),
with made-up model output, saved in a real store: for moments a seeded model run does not
reliably reach (a closed answer)."""

from __future__ import annotations

from engine.core.config import SearchConfig, make_config
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
    Growth,
    backup_path,
    closed_nodes,
    select_path,
    simulation_target,
)
from engine.core.tree import Tree, apply
from storage import RunStore

PROBLEM = "4 5 6 10"
WRONG = "(4+5)*(10-6)=24"
STEP_VALUE = 0.6
DEAD_REASON = "5+6 is 11, not 12"


def closed_answer_events(config: SearchConfig | None = None) -> list[Event]:
    """Iteration 0: the root gets a wrong final answer #1, a step #2 with a state value and
    a dead step #3, and #1 is evaluated. Iteration 1's selection may not enter #1 (closed)
    or #3 (dead) and walks to #2."""
    config = config or make_config()
    tree = Tree.new(PROBLEM)
    events: list[Event] = []

    def push(event: Event) -> None:
        apply(tree, event)
        events.append(event)

    def select() -> None:  # as Search.select does it
        closed = closed_nodes(tree, max_depth=config.max_depth,
                              reflection=config.reflection == "on",
                              max_children=config.max_children)
        growth = Growth(config.max_depth, config.max_children, config.widening)
        push(select_path(tree, config.selection, config.exploration, closed, growth))

    select()
    children = (
        ChildSpec(1, "answer", f"Answer: {WRONG}", (), -0.5, 1, (), True, WRONG, False),
        ChildSpec(2, "step", "Step: 10-4=6 (left: 5 6 6)", (), -0.9, 1, (), False, None, None,
                  value=STEP_VALUE),
        ChildSpec(3, "step", "Step: 5+6=12 (left: 4 10 12)", (), -1.5, 1, (), False, None,
                  None, dead=DEAD_REASON),
    )
    push(Expanded(0, 0, children, "sampled 3 next steps"))
    push(Simulated(0, simulation_target(0, children),
                   Rollout("", (), (), 0.0, WRONG, False, "verifier")))
    push(Backpropagated(0, backup_path(tree.pending), 0.0, TokenCounts()))
    select()
    return events


def save(store: RunStore, events: list[Event], title: str,
         config: SearchConfig | None = None) -> int:
    """Save ``events`` as a finished run of ``config`` (the default); return its id."""
    run_id = store.create_run(problem=PROBLEM, config=config or make_config(),
                              model_name="synthetic", model_fingerprint="synthetic", title=title)
    done = sum(1 for e in events if e.phase == "backprop")
    store.append_events(run_id, events, iterations_done=done)
    store.set_status(run_id, "finished")
    return run_id
