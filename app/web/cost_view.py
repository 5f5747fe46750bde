"""Where the tokens and time went: a node's cost in the inspector and the cost of each
phase over iterations (a chart). Every number comes from the events through
``engine.core.costs``; no formula is written again here."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from engine.core.costs import COST_PHASES, node_cost, phase_costs
from engine.core.events import Event
from engine.core.tree import Node


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
