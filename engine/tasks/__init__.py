"""Tasks: how a problem becomes a prompt, how a step is classified, how answers are judged.

- ``game24``: the Game-of-24 rules (solver, step check, verifier, trace format);
- ``game24_task.Game24Task`` and ``freeform.FreeformTask``: the ``Task`` protocol;
- ``reflection``: the reflection line and what counts as a reflection node.
"""

from __future__ import annotations

from engine.core.events import NodeKind
from engine.errors import InputError
from engine.tasks.freeform import FreeformTask
from engine.tasks.game24_task import Game24Task
from engine.tasks.reflection import is_reflection
from engine.tasks.task import Judgement, Task

__all__ = ["FreeformTask", "Game24Task", "Judgement", "Task", "make_task", "node_kind"]


def node_kind(task: Task, text: str, granularity: str) -> NodeKind:
    """The kind of a new node from its own text."""
    if is_reflection(text):
        return "reflection"
    if granularity == "step" and task.is_final_line(text):
        return "answer"
    return "mini_step" if granularity == "mini-step" else "step"


def make_task(name: str, problem: str, reference_answer: str | None = None) -> Task:
    """The task object for ``name``; raise ``InputError`` for a bad problem or task name."""
    if name == "game24":
        return Game24Task(problem)
    if name == "freeform":
        return FreeformTask(problem, reference_answer)
    raise InputError(f"Unknown task {name!r}: use 'game24' or 'freeform'.")
