"""What the Search and Replay pages both show: the graph, the inspector, the teaching panel
and the charts, for one tree at one moment.

User, problem and model text only ever reaches the page through ``st.code``, ``st.text``,
data frames or ``html.escape`` (never through Markdown, which would turn ``![](url)`` into a
request and ``<b>`` into markup).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import pandas as pd
import streamlit as st

from app.web import cost_view, mctsr_inspector, steer_view, what_if
from app.web.graph import LabelBy, format_q, format_score, tree_digraph, vis_data
from app.web.graph_component import graph_component
from app.web.highlight import Highlight, highlight_for
from app.web.markup import row_mark
from app.web.mctsr_inspector import MCTSR_Q_LABEL
from app.web.mctsr_view import is_mctsr, rule_label, rule_name
from app.web.state import PANELS, Key, MomentKeys
from app.web.teaching import event_title, explain, score_formula
from engine.core.config import SearchConfig
from engine.core.events import (
    Backpropagated,
    Event,
    Rollout,
    ScoreBreakdown,
    Selected,
    SelectionLevel,
)
from engine.core.phases import closed_for, next_selection, scores_for
from engine.core.report import iteration_number, tree_label
from engine.core.selection import children_scores, pick
from engine.core.tree import Node, Tree, apply, best_answer
from engine.errors import SearchExhausted
from engine.tasks.answers import label_answer

VERDICT_WORDS = {True: "correct", False: "wrong", None: "not verified"}
"""Plain words: an emoji (a cross mark) draws as an empty box where the font lacks it."""
VERDICT_ICONS = {True: ":material/check_circle:", False: ":material/cancel:",
                 None: ":material/help:"}
"""The verdict as a Material icon (they ship with Streamlit), where a widget takes one."""
LABEL_CHOICES: tuple[LabelBy, ...] = ("nq", "score", "text")


def merge_highlights(tree: Tree, events: Sequence[Event],
                     history: Sequence[Event] = ()) -> Highlight:
    """One highlight for a step of several events (an iteration): the path, new children,
    rolled-out node and changes of all of them; the phase of the last. ``history``: the
    run's events (MCTSr's Q before a backup is read from them)."""
    parts = [highlight_for(tree, e, history) for e in events]
    if not parts:
        return Highlight()
    changed = {k: v for h in parts for k, v in h.changed.items()}
    path = max((h.path for h in parts), key=len)
    rolled = next((h.rolled_out for h in reversed(parts) if h.rolled_out is not None), None)
    return Highlight(parts[-1].phase, path=path,
                     new_children=tuple(c for h in parts for c in h.new_children),
                     rolled_out=rolled, changed=changed,
                     origin=next((h.origin for h in reversed(parts) if h.origin), None))


def node_choice_label(tree: Tree, node_id: int) -> str:
    """How a node reads in the select box (shown as text, never as markup). It must not
    change as the search goes on: the select box recognises its choice by this label."""
    node = tree.nodes[node_id]
    text = node.text.replace("\n", " ")
    return f"#{node.id} {node.kind} · {text[:56]}"


def selected_node(tree: Tree, key: Key[int | None]) -> int:
    """The node chosen in the select box (or by a click), the root when there is none."""
    value = key.get()
    return value if isinstance(value, int) and 0 <= value < len(tree.nodes) else 0


def render_graph(tree: Tree, config: SearchConfig, highlight: Highlight, *,
                 selected: int | None, view_key: str, keys: MomentKeys,
                 ghost: what_if.Projection | None = None) -> None:
    """The interactive graph and the select box that mirrors its selection; ``ghost``: a
    "what if" projection drawn beside the real path (``app.web.what_if``)."""
    label_by = cast(LabelBy, keys.labels.get() if keys.labels.get() in LABEL_CHOICES else "nq")
    data = vis_data(tree_digraph(tree, scores_for(tree, config), highlight,
                                 label_by=label_by, rule=rule_name(config)))
    if ghost is not None:
        data = what_if.ghost_data(data, ghost)

    def on_click() -> None:
        clicked = keys.graph.get()
        if isinstance(clicked, dict) and isinstance(clicked.get("node"), int):
            keys.node.set(clicked["node"])

    graph_component(data, selected=selected, view_key=view_key, key=keys.graph.name,
                    on_change=on_click)
    left, right = st.columns([3, 1])
    with left:
        ids = list(range(len(tree.nodes)))
        keys.node.set(selected_node(tree, keys.node))
        st.selectbox("Selected node (or click one in the graph)", ids, key=keys.node.name,
                     format_func=lambda n: node_choice_label(tree, n))
    with right:
        names = {"nq": "numbers (N, Q)",
                 "score": f"{rule_label(rule_name(config))} score",
                 "text": "short text"}
        st.radio("Labels", LABEL_CHOICES, key=keys.labels.name, horizontal=True,
                 format_func=names.__getitem__,
                 help="After each node's id: its visits N and mean value Q, its current "
                 "selection score under the run's rule, or the start of its text.")


def render_inspector(tree: Tree, config: SearchConfig, events: Sequence[Event],
                     node_id: int) -> None:
    """Everything about one node: path, statistics, sibling scores, rollouts, answer."""
    node = tree.nodes[node_id]
    st.markdown(f"**Node #{node.id}** · {node.kind}" + (" · terminal" if node.terminal else ""))
    path_text = "\n".join(f"#{n} {tree.nodes[n].text}" for n in tree.path_to(node_id))
    st.caption("Path from the root")
    st.code(path_text, language=None, wrap_lines=True)
    cols = st.columns(5)
    cols[0].metric("N (visits)", node.visits)
    if is_mctsr(config):
        reward = mctsr_inspector.stored_reward(events, node)
        cols[1].metric("reward (min + mean) / 2",
                       "—" if reward is None else f"{reward:.3f}",
                       help="The engine's value of this answer's sampled self-rewards.")
        cols[2].metric(MCTSR_Q_LABEL, format_q(node, 3),
                       help="MCTSr's Q: the answer's reward, then (Q + max child Q) / 2 at "
                       "each backup through it (the root: the best child's Q). Undefined "
                       "(—) before the first visit.")
    else:
        cols[1].metric("W (value sum)", f"{node.value_sum:.3f}")
        cols[2].metric("Q = W / N", format_q(node, 3),
                       help="Undefined (—) before the first visit." if not node.visits
                       else None)
    cols[3].metric("prior (log p)", f"{node.prior:.3f}")
    cols[4].metric("tokens spent", node.tokens_spent)
    cost_view.render_node_cost(events, node)
    cost_view.render_alternatives(node.token_texts, node.confidences, node.top, f"#{node.id}")
    if node.value is not None:
        st.caption(f"State value (the run's evaluator, {config.evaluator}): {node.value:.3f}")
    if node.pinned is not None or node.pruned or node.origin == "user":
        st.caption(" · ".join(steer_view.tooltip_lines(node, node.pruned)))
    if node.dead is not None:
        st.caption("Dead step: the task's step check rejected it, so selection never enters it")
        st.text(node.dead)
    if node.answer is not None or node.terminal:
        st.caption("Answer and verdict")
        st.text(f"{node.answer or '(no answer)'} — {VERDICT_WORDS[node.verdict]}")
    if is_mctsr(config):
        mctsr_inspector.render_answer(tree, events, node)
        mctsr_inspector.render_candidates(tree, config, events, node)
    elif node.parent is not None:
        render_sibling_scores(tree, config, events, node)
    st.caption(next_selection_line(tree, config))
    if not is_mctsr(config):
        render_rollouts(node.rollouts)


def last_level_through(events: Sequence[Event], parent: int) -> tuple[int, SelectionLevel] | None:
    """The latest selection level that scored ``parent``'s children, with its iteration."""
    for event in reversed(events):
        if isinstance(event, Selected):
            for level in event.levels:
                if level.parent == parent:
                    return event.iteration, level
    return None


def render_sibling_scores(tree: Tree, config: SearchConfig, events: Sequence[Event],
                          node: Node) -> None:
    """The score breakdown of the node and its siblings: at the last selection that passed
    through their parent (winner marked), and as they stand now."""
    assert node.parent is not None
    rule = config.selection.upper()
    found = last_level_through(events, node.parent)
    if found is not None:
        iteration, level = found
        st.caption(f"{rule} at the last selection through #{level.parent} "
                   f"(iteration {iteration_number(iteration)}, "
                   f"N_parent = {level.parent_visits}): "
                   "exploitation + exploration = score; first column: chosen, this node")
        st.dataframe(score_table(level.scores, level.chosen, node.id), hide_index=True)
        mine = next((s for s in level.scores if s.child == node.id), None)
        if mine is not None:
            st.markdown(f"#{node.id}: " + score_formula(mine, level.parent_visits, config))
    now = children_scores(tree, node.parent, config.selection, config.exploration,
                          closed_for(tree, config))
    open_now = [s for s in now if s.excluded is None]
    best = pick(now).child if open_now else None  # pick skips the excluded
    st.caption(f"{rule} now (N_parent = {tree.nodes[node.parent].visits}); "
               "first column: chosen (what selection would choose here next), this node")
    st.dataframe(score_table(now, best, node.id), hide_index=True)


def next_selection_line(tree: Tree, config: SearchConfig) -> str:
    """The path the next selection would walk (``engine.core.phases.select_path``)."""
    try:
        nxt = next_selection(tree, config)
    except SearchExhausted as err:
        return f"Next selection: none. {err}"
    if is_mctsr(config):
        return (f"Next selection would refine #{nxt.path[-1]} (path "
                + " → ".join(f"#{n}" for n in nxt.path)
                + "): the best MCTSr UCT among the candidates, the tree as it stands")
    return "Next selection would walk " + " → ".join(f"#{n}" for n in nxt.path) + \
        " (the tree as it stands; closed nodes skipped, stopping where widening adds a child)"


def score_table(scores: Sequence[ScoreBreakdown], chosen: int | None,
                current: int) -> pd.DataFrame:
    """The engine's breakdown as a table; the first column marks the winner and the
    inspected node (``row_mark``); a sibling selection may not take says why."""
    return pd.DataFrame([{
        "": row_mark(s.child == chosen, s.child == current),
        "child": f"#{s.child}", "N": s.visits, "prior P": round(s.prior, 4),
        "exploitation": round(s.exploitation, 4), "exploration": format_score(s.exploration),
        "score": format_score(s.total), "excluded": s.excluded or "",
        "pinned": "" if s.pinned is None else f"{s.pinned:.3f} (its Q)",
    } for s in scores])


def confidence_html(rollout: Rollout) -> str:
    """The rollout's tokens, each on a background coloured by its confidence (escaped)."""
    spans = []
    for token, conf in zip(rollout.tokens, rollout.confidences, strict=False):
        hue = round(120 * max(0.0, min(1.0, conf)))
        text = html.escape(token).replace("\n", "¶<br>")
        spans.append(f'<span title="confidence {conf:.3f}" style="background: '
                     f'hsl({hue}, 75%, 80%); font-family: monospace; white-space: pre">'
                     f"{text}</span>")
    return "<div style='line-height: 1.9'>" + "".join(spans) + "</div>"


def render_rollouts(rollouts: Sequence[Rollout]) -> None:
    if not rollouts:
        st.caption("No rollout from this node yet.")
        return
    st.caption(f"Rollouts from this node ({len(rollouts)}); token colour: red = low "
               "confidence, green = high")
    for i, rollout in enumerate(rollouts, 1):
        verdict = VERDICT_WORDS[rollout.verdict]
        with st.expander(f"Rollout {i}: value {rollout.value:.3f} ({rollout.reward}), "
                         f"{verdict}", expanded=i == len(rollouts),
                         icon=VERDICT_ICONS[rollout.verdict]):
            if rollout.tokens:
                st.html(confidence_html(rollout))
                cost_view.render_alternatives(rollout.tokens, rollout.confidences, rollout.top,
                                              f"rollout {i}", expander=False)
            else:
                st.caption("Terminal node: evaluated without generating.")
            st.text(f"answer: {rollout.answer or '(none)'}")


def render_teaching(tree: Tree, config: SearchConfig, events: Sequence[Event],
                    history: Sequence[Event] = ()) -> None:
    """What the last phase(s) did (``events``), in words and numbers; ``history``: every
    event of the run so far (MCTSr's backups are explained from them)."""
    if not events:
        st.info("Nothing has run yet. Press **Next phase** to watch selection start at the "
                "root.")
        return
    for event in events:
        st.markdown(f"##### {event_title(event)}")
        st.markdown(explain(tree, event, config, history))


@dataclass(frozen=True)
class IterationPoint:
    """The state after one completed iteration, for the charts."""

    iteration: int
    root_q: float
    best_answer: str | None
    solved: bool | None
    generated: int
    forwarded: int
    unique: int
    nodes: int


def iteration_points(problem: str, events: Sequence[Event]) -> list[IterationPoint]:
    """Root Q, best answer and tokens after each completed iteration (one fold)."""
    tree = Tree.new(problem)
    points: list[IterationPoint] = []
    for event in events:
        apply(tree, event)
        if isinstance(event, Backpropagated):
            answer, verdict = best_answer(tree)
            t = tree.tokens
            points.append(IterationPoint(tree.iterations_done, tree.root.q, answer, verdict,
                                         t.generated, t.forwarded, t.unique, len(tree.nodes)))
    return points


def render_charts(tree: Tree, config: SearchConfig, events: Sequence[Event],
                  node_id: int) -> None:
    points = iteration_points(tree.problem, events)
    if not points:
        st.info("The charts fill in after the first complete iteration.")
    else:
        frame = pd.DataFrame([p.__dict__ for p in points]).set_index("iteration")
        st.caption("Root Q over iterations")
        st.line_chart(frame[["root_q"]])
        st.caption("Best answer so far (a verified one if any, else the most visited "
                   "candidate, labelled wrong or unverified)")
        frame["best answer"] = [label_answer(config.task, tree.problem, p.best_answer,
                                             p.solved, config.reference_answer).short
                                for p in points]
        changes = frame[frame["best answer"].ne(frame["best answer"].shift())]
        st.dataframe(changes[["best answer"]].reset_index(), hide_index=True)
        st.caption("Tokens over iterations")
        st.line_chart(frame[["generated", "unique", "forwarded"]])
        cost_view.render_cost_chart(events)
    render_policy_chart(tree, config, node_id)


def render_policy_chart(tree: Tree, config: SearchConfig, node_id: int) -> None:
    """Visit share (the improved policy π) next to the prior P that selection uses
    (``engine.core.selection.children_scores``), for the node's children."""
    node = tree.nodes[node_id]
    children = [tree.nodes[c] for c in node.children]
    st.caption(f"Visit share π among the children of #{node_id}" if is_mctsr(config) else
               f"Visit share π vs prior P among the children of #{node_id}")
    if not children:
        st.info(f"#{node_id} has no children yet.")
        return
    total = sum(c.visits for c in children) or 1
    frame = pd.DataFrame({
        "child": [f"#{c.id}" for c in children],
        "visit share π": [c.visits / total for c in children],
    }).set_index("child")
    if not is_mctsr(config):  # MCTSr has no prior: its children are rewrites, not steps
        scores = children_scores(tree, node_id, config.selection, config.exploration)
        frame["prior P"] = [s.prior for s in scores]
    st.bar_chart(frame, stack=False)


def render_moment(tree: Tree, config: SearchConfig, events: Sequence[Event],
                  step_events: Sequence[Event], *, keys: MomentKeys, view_key: str,
                  show_what_if: bool = False,
                  steer: Callable[[int], None] | None = None) -> None:
    """Graph, inspector, teaching panel and charts for ``tree`` after ``events``;
    ``step_events`` are the ones just run (highlighted and explained); ``show_what_if``:
    the "What if…" projection under the graph (the Search page); ``steer``: draws the
    steering controls of a node under its inspector (the Search page)."""
    highlight = merge_highlights(tree, step_events, events)
    ghost = what_if.current(tree, config, view_key) if show_what_if else None
    render_graph(tree, config, highlight, selected=selected_node(tree, keys.node),
                 view_key=view_key, keys=keys, ghost=ghost)
    if show_what_if:
        what_if.render_controls(config, ghost)
    node_id = selected_node(tree, keys.node)
    # One panel at a time: a hidden tab would still be drawn (and its charts redrawn) on
    # every step.
    panel = st.radio("Panel", PANELS, key=keys.panel.name, horizontal=True,
                     label_visibility="collapsed")
    if panel == "Inspector":
        render_inspector(tree, config, events, node_id)
        if steer is not None:
            steer(node_id)
    elif panel == "What just happened":
        render_teaching(tree, config, step_events, events)
    else:
        render_charts(tree, config, events, node_id)


def summary_line(tree: Tree) -> str:
    """Iterations, nodes, best answer: one line of plain text."""
    answer, verdict = best_answer(tree)
    if answer is None:
        shown = "none yet"
    elif verdict is True:
        shown = f"{answer} (correct)"
    else:  # a candidate is not an answer until it is verified
        shown = f"none verified (candidate {answer}: {VERDICT_WORDS[verdict]})"
    return (f"{tree_label(tree)} · "
            f"next phase: {tree.next_phase} · "
            f"{len(tree.nodes)} nodes · tokens generated {tree.tokens.generated} · "
            f"best answer: {shown}")

