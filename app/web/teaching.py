"""Plain words for what a phase just did, with the actual numbers in the formula.

Pure functions that return Markdown built from numbers and node ids; the one stored text
they quote (why a sibling is excluded, which may repeat the model's step) goes in a code
span (``literal``), so nothing a user or the model wrote is ever interpreted as Markdown or
HTML. The numbers come from the events (the engine's score breakdown); nothing is re-decided
here: a tie is named by ``engine.core.selection.tied_with_chosen``, and the formulas only
write out the breakdown's own terms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from app.web import steer_view, teaching_mctsr
from app.web.graph import backprop_changes, format_score
from app.web.markup import literal as literal
from engine.core.config import SearchConfig
from engine.core.events import (
    Backpropagated,
    Event,
    Expanded,
    ScoreBreakdown,
    Selected,
    SelectionLevel,
    Simulated,
    Steered,
)
from engine.core.selection import tied_with_chosen
from engine.core.tree import Tree
from engine.tasks import make_task
from engine.tasks.reflection import REFLECTION_LINE

PHASE_TITLES = {
    "select": "1 · Selection",
    "expand": "2 · Expansion",
    "simulate": "3 · Simulation (rollout)",
    "backprop": "4 · Backpropagation",
    "steer": "Steered by hand",
}


def explain(tree: Tree, event: Event, config: SearchConfig,
            history: Sequence[Event] = ()) -> str:
    """What ``event`` (already applied to ``tree``) did, in plain words and numbers;
    ``history``: the run's events (MCTSr's backups are explained from them)."""
    if isinstance(event, Steered):
        return steer_view.explain_steer(tree, event)
    if config.algorithm == "mctsr" and (not isinstance(event, Expanded) or event.in_cycle):
        return teaching_mctsr.explain(tree, event, config, history)
    if isinstance(event, Selected):
        return explain_selection(tree, event, config)
    if isinstance(event, Expanded):
        return explain_expansion(event)
    if isinstance(event, Simulated):
        return explain_simulation(event, config, tree.problem)
    return explain_backprop(tree, event)


def score_formula(score: ScoreBreakdown, parent_visits: int, config: SearchConfig) -> str:
    """One child's score written out with its inputs: ``Q + c*... = a + b = total``."""
    c = config.exploration
    if config.selection == "uct":
        if score.visits == 0 and math.isinf(score.exploration):
            return ("N = 0, so the exploration term is ∞ (an unvisited child is always "
                    "tried first): score = **∞**")
        if score.visits == 0:
            return (f"N = 0: its state value {score.exploitation:.3f} stands in for Q, as "
                    f"one visit: {score.exploitation:.3f} + {c:g}·√(ln {parent_visits} / 1) "
                    f"= {score.exploitation:.3f} + {score.exploration:.3f} = "
                    f"**{format_score(score.total)}**")
        return (f"{score.exploitation:.3f} + {c:g}·√(ln {parent_visits} / {score.visits}) = "
                f"{score.exploitation:.3f} + {score.exploration:.3f} = "
                f"**{format_score(score.total)}**")
    # PUCT takes the square root of at least 1 visit (a parent not visited yet explores too).
    root = f"√{parent_visits}" if parent_visits else "√max(0, 1)"
    return (f"{score.exploitation:.3f} + {c:g}·{score.prior:.3f}·{root} / "
            f"(1 + {score.visits}) = {score.exploitation:.3f} + {score.exploration:.3f} = "
            f"**{format_score(score.total)}**")


RULE_FORMULAS = {"uct": "Q + c·√(ln N_parent / N)", "puct": "Q + c·P·√N_parent / (1 + N)"}


def explain_level(tree: Tree, level: SelectionLevel, config: SearchConfig) -> str:
    """One level of selection: every sibling's score, the winner marked, a tie and how it
    was broken said, siblings selection may not take marked."""
    tied = tied_with_chosen(level)
    lines = [f"At node #{level.parent} (N_parent = {level.parent_visits}), "
             f"{config.selection.upper()} score = {RULE_FORMULAS[config.selection]}:"]
    for score in level.scores:
        if score.child == level.chosen:
            mark = " ← **chosen**" + (" (first of a tie)" if tied else "")
        elif score.child in tied:
            mark = " ← tied"
        elif score.excluded is not None:
            mark = f" — excluded: {literal(score.excluded)}"
        else:
            mark = ""
        # UCT's formula says it itself (score_formula); PUCT's adds V as its exploitation.
        if score.visits == 0 and config.selection == "puct" and \
                tree.nodes[score.child].value is not None:
            mark += (f" (not visited yet: its state value {score.exploitation:.3f} stands in "
                     "for Q)")
        if score.virtual_loss:
            mark += (f" (virtual loss: N counts {score.virtual_loss} selection(s) made earlier "
                     "in this parallel round through this child, each as a visit of value 0, "
                     "so that the round spreads out)")
        lines.append(f"- #{score.child}: {score_formula(score, level.parent_visits, config)}"
                     f"{mark}")
    if not any(node.verdict is True for node in tree.nodes) and config.evaluator != "outcome":
        lines.append("")
        lines.append(f"No answer has been verified yet, so every Q here comes from state "
                     f"values ({config.evaluator}) and rollout rewards: that is what lets "
                     f"selection prefer #{level.chosen} before the first success.")
    if tied:
        lines.append("")
        lines.append(explain_tie(tree, level, tied))
    return "\n".join(lines)


def explain_tie(tree: Tree, level: SelectionLevel, tied: list[int]) -> str:
    """How a tie at ``level`` was broken (``engine.core.selection.pick``): the child listed
    first among the parent's children wins; siblings from one expansion are listed
    most-sampled first, then most likely (a child added later, after them)."""
    chosen = next(s for s in level.scores if s.child == level.chosen)
    ids = [level.chosen, *tied]
    order = ", ".join(f"#{n} (sampled {tree.nodes[n].count}×, log p = "
                      f"{tree.nodes[n].prior:.2f})" for n in ids)
    return (f"**Tie:** {len(ids)} children score exactly {format_score(chosen.total)}. A tie "
            f"goes to the child listed first among #{level.parent}'s children, and siblings "
            "are listed most-sampled first, then most likely (children added later, such as "
            f"a reflection, come after them): {order}. So #{level.chosen} is chosen.")


def explain_selection(tree: Tree, event: Selected, config: SearchConfig) -> str:
    path = " → ".join(f"#{n}" for n in event.path)
    # Why it stopped (engine.core.phases.select_path): no child it may enter, or progressive
    # widening wants the node to get another child first.
    why = "it has no child that selection may enter yet"
    if config.widening > 0:
        why += (f", or progressive widening (widening = {config.widening:g}) wants it to get "
                "another child first")
    if not event.levels:
        return (f"**Selection** starts at the root and stops there: {why}. The selected node "
                f"is the root itself (path {path}).")
    parts = [f"**Selection** walked from the root down {len(event.levels)} level(s), each "
             f"time taking the child with the highest score, and stopped at #{event.path[-1]}:"
             f" {why}. Path: {path}."]
    if event.round_size > 1:
        parts.append(f"This is one of {event.round_size} selections of a parallel round "
                     f"(parallel = {config.parallel}): each later selection of the round sees "
                     "the earlier ones' paths as a virtual loss; a leaf taken earlier may be "
                     "taken again while it has room (another sample, or another rollout), "
                     "and a finished answer is not. The round's expansions and simulations "
                     "then run as one batch, and all of them are backed up.")
    parts.extend(explain_level(tree, level, config) for level in event.levels)
    return "\n\n".join(parts)


ORIGIN_NOTES: dict[str, str] = {
    "phase": "",
    "reflection_by_hand": " (reflection by hand)",
    "beam": " (beam search step)",
    "user": " (step written by hand)",
}
"""How an expansion outside the four-phase cycle is named after its phase title."""


def event_title(event: Event) -> str:
    """The event's phase title, with its origin when it is an expansion outside the
    four-phase cycle: ``2 · Expansion (beam search step)``; MCTSr's simulation (sampled
    self-rewards, no rollout) is ``3 · Simulation (self-reward)``."""
    if isinstance(event, Simulated) and event.rollout.rewards:
        return "3 · Simulation (self-reward)"
    origin = event.origin if isinstance(event, Expanded) else "phase"
    return PHASE_TITLES[event.phase] + ORIGIN_NOTES[origin]


def explain_expansion(event: Expanded) -> str:
    if event.origin == "beam":
        ids = ", ".join(f"#{c.id}" for c in event.children)
        return (f"**Beam search step**: #{event.node} got {len(event.children)} sampled next "
                f"step(s) ({ids or 'none new'}); beam search keeps the best-scored open "
                "children for its next depth. This is not an MCTS phase.")
    if event.origin == "user" and event.children:
        spec = event.children[0]
        status = f"dead: {literal(spec.dead)}" if spec.dead is not None else (
            "an answer" if spec.terminal else "open")
        return (f"**Your step** #{spec.id} under #{event.node}: the model scored the text "
                f"as if it had written it (log p = {spec.prior:.2f}); it is {status}. "
                "Selection weighs it like any sibling from the next iteration on.")
    if event.origin == "reflection_by_hand":
        child = event.children[0].id
        return (f"**Reflection** (added by hand): node #{child} appends “{REFLECTION_LINE}” "
                f"under #{event.node}, so the "
                f"model critiques its own path and continues from there (dashed branch).")
    if not event.children:
        return (f"**Expansion** added no children to #{event.node}: {event.reason}. The next "
                f"phase simulates from #{event.node} itself.")
    ids = ", ".join(f"#{c.id}" for c in event.children)
    merged = sum(c.count for c in event.children) - len(event.children)
    text = (f"**Expansion** asked the model for candidate next steps from #{event.node} and "
            f"added {len(event.children)} child(ren): {ids} ({event.reason}).")
    if merged:
        text += f" {merged} identical sample(s) were merged (a child's count > 1)."
    priors = ", ".join(f"#{c.id}: log p = {c.prior:.2f}" for c in event.children)
    return text + f" Their priors (log-probability of the step): {priors}. " \
        f"The next phase rolls out from the first, #{event.children[0].id}."


ROLLOUT_TEXT_CHARS = 400
"""The most of a rollout's text the panel quotes (the inspector shows all of it)."""


def explain_simulation(event: Simulated, config: SearchConfig, problem: str) -> str:
    """What the rollout wrote (quoted), whether it reached an answer, why a wrong answer is
    wrong (the task's own ``why_wrong``), and which reward gave the value."""
    r = event.rollout
    verdict = {True: "correct", False: "wrong", None: "not verifiable"}[r.verdict]
    found = "no answer line" if r.answer is None else f"the answer {literal(r.answer)}"
    if not r.tokens:
        head = (f"**Simulation** evaluated #{event.node} directly (it is terminal, or "
                f"nothing was rolled out): {found}, {verdict}.")
    else:
        mean = sum(r.confidences) / len(r.confidences) if r.confidences else 0.0
        ending = (f"ended with {found}" if r.answer is not None
                  else "stopped with no answer line")
        quoted = r.text if len(r.text) <= ROLLOUT_TEXT_CHARS else \
            r.text[:ROLLOUT_TEXT_CHARS] + "…"
        head = (f"**Simulation** rolled out from #{event.node}: the model wrote "
                f"{len(r.tokens)} token(s) and {ending} ({verdict}). The rollout: "
                f"{literal(quoted)}. Token confidence c_i = p(t_i) / Σ_top5 p(t_k); their "
                f"mean is {mean:.3f}.")
    parts = [head]
    if r.stopped is not None:
        parts.append(f"It was cut short: {literal(r.stopped)}.")
    if r.verdict is False:
        task = make_task(config.task, problem, config.reference_answer)
        why = task.why_wrong(r.answer)
        if why is not None:
            parts.append(f"Why wrong: {literal(why)}.")
    if r.reward == "verifier":
        parts.append(f"Reward `{r.reward}`: the verifier decided: value v = **{r.value:.3f}**.")
    else:
        parts.append(f"Reward `{r.reward}`: the mean token confidence is the value: "
                     f"v = **{r.value:.3f}**.")
        if r.verdict is False:
            parts.append(f"Note: the verifier knows this answer is wrong, but with reward = "
                         f"{config.reward} the value is the model's confidence alone "
                         "(reward = verifier or combined would give 0).")
    return " ".join(parts)


def explain_backprop(tree: Tree, event: Backpropagated) -> str:
    """The update of each node on the path, written so that every expression equals the
    number beside it: the stored sum W, then Q = W / N before and after."""
    lines = [f"**Backpropagation** added v = {event.value:.3f} to every node on the path "
             f"({' → '.join(f'#{n}' for n in event.path)}): N ← N + 1, W ← W + v, Q = W / N."]
    for node_id, change in backprop_changes(tree, event).items():
        node = tree.nodes[node_id]
        before_w = node.value_sum - event.value
        if change.q_before is None:
            q_before = "— (not visited before)"
        else:
            q_before = f"{before_w:.3f} / {change.visits_before} = {change.q_before:.3f}"
        lines.append(f"- #{node_id}: N {change.visits_before} → {change.visits_after} · "
                     f"W = {before_w:.3f} + {event.value:.3f} = {node.value_sum:.3f} · "
                     f"Q: {q_before} → {node.value_sum:.3f} / {change.visits_after} = "
                     f"**{change.q_after:.3f}**")
    return "\n".join(lines)
