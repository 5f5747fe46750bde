"""How steering by hand shows (pure, no Streamlit): a step the user wrote, a pinned value
and a pruned subtree on the graph, in its legend and tooltips, and in the teaching panel.

The numbers come from the tree and the events (``engine.core.steering``); nothing here
decides anything.
"""

from __future__ import annotations

from typing import Any

from app.web.highlight import Highlight
from engine.core.events import Steered
from engine.core.steering import PRUNED, pruned_subtrees
from engine.core.tree import Node, Tree

USER_COLOUR = "#e377c2"
"""The border of a step written by hand."""
PINNED_COLOUR = "#b8860b"
"""The border of a node whose value is pinned."""
PRUNED_BACKGROUND = "#f2f2f2"
PRUNED_TEXT = "#a0a0a0"
PRUNED_EDGE = "#d0d0d0"


def label_lines(node: Node) -> list[str]:
    """What a node's label adds: ``(by hand)``, ``pinned 0.90``, ``(pruned)``."""
    lines = []
    if node.origin == "user":
        lines.append("(by hand)")
    if node.pinned is not None:
        lines.append(f"pinned {node.pinned:.2f}")
    if node.pruned:
        lines.append("(pruned)")
    return lines


def tooltip_lines(node: Node, inside_pruned: bool) -> list[str]:
    """What a node's tooltip adds about the user's hand on it."""
    lines = []
    if node.origin == "user":
        lines.append("step written by hand (scored by the model: prior, confidences, value)")
    if node.pinned is not None:
        mean = f"{node.q:.3f}" if node.visits else "—"
        lines.append(f"pinned by hand: selection's Q = {node.pinned:.3f} (its mean W/N = "
                     f"{mean} goes on counting)")
    if node.pruned:
        lines.append(f"{PRUNED}: selection never enters this subtree until it is restored")
    elif inside_pruned:
        lines.append("inside a subtree pruned by hand")
    return lines


def restyle(tree: Tree, options: dict[int, dict[str, Any]], highlight: Highlight) -> set[int]:
    """Mark the user's hand on the graph's node ``options`` in place (a node the phase just
    touched keeps its highlight ring); return the nodes inside pruned subtrees."""
    inside = pruned_subtrees(tree)
    highlighted = {*highlight.path, *highlight.new_children, *highlight.changed,
                   highlight.rolled_out}
    for node in tree.nodes:
        opts = options[node.id]
        added = label_lines(node)
        if added:
            opts["label"] += "\n" + "\n".join(added)
        tips = tooltip_lines(node, node.id in inside)
        if tips:
            opts["title"] += "\n" + "\n".join(tips)
        if node.id not in highlighted:
            if node.pinned is not None:
                opts["color"]["border"], opts["borderWidth"] = PINNED_COLOUR, 4
            elif node.origin == "user":
                opts["color"]["border"] = USER_COLOUR
                opts["borderWidth"] = max(opts["borderWidth"], 3)
        if node.id in inside:
            opts["color"]["background"] = PRUNED_BACKGROUND
            opts["font"] = {"color": PRUNED_TEXT}
            if node.id not in highlighted:
                opts["shapeProperties"] = {"borderDashes": [2, 3]}
    return inside


def edge_style(child: int, inside_pruned: set[int]) -> dict[str, Any]:
    """An edge into a pruned subtree is faint and dotted."""
    return {"color": PRUNED_EDGE, "dashes": [2, 4]} if child in inside_pruned else {}


def legend_marks(swatch: str) -> list[tuple[str, str]]:
    """(CSS of a sample, label) for the graph's legend."""
    return [
        (swatch + f"border-radius: 6px; background: #ffffff; border: 3px solid {USER_COLOUR}",
         "step written by hand (pink ring, “by hand”)"),
        (swatch + f"border-radius: 6px; background: #ffffff; border: 3px solid "
         f"{PINNED_COLOUR}", "value pinned by hand (gold ring, “pinned”)"),
        (swatch + f"border-radius: 6px; background: {PRUNED_BACKGROUND}; border: 1px dashed "
         f"{PRUNED_TEXT}", "pruned subtree (pale, dotted): never selected"),
    ]


def explain_steer(tree: Tree, event: Steered) -> str:
    """What a pin, unpin, prune or restore did, in plain words (Markdown of numbers and
    ids only)."""
    node = f"#{event.node}"
    if event.action == "pin":
        return (f"**Pinned** {node} at **{event.value:.3f}** by hand: from now on selection "
                f"scores {node} with this value as its Q (the exploitation term). Its visits "
                "N and value sum W go on counting at every backup.")
    if event.action == "unpin":
        return (f"**Unpinned** {node}: selection uses its own Q = W / N again.")
    below = sum(1 for n in tree.nodes if n.id != event.node
                and event.node in tree.path_to(n.id))
    if event.action == "prune":
        return (f"**Pruned** {node} by hand, and the {below} node(s) below it: selection "
                f"never enters this subtree (it is listed as excluded, “{PRUNED}”), until "
                "it is restored.")
    return (f"**Restored** {node} and the {below} node(s) below it: selection may enter "
            "them again.")
