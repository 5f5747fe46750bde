"""Steer by hand on the Search page: under the inspector of the selected node, write a step
(*Add my step*), pin its value (*Pin value* / *Unpin*), prune its subtree (*Prune subtree* /
*Restore*). Each action is an event of the run (``engine.strategies.steer``), saved at once;
a refused one says why in one line.

The buttons act in callbacks, before the workspace is drawn again, so the graph and the
inspector drawn next already show the action.
"""

from __future__ import annotations

import streamlit as st

from app.runs.live import LiveRun
from app.web import state
from app.web.resources import get_store
from engine.errors import MctsLabError


def act(live: LiveRun, action: str, node_id: int) -> None:
    """Carry out one steering action (a button's callback); a refusal is kept for the page."""
    state.STEER_ERROR.clear()
    try:
        store = get_store()
        if action == "step":
            event = live.add_user_step(store, node_id, state.STEER_TEXT.get())
            state.STEER_TEXT.set("")
            state.LIVE.node.set(event.children[0].id)  # type: ignore[union-attr]
        elif action == "pin":
            live.steer(store, node_id, "pin", float(state.STEER_PIN.get()))
        elif action in ("unpin", "prune", "restore"):
            live.steer(store, node_id, action)  # type: ignore[arg-type]
        else:
            raise ValueError(f"unknown steering action {action!r}")
    except MctsLabError as err:
        state.STEER_ERROR.set(str(err))


def render(live: LiveRun, node_id: int) -> None:
    """The steering controls for node ``node_id`` of the live run."""
    node = live.search.tree.nodes[node_id]
    state.STEER_TEXT.set_default()
    state.STEER_PIN.set_default()
    with st.container(border=True):
        st.markdown(f"**Steer by hand at #{node_id}**")
        st.caption("Each action is saved with the run and replayed at its moment.")
        left, right = st.columns([4, 1], vertical_alignment="bottom")
        left.text_input("Your step", key=state.STEER_TEXT.name,
                        placeholder="Step: 10-4=6 (left: 5 6 6)",
                        help="A step of your own under this node: the model scores it (prior, "
                        "confidences, value) and the step check may reject it.")
        right.button("Add my step", on_click=act, args=(live, "step", node_id),
                     width="stretch")
        cols = st.columns([1.2, 1, 1, 1.2, 1], vertical_alignment="bottom")
        cols[0].number_input("Value to pin", key=state.STEER_PIN.name, min_value=0.0,
                             max_value=1.0, step=0.05, format="%.2f",
                             help="Selection then uses this value as the node's Q; its "
                             "visits and value sum go on counting.")
        cols[1].button("Pin value", on_click=act, args=(live, "pin", node_id),
                       disabled=node_id == 0, width="stretch")
        cols[2].button("Unpin", on_click=act, args=(live, "unpin", node_id),
                       disabled=node.pinned is None, width="stretch")
        cols[3].button("Prune subtree", on_click=act, args=(live, "prune", node_id),
                       disabled=node.pruned or node_id == 0, width="stretch",
                       help="Selection never enters this node or anything below it.")
        cols[4].button("Restore", on_click=act, args=(live, "restore", node_id),
                       disabled=not node.pruned, width="stretch")
        if node.pinned is not None:
            st.caption(f"Pinned at {node.pinned:.3f}: selection's Q for #{node_id}.")
        if node.pruned:
            st.caption(f"#{node_id} and its subtree are pruned: selection never enters them.")
    error = state.STEER_ERROR.take()
    if error is not None:
        st.error(error)
