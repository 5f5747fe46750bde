"""What if: the next selection under another exploration constant c (and, for MCTS, UCT or
PUCT), drawn as a ghost path beside the real one (issue 15).

The path is the engine's (``engine.core.phases.what_if_path``: ``next_selection`` with a
copy of the run's settings); nothing here scores a node. It is a projection only: no event
is made, nothing is stored, the run goes on with its own settings.

``project`` and ``ghost_data`` are pure; ``render_controls`` draws the widgets.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app.web import state
from app.web.graph import GHOST_COLOUR
from app.web.mctsr_view import is_mctsr, rule_label, rule_name
from engine.core.config import SearchConfig
from engine.core.phases import what_if_path
from engine.core.tree import Tree

RULES = ("uct", "puct")


@dataclass(frozen=True)
class Projection:
    """The next selection with c = ``exploration`` under ``rule`` (``uct``, ``puct`` or
    ``mctsr``), next to the run's own."""

    exploration: float
    rule: str
    path: tuple[int, ...] | str
    """The projected path from the root, or why nothing could be selected."""
    own: tuple[int, ...] | str
    """The path the run's own settings select next (or why none)."""

    @property
    def label(self) -> str:
        return f"what-if path (projection, c={self.exploration:g}, {rule_label(self.rule)})"

    @property
    def edges(self) -> list[tuple[int, int]]:
        return [] if isinstance(self.path, str) else list(zip(self.path, self.path[1:],
                                                              strict=False))


def walk(path: tuple[int, ...] | str) -> str:
    return path if isinstance(path, str) else " → ".join(f"#{n}" for n in path)


def project(tree: Tree, config: SearchConfig, exploration: float,
            rule: str | None) -> Projection | None:
    """The projection for c = ``exploration`` and ``rule`` (ignored under MCTSr), or
    ``None`` when they are the run's own (the run's next selection is the real one)."""
    own_rule = rule_name(config)
    rule = own_rule if is_mctsr(config) or rule not in RULES else rule
    if float(exploration) == config.exploration and rule == own_rule:
        return None
    engine_rule = None if is_mctsr(config) else rule
    return Projection(float(exploration), rule,
                      what_if_path(tree, config, exploration, engine_rule),
                      what_if_path(tree, config, config.exploration))


def caption(projection: Projection) -> str:
    """One plain line: the projected path, then the run's own."""
    head = f"Projection only: with c = {projection.exploration:g} " \
           f"({rule_label(projection.rule)}), "
    if isinstance(projection.path, str):
        head += f"nothing would be selected ({projection.path})"
    else:
        head += f"the next selection would walk {walk(projection.path)}"
    own = projection.own
    tail = f"nothing ({own})" if isinstance(own, str) else walk(own)
    return f"{head}; the run's own rule walks {tail}. Nothing is saved or run."


def ghost_data(data: dict[str, Any], projection: Projection | None) -> dict[str, Any]:
    """``data`` (``graph.vis_data``) with the projected path drawn as a ghost: a dashed,
    curved edge beside each real edge of the path, a dashed ring on each of its nodes that
    the phase just run did not mark, and
    ``roles["what_if"]`` (its path and legend label). A new dict; ``data`` is unchanged."""
    out = copy.deepcopy(data)
    if projection is None or isinstance(projection.path, str):
        return out
    roles = out.get("roles", {})
    # A node the phase just run marked keeps its mark; the ghost edges still show the path.
    marked = {*roles.get("path", ()), *roles.get("new_children", ()), roles.get("rolled_out")}
    path = set(projection.path) - marked
    for node in out["nodes"]:
        if node["id"] in path:
            node["shapeProperties"] = {"borderDashes": [5, 4]}
            node["borderWidth"] = max(node.get("borderWidth", 1), 3)
            node["color"] = {**node.get("color", {}), "border": GHOST_COLOUR}
    for u, v in projection.edges:
        out["edges"].append({
            "from": u, "to": v, "id": f"what-if-{u}-{v}", "color": GHOST_COLOUR,
            "width": 3, "dashes": [6, 4], "title": projection.label,
            "smooth": {"enabled": True, "type": "curvedCW", "roundness": 0.25},
        })
    out["roles"] = {**out.get("roles", {}),
                    "what_if": {"path": list(projection.path), "label": projection.label}}
    return out


def current(tree: Tree, config: SearchConfig, view_key: str) -> Projection | None:
    """The projection the widgets ask for; on a run shown for the first time they are set
    to the run's own c and rule (so nothing is projected until one is changed)."""
    if state.WHAT_IF_FOR.get() != view_key:
        state.WHAT_IF_FOR.set(view_key)
        state.WHAT_IF_C.set(float(config.exploration))
        state.WHAT_IF_RULE.set(rule_name(config))
    return project(tree, config, state.WHAT_IF_C.get(), state.WHAT_IF_RULE.get())


def render_controls(config: SearchConfig, projection: Projection | None) -> None:
    """The expander: c, the rule (MCTS only) and the projection's caption."""
    # Closed until the user opens it, and then kept as the browser has it: an ``expanded``
    # that followed the projection changed when c went back to the run's own, and the
    # browser could fold the expander under the user's hand (Chromium, CI).
    with st.expander("What if…"):
        left, right = st.columns([1, 2])
        # The run's own c and rule are also the widgets' defaults (the value a browser
        # falls back to when it draws a widget afresh), not only the values ``current``
        # sets: with Streamlit's default (c = 0) a redrawn widget sent 0 back and a
        # projection appeared that nobody asked for (Chromium, CI).
        left.number_input("c (what if)", key=state.WHAT_IF_C.name, min_value=0.0,
                          value=float(config.exploration),
                          step=0.1, format="%.3f",
                          help="Another exploration constant: the graph shows where the "
                          "next selection would go with it (a projection; the run keeps "
                          "its own).")
        if not is_mctsr(config):
            right.radio("Rule (what if)", RULES, key=state.WHAT_IF_RULE.name,
                        index=RULES.index(rule_name(config)),
                        horizontal=True, format_func=rule_label)
        if projection is None:
            st.caption(f"The run's own settings: c = {config.exploration:g} "
                       f"({rule_label(rule_name(config))}). Change c or the rule to see "
                       "where the next selection would go instead (a projection only).")
        else:
            st.caption(caption(projection))
