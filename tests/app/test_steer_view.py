"""How steering by hand is drawn: labels, rings, the pruned subtree's colours and the
legend, from a tree folded from events (the graph shows the engine's scores, pin included)."""

from __future__ import annotations

from synthetic_runs import closed_answer_events

from app.web.graph import Highlight, legend_marks, tree_digraph, vis_data
from app.web.steer_view import (
    PINNED_COLOUR,
    PRUNED_BACKGROUND,
    explain_steer,
)
from engine.core.config import make_config
from engine.core.events import Steered
from engine.core.phases import scores_for
from engine.core.tree import apply, fold


def test_pin_and_prune_are_drawn_and_scored_as_the_engine_scores_them() -> None:
    config = make_config()
    events = closed_answer_events(config)
    tree = fold("4 5 6 10", events)
    pin = Steered(tree.iterations_done, 2, "pin", 0.9)
    prune = Steered(tree.iterations_done, 1, "prune")
    for event in (pin, prune):
        apply(tree, event)
    scores = scores_for(tree, config)
    assert scores[2].exploitation == 0.9 and scores[2].pinned == 0.9
    assert scores[1].excluded == "pruned by hand"
    nodes = {n["id"]: n for n in vis_data(tree_digraph(tree, scores, Highlight(),
                                                       rule="uct"))["nodes"]}
    assert "pinned 0.90" in nodes[2]["label"]
    assert nodes[2]["color"]["border"] == PINNED_COLOUR
    assert "selection's Q = 0.900" in nodes[2]["title"]
    assert "(pruned)" in nodes[1]["label"]
    assert nodes[1]["color"]["background"] == PRUNED_BACKGROUND
    assert "pinned" not in nodes[3]["label"] and "(pruned)" not in nodes[3]["label"]
    labels = " ".join(label for _, label in legend_marks())
    assert "step written by hand" in labels and "pinned by hand" in labels
    assert "pruned subtree" in labels
    assert "**Pinned** #2 at **0.900**" in explain_steer(tree, pin)
    assert "**Pruned** #1 by hand, and the 0 node(s) below it" in explain_steer(tree, prune)
