"""The search tree as a picture: ``Tree -> networkx.DiGraph -> vis-network data -> HTML``.

Everything here is pure (no Streamlit), so it can be tested and benchmarked:

- ``tidy_layout``: x from leaf order, y from depth (a tidy tree; physics stays off).
- ``highlight_for`` (``app.web.highlight``): what the phase just run touched, from its
  event.
- ``tree_digraph``: one graph node per tree node, carrying its vis-network drawing options.
- ``vis_data``: the nodes and edges lists that vis-network draws (the live component and the
  standalone page draw the same data).
- ``graph_html``: a standalone page through pyvis, with vis-network inlined from
  ``assets/vendor`` (no CDN: the app works air-gapped).

Every text that reaches the browser is plain text (vis-network draws labels on a canvas and
string tooltips as text) and the data is embedded with Jinja's ``tojson``, which escapes
``<``, ``>``, ``&`` and quotes, so a problem like ``<script>`` cannot become markup.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import jinja2
import networkx as nx
from pyvis.network import Network

from app.web import mctsr_view, steer_view
from app.web.highlight import Change as Change
from app.web.highlight import Highlight as Highlight
from app.web.highlight import backprop_changes as backprop_changes
from app.web.highlight import highlight_for as highlight_for
from engine.core.events import ScoreBreakdown
from engine.core.tree import Node, Tree

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
TEMPLATE_NAME = "graph_template.html"
LabelBy = Literal["nq", "score", "text"]
"""A node's label after its id: its (N, Q), its current selection score under the run's
rule, or the start of its text."""
SHORT_TEXT_CHARS = 18
"""How much of a node's text a short-text label shows."""
CHAR_PX = 7.5
"""About how wide one label character is at the graph's font size, in vis-network pixels."""
MIN_LABEL_SCALE = 0.75
"""The smallest zoom the page fits a tree to: below it labels are too small to read, so a
wide tree is shown at this zoom around the phase's node, and the user pans to the rest."""

X_GAP = 64.0
"""Horizontal distance between neighbouring leaves, in vis-network pixels."""
Y_GAP = 110.0
"""Vertical distance between depths."""
TOOLTIP_TEXT_CHARS = 300

UNVISITED_COLOUR = "#c8c8c8"
REFLECTION_COLOUR = "#8e44ad"
MODEL_REFLECTION_COLOUR = "#c39bd3"
"""A reflection the model wrote itself (not inserted by the search or by hand)."""
HIGHLIGHT_COLOUR = "#ff7f0e"
NEW_CHILD_COLOUR = "#1f77b4"
ROLLOUT_COLOUR = "#17becf"
CORRECT_COLOUR = "#1a9641"
WRONG_COLOUR = "#d7191c"
EDGE_COLOUR = "#9a9a9a"
GHOST_COLOUR = "#e6550d"
"""The "what if" projection's ghost path (``app.web.what_if``)."""
# Q colour scale: low (red) -> middle (yellow) -> high (green); the legend shows the same stops.
Q_STOPS: tuple[tuple[float, tuple[int, int, int]], ...] = (
    (0.0, (215, 48, 39)),
    (0.5, (254, 224, 139)),
    (1.0, (26, 152, 80)),
)


def tidy_layout(tree: Tree, gap: float = X_GAP) -> dict[int, tuple[float, float]]:
    """Positions: leaves take consecutive x slots ``gap`` apart in depth-first order, a
    parent sits midway between its first and last child, and y grows with depth."""
    x: dict[int, float] = {}
    next_slot = 0
    # Iterative post-order so that deep trees need no recursion.
    stack: list[tuple[int, bool]] = [(tree.root.id, False)]
    while stack:
        node_id, children_done = stack.pop()
        node = tree.nodes[node_id]
        if not node.children:
            x[node_id] = next_slot * gap
            next_slot += 1
        elif children_done:
            x[node_id] = (x[node.children[0]] + x[node.children[-1]]) / 2
        else:
            stack.append((node_id, True))
            stack.extend((c, False) for c in reversed(node.children))
    return {n.id: (x[n.id], n.depth * Y_GAP) for n in tree.nodes}


def q_colour(q: float) -> str:
    """The colour of a value in [0, 1] on the legend's red-yellow-green scale."""
    q = min(max(q, 0.0), 1.0)
    for (lo, c_lo), (hi, c_hi) in zip(Q_STOPS, Q_STOPS[1:], strict=False):
        if q <= hi:
            t = (q - lo) / (hi - lo)
            rgb = (round(a + (b - a) * t) for a, b in zip(c_lo, c_hi, strict=True))
            return "#{:02x}{:02x}{:02x}".format(*rgb)
    return "#{:02x}{:02x}{:02x}".format(*Q_STOPS[-1][1])


def format_score(x: float) -> str:
    """A score for people: ``inf`` as the infinity sign."""
    return "∞" if math.isinf(x) else f"{x:.3f}"


def short_text(node: Node) -> str:
    """The start of a node's first line (the root's: the problem), for a label."""
    text = " ".join(node.text.split())
    if node.kind != "root":
        text = text.removeprefix("Step: ")
    return text if len(text) <= SHORT_TEXT_CHARS else text[:SHORT_TEXT_CHARS - 1] + "…"


def format_q(node: Node, digits: int = 2) -> str:
    """A node's Q for people: ``—`` before its first visit (Q is undefined at N = 0)."""
    return f"{node.q:.{digits}f}" if node.visits else "—"


def node_label(node: Node, score: ScoreBreakdown | None, label_by: LabelBy,
               change: Change | None, rule: str) -> str:
    """The text under a node: its id, then (N, Q), its current selection score named by the
    run's ``rule`` (``UCT 1.269``, ``PUCT 0.431``, ``MCTSr UCT 1.165``) or the start of its
    text; plus any change."""
    if label_by == "score":
        label = f"#{node.id} " + ("root" if score is None else
                                  f"{mctsr_view.rule_label(rule)} {format_score(score.total)}")
    elif label_by == "text":
        label = f"#{node.id} {short_text(node)}"
    else:
        label = f"#{node.id} N={node.visits}\nQ={format_q(node)}"
    if change is not None:
        before = "—" if change.q_before is None else f"{change.q_before:.2f}"
        label += f"\nN {change.visits_before}→{change.visits_after}\n" \
                 f"Q {before}→{change.q_after:.2f}"
    if node.dead is not None:
        label += "\n(dead)"
    if mctsr_view.is_dummy(node):
        label += "\n(dummy)"
    return label


ReflectionSource = Literal["model", "search", "hand"]


def reflection_source(node: Node) -> ReflectionSource | None:
    """Where a reflection node came from: added by hand (its expansion's origin), inserted
    by the search (text it did not sample: ``ended`` is None), or written by the model
    itself in a sampled step; ``None`` for any other node."""
    if node.kind != "reflection":
        return None
    if node.origin == "reflection_by_hand":
        return "hand"
    return "search" if node.ended is None else "model"


REFLECTION_NOTES: dict[ReflectionSource, str] = {
    "hand": "reflection added by hand (Add reflection under …)",
    "search": "reflection inserted by the search (setting reflection = on: an unverified "
              "or wrong answer gets one)",
    "model": "the model wrote this reflection itself in a sampled step; the setting "
             "reflection only controls the ones the search inserts",
}


def node_tooltip(node: Node, score: ScoreBreakdown | None, rule: str) -> str:
    """Plain-text tooltip: the step, N, Q, prior and the selection score with its terms
    (and why selection may not take the node, when it may not)."""
    text = node.text if len(node.text) <= TOOLTIP_TEXT_CHARS else \
        node.text[:TOOLTIP_TEXT_CHARS] + "…"
    lines = [f"#{node.id} {node.kind}", text, "",
             f"N = {node.visits}   Q = {format_q(node, 3)}   value sum = "
             f"{node.value_sum:.3f}",
             f"prior (log p) = {node.prior:.3f}"]
    source = reflection_source(node)
    if source is not None:
        lines.append(REFLECTION_NOTES[source])
    lines.extend(mctsr_view.tooltip_lines(node))
    if node.value is not None:
        lines.append(f"state value = {node.value:.3f}")
    if score is not None:
        lines.append(f"{mctsr_view.rule_label(rule)} score = {format_score(score.exploitation)} "
                     f"(exploitation) + {format_score(score.exploration)} (exploration) = "
                     f"{format_score(score.total)}")
        if score.excluded is not None and node.dead is None:
            lines.append(f"not selectable: {score.excluded}")
    if node.dead is not None:
        lines.append(f"dead step (never selected): {node.dead}")
    if node.answer is not None:
        verdict = {True: "correct", False: "wrong", None: "not verified"}[node.verdict]
        lines.append(f"answer: {node.answer} ({verdict})")
    return "\n".join(lines)


def _node_options(node: Node, pos: tuple[float, float], score: ScoreBreakdown | None,
                  highlight: Highlight, label_by: LabelBy, rule: str) -> dict[str, Any]:
    background = q_colour(node.q) if node.visits else UNVISITED_COLOUR
    border, border_width = "#555555", 1
    source = reflection_source(node)
    if source is not None:
        border, border_width = (MODEL_REFLECTION_COLOUR, 2) if source == "model" else \
            (REFLECTION_COLOUR, 3)
    if node.verdict is True:
        border, border_width = CORRECT_COLOUR, 4
    elif node.verdict is False and node.terminal:
        border, border_width = WRONG_COLOUR, 3
    shape = {"root": "square", "answer": "star", "reflection": "diamond"}.get(node.kind, "dot")
    if source == "model":
        shape = "triangle"
    if mctsr_view.is_dummy(node):
        shape, border = "hexagon", mctsr_view.DUMMY_COLOUR
    options: dict[str, Any] = {
        "label": node_label(node, score, label_by, highlight.changed.get(node.id), rule),
        "title": node_tooltip(node, score, rule),
        "x": pos[0], "y": pos[1],
        "size": 10 + 5 * math.sqrt(node.visits),
        "shape": shape,
        "borderWidth": border_width,
        "color": {"background": background, "border": border},
        # Always present, so that updating a drawn node clears an earlier highlight.
        "shapeProperties": {"borderDashes": False},
        "font": {"color": "#343434"},
    }
    if node.id in highlight.path:
        options["borderWidth"] = max(border_width, 4)
        options["color"]["border"] = HIGHLIGHT_COLOUR
    if node.id in highlight.new_children:
        options["borderWidth"] = 4
        options["color"]["border"] = NEW_CHILD_COLOUR
        options["shapeProperties"] = {"borderDashes": [4, 3]}
    if node.id == highlight.rolled_out:
        options["borderWidth"] = 6
        options["color"]["border"] = ROLLOUT_COLOUR
        options["label"] += "\n(rolled out)"
    if node.id in highlight.changed:
        options["font"] = {"color": "#b35900"}
    return options


def tree_digraph(tree: Tree, scores: dict[int, ScoreBreakdown], highlight: Highlight,
                 *, rule: str, label_by: LabelBy = "nq") -> nx.DiGraph:
    """The tree as a DiGraph whose node and edge attributes are vis-network options.

    ``scores`` is the engine's current selection score of each node under the selection
    ``rule`` (``engine.core.phases.scores_for``; ``rule`` is ``mctsr`` for MCTSr's UCT); it
    is shown, never recomputed here, and labelled by the rule's name. Under MCTSr a refine
    edge (a rewrite after a critique) is dashed and labelled, the dummy answer a hexagon.
    """
    graph = nx.DiGraph(roles={
        "phase": highlight.phase, "path": list(highlight.path),
        "new_children": list(highlight.new_children), "rolled_out": highlight.rolled_out,
        "changed": sorted(highlight.changed), "origin": highlight.origin,
        "iterations": tree.iterations_done,
    })
    options = {node.id: _node_options(node, (0.0, 0.0), scores.get(node.id), highlight,
                                      label_by, rule) for node in tree.nodes}
    pruned = steer_view.restyle(tree, options, highlight)
    # Leaves sit at least one label apart, so wider labels (short text) spread the tree.
    widest = max(len(line) for o in options.values() for line in o["label"].splitlines())
    positions = tidy_layout(tree, gap=max(X_GAP, CHAR_PX * widest + 12))
    path_edges = highlight.edges
    focus = highlight.rolled_out if highlight.rolled_out is not None else \
        (highlight.path[-1] if highlight.path else tree.root.id)
    # The view of a tree too wide to read whole: the path from the root to the phase's node
    # when it fits at the smallest readable zoom, else that node.
    graph.graph["view"] = {"min_scale": MIN_LABEL_SCALE, "focus": focus,
                           "path": tree.path_to(focus)}
    for node in tree.nodes:
        x, y = positions[node.id]
        graph.add_node(node.id, **{**options[node.id], "x": x, "y": y})
    for node in tree.nodes:
        if node.parent is None:
            continue
        edge: dict[str, Any] = {"color": EDGE_COLOUR, "width": 1.5}
        if reflection_source(node) in ("hand", "search"):
            edge.update(dashes=[8, 6], color=REFLECTION_COLOUR, width=2.5)
        elif reflection_source(node) == "model":
            edge.update(color=MODEL_REFLECTION_COLOUR, width=2)
        edge.update(mctsr_view.refine_edge(node) or {})
        edge.update(steer_view.edge_style(node.id, pruned))
        if (node.parent, node.id) in path_edges:
            edge.update(color=HIGHLIGHT_COLOUR, width=5)
        graph.add_edge(node.parent, node.id, **edge)
    return graph


def vis_data(graph: nx.DiGraph) -> dict[str, Any]:
    """The ``nodes`` and ``edges`` lists that vis-network draws, and the highlight roles
    (which nodes the phase touched, for the page's data attributes and the tests)."""
    nodes = [{"id": n, **attrs} for n, attrs in graph.nodes(data=True)]
    edges = [{"from": u, "to": v, "id": f"{u}-{v}", **attrs}
             for u, v, attrs in graph.edges(data=True)]
    return {"nodes": nodes, "edges": edges, "roles": graph.graph.get("roles", {}),
            "view": graph.graph.get("view", {})}


VIS_OPTIONS: dict[str, Any] = {
    "physics": {"enabled": False},
    "layout": {"hierarchical": {"enabled": False}},
    # The mouse wheel scrolls the page (the inspector is below the graph); the graph zooms
    # with its + and - buttons and pans by dragging.
    "interaction": {"hover": True, "tooltipDelay": 120, "multiselect": False,
                    "navigationButtons": True, "zoomView": False, "keyboard": False},
    "edges": {"arrows": {"to": {"enabled": False}}, "smooth": False},
    "nodes": {"font": {"size": 13, "face": "sans-serif", "multi": False}},
}


_ENV: jinja2.Environment | None = None


def template_env() -> jinja2.Environment:
    """One Jinja environment for the graph page, so the inlined vis-network is read and
    compiled once per process, not once per picture."""
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ASSETS_DIR)),
                                  autoescape=True)
    return _ENV


def render_page(data: dict[str, Any] | None, *, mode: Literal["standalone", "component"],
                height: int, options: dict[str, Any]) -> str:
    """The graph page: vis-network inlined; the data inline (standalone) or sent by
    Streamlit (component)."""
    template = template_env().get_template(TEMPLATE_NAME)
    return template.render(data=data, mode=mode, height=height, options=options,
                           legend=legend_stops(), marks=legend_marks(),
                           ghost_colour=GHOST_COLOUR)


def legend_stops() -> list[tuple[str, str]]:
    """(label, colour) pairs of the Q legend."""
    stops = [(f"Q={q:.2f}", q_colour(q)) for q in (0.0, 0.25, 0.5, 0.75, 1.0)]
    return [("unvisited", UNVISITED_COLOUR), *stops]


def legend_marks() -> list[tuple[str, str]]:
    """(CSS of a small sample, label) for every shape, ring and line the graph draws."""
    swatch = "display: inline-block; width: 12px; height: 12px; vertical-align: middle; " \
             "margin-right: 3px; "
    grey = "background: #dddddd; border: 1px solid #555555; "
    return [
        (swatch + grey + "border-radius: 0", "root: the problem (square)"),
        (swatch + grey + "border-radius: 6px", "step (dot)"),
        (swatch + "background: #555555; clip-path: polygon(50% 0, 61% 35%, 98% 35%, 68% 57%, "
         "79% 91%, 50% 70%, 21% 91%, 32% 57%, 2% 35%, 39% 35%)", "answer (star)"),
        (swatch + f"border-radius: 6px; background: #ffffff; border: 3px solid "
         f"{CORRECT_COLOUR}", "correct answer (green ring)"),
        (swatch + f"border-radius: 6px; background: #ffffff; border: 3px solid "
         f"{WRONG_COLOUR}", "wrong answer (red ring)"),
        (swatch + f"background: #ffffff; border: 3px solid {REFLECTION_COLOUR}; transform: "
         "rotate(45deg) scale(0.8)", "reflection inserted by search or by hand (diamond, "
         "dashed branch)"),
        (swatch + f"background: {MODEL_REFLECTION_COLOUR}; clip-path: polygon(50% 0, 100% "
         "100%, 0 100%)", "the model reflected by itself (triangle)"),
        *mctsr_view.legend_marks(swatch),
        *steer_view.legend_marks(swatch),
    ]


def graph_html(tree: Tree, scores: dict[int, ScoreBreakdown], highlight: Highlight, *,
               label_by: LabelBy = "nq", rule: str = "uct", height: int = 620) -> str:
    """A standalone HTML page of the tree (vis-network inline, no network request)."""
    data = vis_data(tree_digraph(tree, scores, highlight, label_by=label_by, rule=rule))
    net = Network(height=f"{height}px", width="100%", directed=True, cdn_resources="in_line")
    # pyvis's add_node/add_edge check membership in lists (quadratic); the data is already
    # checked by networkx, so hand it over directly.
    net.nodes, net.edges = data["nodes"], data["edges"]
    net.node_ids = [n["id"] for n in data["nodes"]]
    net.options = VIS_OPTIONS
    nodes, edges, _heading, _height, _width, _options = net.get_network_data()
    return render_page({"nodes": nodes, "edges": edges, "roles": data["roles"],
                        "view": data["view"]},
                       mode="standalone", height=height, options=net.options)
