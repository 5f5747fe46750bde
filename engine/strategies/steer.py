"""Steering a search by hand, between its phases: a step written by the user under any node
(an ``Expanded`` event with origin ``user``), and pin, unpin, prune and restore (a
``Steered`` event; ``engine.core.steering`` says what each does to the tree).

``Search.add_user_step`` and ``Search.steer`` call these; every action is an event applied
with ``tree.apply``, so it is stored, replayed, exported, resumed and forked like any other.
A bad request is an ``InputError`` of one line; nothing is applied then. (A companion of
``Search``: it uses the search's own path, context and apply helpers.)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from engine.core.events import ROOT_ID, ChildSpec, Expanded, SteerAction, Steered
from engine.core.steering import steer_problem
from engine.errors import InputError
from engine.strategies.values import StateToValue
from engine.tasks import node_kind

if TYPE_CHECKING:
    from engine.strategies.search import Search

USER_STEP_REASON = "step written by hand"


def _check_steerable(search: Search, node_id: int, what: str) -> None:
    if not 0 <= node_id < len(search.tree.nodes):
        raise InputError(f"There is no node {node_id} in this tree.")
    if search.config.algorithm == "mctsr":
        raise InputError(f"An MCTSr run refines its answers itself: {what} by hand is for "
                         "MCTS runs.")


def steer(search: Search, node_id: int, action: SteerAction,
          value: float | None = None) -> Steered:
    """Pin ``value`` on ``node_id`` (selection's Q for it), unpin it, prune its subtree or
    restore it; the event is applied and returned."""
    started = time.perf_counter()
    _check_steerable(search, node_id, "steering")
    event = Steered(search.tree.iterations_done, node_id, action,
                    None if value is None else float(value))
    problem = steer_problem(search.tree, event)
    if problem is not None:
        raise InputError(problem)
    return search._apply(event, started)


def add_user_step(search: Search, node_id: int, text: str) -> Expanded:
    """Add ``text`` as a new child of ``node_id``, scored by the model as if it had written
    it: log-probability and token confidences (``session.force``), the evaluator's state
    value, the step check's verdict (a rejected step is dead, with the reason), and, for an
    answer, its verdict. The event (origin ``user``) is applied and returned."""
    started = time.perf_counter()
    _check_steerable(search, node_id, "a step written")
    tree, model = search.tree, search.model
    parent = tree.nodes[node_id]
    granularity = search.config.granularity
    step = text.strip() if granularity == "step" else text
    if not step.strip():
        raise InputError("The step is empty: write the text of the step.")
    if granularity == "step" and "\n" in step:
        raise InputError("A step is one line: write it without line breaks.")
    if parent.ended in ("eos", "context"):
        raise InputError(f"Node {node_id} ended the text ({parent.ended}): nothing can "
                         "follow it.")
    if any(tree.nodes[c].text.strip() == step.strip() for c in parent.children):
        raise InputError(f"Node {node_id} already has a child with this text.")
    before = search.generated_text(node_id) if node_id != ROOT_ID else ""
    lead = "" if granularity != "step" or not before or before.endswith("\n") else "\n"
    written = lead + step + ("\n" if granularity == "step" else "")
    token_ids = model.encode_continuation(written)
    if any(tree.nodes[c].token_ids == token_ids for c in parent.children):
        raise InputError(f"Node {node_id} already has a child with this text.")
    if not search.fits(node_id, len(token_ids)):
        raise InputError(f"The step ({len(token_ids)} tokens) does not fit in the model's "
                         f"context after node {node_id}.")
    sample = search.session.force(search.path_tokens(node_id), token_ids)
    child_id = len(tree.nodes)
    kind = node_kind(search.task, step, granularity)
    full = before + written
    finished_line = any(search.task.is_final_line(line) for line in full.split("\n")[:-1])
    terminal = kind == "answer" or (granularity == "mini-step" and finished_line)
    answer, verdict = None, None
    if terminal:
        judgement = search.task.judge(full, False)
        answer, verdict = judgement.answer, judgement.verdict
    dead = None if terminal else search.evaluator.dead(before + lead, step)
    confidences = tuple(sample.confidences)
    value = search.evaluator.values(
        [StateToValue(full, confidences, terminal, verdict, dead)])[0]
    search.session.remember(child_id, sample.state)
    child = ChildSpec(child_id, kind, step, tuple(token_ids), sample.logprob, 1, confidences,
                      terminal, answer, verdict, None, value, dead)
    event = Expanded(tree.iterations_done, node_id, (child,), USER_STEP_REASON, "user",
                     search.tokens())
    return search._apply(event, started)
