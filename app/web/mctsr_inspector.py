"""The inspector's MCTSr sections: an answer's critique, rewrite, sampled rewards and
backed-up Q, and every node's score at the last selection (``Selected.candidates``).

Model text reaches the page only through ``st.text``, ``st.code`` and data frames; the
Markdown here holds numbers and node ids only.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from app.web.graph import format_score
from app.web.markup import row_mark
from app.web.mctsr_view import (
    is_dummy,
    last_candidates,
    last_simulation,
    previous_q,
    reward_arithmetic,
    samples_text,
)
from app.web.teaching_mctsr import UCT_FORMULA, parent_visits, uct_formula
from engine.core.config import SearchConfig
from engine.core.events import Backpropagated, Event, ScoreBreakdown
from engine.core.mctsr import answer_q
from engine.core.phases import next_selection, scores_for
from engine.core.report import iteration_number
from engine.core.tree import Node, Tree
from engine.errors import SearchExhausted
from engine.strategies.mctsr import DUMMY_ANSWER

MCTSR_Q_LABEL = "Q (MCTSr backed-up)"
"""The inspector's Q under MCTSr: not W / N, but what the backup rule left."""


def stored_reward(events: Sequence[Event], node: Node) -> float | None:
    """The engine's value of ``node``'s sampled rewards (its last ``Simulated``), or the
    dummy's value; ``None`` for a node never valued."""
    sim = last_simulation(events, node.id)
    if sim is not None:
        return sim.rollout.value
    return node.value


def render_answer(tree: Tree, events: Sequence[Event], node: Node) -> None:
    """Critique, rewrite, sampled rewards with ``(min + mean) / 2``, and the backup."""
    if node.parent is None:
        st.caption("The problem. MCTSr expands it once, into the model's first answer and "
                   "the dummy answer; its Q is the best child's Q.")
    elif is_dummy(node):
        st.caption(f"The dummy answer “{DUMMY_ANSWER}”: no critique and no self-reward, "
                   f"worth {node.value if node.value is not None else 0:g}; refining it "
                   "asks the model for a fresh attempt.")
    elif node.critique is not None:
        st.caption(f"Critique (of #{node.parent}'s answer)")
        st.text(node.critique)
        st.caption(f"The rewrite: #{node.id} refines #{node.parent} after the critique")
        st.code(node.text or "(empty: no rewrite)", language=None, wrap_lines=True)
    else:
        st.caption("The model's first answer")
        st.code(node.text or "(empty)", language=None, wrap_lines=True)
    sim = last_simulation(events, node.id)
    if node.rewards:
        st.caption("Self-rewards sampled for this answer")
        stored = "" if sim is None else \
            f" · the engine's stored value: **{sim.rollout.value:.3f}**"
        st.markdown(f"samples {samples_text(node.rewards)}: "
                    f"{reward_arithmetic(node.rewards)}{stored}")
        if sim is not None:
            st.text(sim.rollout.reward)
    render_backup(tree, events, node)


def render_backup(tree: Tree, events: Sequence[Event], node: Node) -> None:
    """Q after the backup rule, the children it takes the max over, the last change."""
    if not node.visits:
        st.caption("Not visited yet: no backup has reached it.")
        return
    children = ", ".join(f"#{c} {answer_q(tree.nodes[c]):.3f}" for c in node.children)
    if node.parent is None:
        rule = f"the root takes the best child's Q: max({children})"
    elif node.children:
        rule = f"(Q + max child Q) / 2 at each backup through it; children now: {children}"
    else:
        rule = "no children yet: its Q is its reward"
    line = f"Backup: Q after the rule = **{node.q:.3f}** ({rule})."
    last = next((e for e in reversed(events)
                 if isinstance(e, Backpropagated) and node.id in e.path), None)
    if last is not None and last.q_after is not None:
        before = previous_q(events, last.iteration, node.id)
        was = "—" if before is None else f"{before:.3f}"
        line += (f" Last backup through #{node.id}: iteration "
                 f"{iteration_number(last.iteration)}, Q {was} → "
                 f"{last.q_after[last.path.index(node.id)]:.3f}.")
    st.markdown(line)


def candidate_table(tree: Tree, scores: Sequence[ScoreBreakdown], chosen: int | None,
                    current: int) -> pd.DataFrame:
    """Every node's MCTSr UCT (the engine's terms); the first column marks the winner and
    the inspected node (``row_mark``)."""
    return pd.DataFrame([{
        "": row_mark(s.child == chosen, s.child == current),
        "node": f"#{s.child}", "N": s.visits, "N_parent": parent_visits(tree, s, scores),
        "Q": round(s.exploitation, 4), "exploration": format_score(s.exploration),
        "score": format_score(s.total), "excluded": s.excluded or "",
    } for s in scores])


def render_candidates(tree: Tree, config: SearchConfig, events: Sequence[Event],
                      node: Node) -> None:
    """The candidates at the last selection (``Selected.candidates``), and as they stand."""
    found = last_candidates(events)
    if found is not None:
        st.caption(f"MCTSr UCT = {UCT_FORMULA} (c = {config.exploration:g}, ε = "
                   f"{config.refine_epsilon:g}) at the last selection (iteration "
                   f"{iteration_number(found.iteration)}): every node scored at once, the "
                   "excluded ones say why; first column: chosen, this node")
        st.dataframe(candidate_table(tree, found.candidates, found.path[-1], node.id),
                     hide_index=True)
        mine = next((s for s in found.candidates if s.child == node.id), None)
        if mine is not None and mine.excluded is None:
            st.markdown(f"#{node.id}: " + uct_formula(
                mine, parent_visits(tree, mine, found.candidates), config))
    now = sorted(scores_for(tree, config).values(), key=lambda s: s.child)
    if not now:
        return
    try:
        best: int | None = next_selection(tree, config).path[-1]
    except SearchExhausted:
        best = None
    st.caption("MCTSr UCT now (the tree as it stands); first column: chosen (what "
               "selection would refine next), this node")
    st.dataframe(candidate_table(tree, now, best, node.id), hide_index=True)
