"""Where the tokens and time went, and what was inside each token: a node's cost in the
inspector, the cost of each phase over iterations (a chart), and each generated token's
top-5 alternatives. Every number comes from the events through ``engine.core.costs``; no
formula is written again here. Model text reaches the page only through tables."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from engine.core.costs import COST_PHASES, node_cost, phase_costs
from engine.core.events import Event, TokenTop
from engine.core.tree import Node

ALTERNATIVES = 5


def _ms(ms: float | None) -> str:
    return "not recorded" if ms is None else f"{ms:,.1f} ms"


def render_node_cost(events: Sequence[Event], node: Node) -> None:
    """The node's cost: the tokens generated for it and its rollouts, and the time of the
    events that created and simulated it (``engine.core.costs.node_cost``)."""
    cost = node_cost(events, node.id)
    made = "" if node.parent is None else \
        f"created in {_ms(cost.expansion_ms)} (the expansion, shared with its siblings)"
    simulated = (f"{cost.simulations} simulation(s) in {_ms(cost.simulation_ms)}"
                 if cost.simulations else "no simulation yet")
    parts = [p for p in (made, simulated) if p]
    st.caption(f"Cost: {cost.generated} tokens generated for this node and its rollouts · "
               f"{_ms(cost.ms)} in all: " + "; ".join(parts))


def _shown(text: str) -> str:
    return text.replace("\n", "¶") if text.strip() else repr(text)


def alternatives_frame(tokens: Sequence[str], confidences: Sequence[float],
                       top: Sequence[TokenTop]) -> pd.DataFrame:
    """One row per token: the token, its Marco-o1 confidence, and the model's 5 most
    likely tokens at its position with their probabilities (temperature 1)."""
    rows = []
    for i, (token, alternatives) in enumerate(zip(tokens, top, strict=False)):
        row: dict[str, object] = {"#": i + 1, "token": _shown(token),
                                  "confidence": round(confidences[i], 3)
                                  if i < len(confidences) else None}
        for rank in range(ALTERNATIVES):
            if rank < len(alternatives):
                text, p = alternatives[rank]
                row[f"top {rank + 1}"] = f"{_shown(text)}  {p:.4f}"
            else:
                row[f"top {rank + 1}"] = ""
        rows.append(row)
    return pd.DataFrame(rows)


def render_alternatives(tokens: Sequence[str], confidences: Sequence[float],
                        top: Sequence[TokenTop], what: str, *, expander: bool = True) -> None:
    """The table of ``alternatives_frame``, in an expander (or a caption and the table
    where an expander cannot be, inside another)."""
    if not top:
        return
    title = (f"Inside the tokens of {what}: each token's confidence and the model's top-5 "
             "alternatives with their probabilities")
    if expander:
        with st.expander(title):
            st.table(alternatives_frame(tokens, confidences, top))
    else:
        st.caption(title)
        st.table(alternatives_frame(tokens, confidences, top))


def render_cost_chart(events: Sequence[Event]) -> None:
    """Time and tokens generated per phase over iterations, stacked by phase."""
    costs = phase_costs(events)
    if not costs:
        return
    frame = pd.DataFrame([c.__dict__ for c in costs])
    phases = [p for p in COST_PHASES if p in set(frame["phase"])]
    for column, title in (("ms", "Time per phase over iterations (ms)"),
                          ("generated", "Tokens generated per phase over iterations")):
        table = frame.pivot_table(index="iteration", columns="phase", values=column,
                                  aggfunc="sum", fill_value=0)[phases]
        table.index = table.index + 1
        st.caption(title)
        st.bar_chart(table, stack=True)
