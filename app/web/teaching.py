"""Plain words for what a phase just did, with the actual numbers in the formula.

Pure functions that return Markdown built only from numbers and node ids (no problem or
model text, so nothing a user typed is ever interpreted as Markdown or HTML). The numbers
come from the events (the engine's score breakdown); nothing is re-decided here.
"""

from __future__ import annotations

from app.web.graph import backprop_changes, format_score
from engine.core.config import SearchConfig
from engine.core.events import (
    Backpropagated,
    Event,
    Expanded,
    ScoreBreakdown,
    Selected,
    SelectionLevel,
    Simulated,
)
from engine.core.tree import Tree
from engine.tasks.reflection import REFLECTION_LINE

PHASE_TITLES = {
    "select": "1 · Selection",
    "expand": "2 · Expansion",
    "simulate": "3 · Simulation (rollout)",
    "backprop": "4 · Backpropagation",
}


def explain(tree: Tree, event: Event, config: SearchConfig) -> str:
    """What ``event`` (already applied to ``tree``) did, in plain words and numbers."""
    if isinstance(event, Selected):
        return explain_selection(event, config)
    if isinstance(event, Expanded):
        return explain_expansion(event)
    if isinstance(event, Simulated):
        return explain_simulation(event)
    return explain_backprop(tree, event)


def score_formula(score: ScoreBreakdown, parent_visits: int, config: SearchConfig) -> str:
    """One child's score written out with its inputs: ``Q + c*... = a + b = total``."""
    c = config.exploration
    if config.selection == "uct":
        if score.visits == 0:
            return ("N = 0, so the exploration term is ∞ (an unvisited child is always "
                    "tried first): score = **∞**")
        return (f"{score.exploitation:.3f} + {c:g}·√(ln {parent_visits} / {score.visits}) = "
                f"{score.exploitation:.3f} + {score.exploration:.3f} = "
                f"**{format_score(score.total)}**")
    return (f"{score.exploitation:.3f} + {c:g}·{score.prior:.3f}·√{parent_visits} / "
            f"(1 + {score.visits}) = {score.exploitation:.3f} + {score.exploration:.3f} = "
            f"**{format_score(score.total)}**")


def explain_level(level: SelectionLevel, config: SearchConfig) -> str:
    """One level of selection: every sibling's score, the winner marked."""
    rule = "Q + c·√(ln N_parent / N)" if config.selection == "uct" else \
        "Q + c·P·√N_parent / (1 + N)"
    lines = [f"At node #{level.parent} (N_parent = {level.parent_visits}), "
             f"score = {rule}:"]
    for score in level.scores:
        mark = " ← **chosen**" if score.child == level.chosen else ""
        lines.append(f"- #{score.child}: {score_formula(score, level.parent_visits, config)}"
                     f"{mark}")
    return "\n".join(lines)


def explain_selection(event: Selected, config: SearchConfig) -> str:
    path = " → ".join(f"#{n}" for n in event.path)
    if not event.levels:
        return (f"**Selection** starts at the root. The root has no children yet, so the "
                f"selected node is the root itself (path {path}).")
    parts = [f"**Selection** walked from the root down {len(event.levels)} level(s), each "
             f"time taking the child with the highest score, and stopped at #{event.path[-1]},"
             f" which has no children yet. Path: {path}."]
    parts.extend(explain_level(level, config) for level in event.levels)
    return "\n\n".join(parts)


ORIGIN_NOTES: dict[str, str] = {
    "phase": "",
    "reflection_by_hand": " (reflection by hand)",
    "beam": " (beam search step)",
    "user": " (step written by hand)",
}
"""How an expansion outside the four-phase cycle is named after its phase title."""


def explain_expansion(event: Expanded) -> str:
    if event.origin == "beam":
        ids = ", ".join(f"#{c.id}" for c in event.children)
        return (f"**Beam search step**: #{event.node} got {len(event.children)} sampled next "
                f"step(s) ({ids or 'none new'}); beam search keeps the best-scored open "
                "children for its next depth. This is not an MCTS phase.")
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


def explain_simulation(event: Simulated) -> str:
    r = event.rollout
    verdict = {True: "correct", False: "wrong", None: "not verifiable"}[r.verdict]
    if not r.tokens:
        head = (f"**Simulation** evaluated #{event.node} directly (it is terminal): "
                f"answer {'found' if r.answer is not None else 'none'}, {verdict}.")
    else:
        mean = sum(r.confidences) / len(r.confidences) if r.confidences else 0.0
        head = (f"**Simulation** rolled out from #{event.node}: the model wrote "
                f"{len(r.tokens)} token(s) to an answer ({verdict}). Token confidence "
                f"c_i = p(t_i) / Σ_top5 p(t_k); their mean is {mean:.3f}.")
    if r.reward == "verifier":
        why = f"the verifier decided: value v = **{r.value:.3f}**"
    else:
        why = f"the mean token confidence is the value: v = **{r.value:.3f}**"
    return f"{head} Reward `{r.reward}`: {why}."


def explain_backprop(tree: Tree, event: Backpropagated) -> str:
    lines = [f"**Backpropagation** added v = {event.value:.3f} to every node on the path "
             f"({' → '.join(f'#{n}' for n in event.path)}): N ← N + 1, W ← W + v, Q = W / N."]
    for node_id, change in backprop_changes(tree, event).items():
        node = tree.nodes[node_id]
        before_w = node.value_sum - event.value
        lines.append(f"- #{node_id}: N {change.visits_before} → {change.visits_after}, "
                     f"Q = ({before_w:.3f} + {event.value:.3f}) / {change.visits_after} = "
                     f"{change.q_before:.3f} → **{change.q_after:.3f}**")
    return "\n".join(lines)

