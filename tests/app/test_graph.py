"""The pure graph pipeline: layout, highlights, drawing options, escaping, the page."""

from __future__ import annotations

import json
import math
import re

from app.bench.graph_cost import bench_graph, synthetic_tree
from app.web.graph import (
    CORRECT_COLOUR,
    HIGHLIGHT_COLOUR,
    NEW_CHILD_COLOUR,
    REFLECTION_COLOUR,
    ROLLOUT_COLOUR,
    UNVISITED_COLOUR,
    X_GAP,
    Y_GAP,
    Highlight,
    graph_html,
    highlight_for,
    q_colour,
    tidy_layout,
    tree_digraph,
    vis_data,
)
from app.web.learn_examples import example_events
from engine.core.selection import tree_scores
from engine.core.tree import Node, Tree, fold

XSS = "<img src=x onerror=alert(1)> <script>alert(2)</script>"


def small_tree() -> Tree:
    """root -> (1 -> (3, 4), 2)"""
    tree = Tree.new("4 5 6 10")
    for node_id, parent in [(1, 0), (2, 0), (3, 1), (4, 1)]:
        depth = tree.nodes[parent].depth + 1
        tree.nodes.append(Node(id=node_id, parent=parent, depth=depth, kind="step",
                               text=f"step {node_id}"))
        tree.nodes[parent].children.append(node_id)
    return tree


def test_tidy_layout_leaves_in_order_and_parents_centred() -> None:
    positions = tidy_layout(small_tree())
    assert positions[3] == (0.0, 2 * Y_GAP)
    assert positions[4] == (X_GAP, 2 * Y_GAP)
    assert positions[2] == (2 * X_GAP, Y_GAP)
    assert positions[1] == (X_GAP / 2, Y_GAP)
    assert positions[0] == ((X_GAP / 2 + 2 * X_GAP) / 2, 0.0)


def test_tidy_layout_never_overlaps_on_a_big_tree() -> None:
    tree = synthetic_tree(3000)
    positions = tidy_layout(tree)
    assert len(set(positions.values())) == len(tree.nodes)


def test_q_colour_scale_ends_and_middle() -> None:
    assert q_colour(0.0) == "#d73027"
    assert q_colour(0.5) == "#fee08b"
    assert q_colour(1.0) == "#1a9850"
    assert q_colour(7.0) == q_colour(1.0) and q_colour(-1.0) == q_colour(0.0)


def test_each_phase_is_highlighted_from_its_event() -> None:
    events = example_events()
    # Iteration 3 is events 12..15: select, expand (children 4, 5), simulate #4, backprop.
    tree = fold("4 5 6 10", events[:13])
    select = highlight_for(tree, events[12])
    assert select.phase == "select" and select.path == (0, 2)
    tree = fold("4 5 6 10", events[:14])
    expand = highlight_for(tree, events[13])
    assert expand.new_children == (4, 5)
    tree = fold("4 5 6 10", events[:15])
    assert highlight_for(tree, events[14]).rolled_out == 4
    tree = fold("4 5 6 10", events[:16])
    backprop = highlight_for(tree, events[15])
    assert set(backprop.changed) == {0, 2, 4}
    change = backprop.changed[2]
    assert (change.visits_before, change.visits_after) == (1, 2)
    # The example's rollout values are computed (reward = confidence): #2's second visit
    # adds the last rollout's value to its first.
    first, last = events[6].rollout.value, events[14].rollout.value  # type: ignore[union-attr]
    assert change.q_before is not None
    assert math.isclose(change.q_before, first, abs_tol=1e-12)  # (W - v) / N, in floats
    assert math.isclose(change.q_after, (first + last) / 2, abs_tol=1e-12)


def test_drawing_options_follow_visits_q_kind_and_highlight() -> None:
    events = example_events()
    tree = fold("4 5 6 10", events)
    scores = tree_scores(tree, "uct", 1.0)
    highlight = highlight_for(fold("4 5 6 10", events[:16]), events[15])
    graph = tree_digraph(tree, scores, highlight, rule="uct")
    assert graph.nodes[2]["size"] > graph.nodes[3]["size"]  # more visits, bigger
    assert graph.nodes[2]["color"]["border"] == HIGHLIGHT_COLOUR
    assert graph.nodes[5]["color"]["background"] == UNVISITED_COLOUR
    assert graph.nodes[4]["color"]["border"] == HIGHLIGHT_COLOUR
    last = events[14].rollout.value  # type: ignore[union-attr]
    assert graph.nodes[4]["label"].endswith(f"N 0→1\nQ —→{last:.2f}")  # no Q before a visit
    assert graph.edges[0, 2]["color"] == HIGHLIGHT_COLOUR
    # The reflection added by hand: its own shape, colour and a dashed edge.
    assert graph.nodes[6]["shape"] == "diamond"
    assert graph.nodes[6]["color"]["border"] == REFLECTION_COLOUR
    assert graph.edges[1, 6]["dashes"] and graph.edges[1, 6]["color"] == REFLECTION_COLOUR
    assert graph.edges[0, 1].get("dashes") is None
    # Tooltip: the engine's breakdown, exploitation + exploration = score.
    s = scores[3]
    assert (f"score = {s.exploitation:.3f} (exploitation) + {s.exploration:.3f} "
            f"(exploration) = {s.total:.3f}") in graph.nodes[3]["title"]


def test_new_children_rollout_and_correct_answer_styles() -> None:
    events = example_events()
    tree = fold("4 5 6 10", events[:14])
    graph = tree_digraph(tree, {}, highlight_for(tree, events[13]), rule="uct")
    assert graph.nodes[4]["color"]["border"] == NEW_CHILD_COLOUR
    assert graph.nodes[4]["shapeProperties"]["borderDashes"]
    tree = fold("4 5 6 10", events[:15])
    graph = tree_digraph(tree, {}, highlight_for(tree, events[14]), rule="uct")
    assert graph.nodes[4]["color"]["border"] == ROLLOUT_COLOUR
    assert graph.nodes[4]["label"].endswith("(rolled out)")
    tree.nodes[5].verdict, tree.nodes[5].terminal = True, True
    graph = tree_digraph(tree, {}, Highlight(), rule="uct")
    assert graph.nodes[5]["color"]["border"] == CORRECT_COLOUR


def test_label_by_score_shows_the_engine_score_named_by_its_rule() -> None:
    tree = fold("4 5 6 10", example_events())
    scores = tree_scores(tree, "uct", 1.0)
    graph = tree_digraph(tree, scores, Highlight(), label_by="score", rule="uct")
    assert graph.nodes[1]["label"] == f"#1 UCT {scores[1].total:.3f}"
    assert graph.nodes[5]["label"] == "#5 UCT ∞"
    assert graph.nodes[0]["label"] == "#0 root"
    # A PUCT run's scores are labelled PUCT (bug 10: they were called UCT).
    puct = tree_scores(tree, "puct", 1.0)
    graph = tree_digraph(tree, puct, Highlight(), label_by="score", rule="puct")
    assert graph.nodes[1]["label"] == f"#1 PUCT {puct[1].total:.3f}"
    assert graph.nodes[5]["label"] == f"#5 PUCT {puct[5].total:.3f}"
    assert not any("UCT" in graph.nodes[n]["label"].replace("PUCT", "") for n in graph.nodes)
    assert graph.nodes[1]["title"].splitlines()[-1].startswith("PUCT score = ")


def test_a_closed_node_says_why_selection_may_not_take_it() -> None:
    tree = fold("4 5 6 10", example_events())
    scores = tree_scores(tree, "uct", 1.0, {3: "a final answer, already evaluated"})
    graph = tree_digraph(tree, scores, Highlight(), rule="uct")
    assert graph.nodes[3]["title"].endswith("not selectable: a final answer, already evaluated")
    assert "not selectable" not in graph.nodes[2]["title"]


def test_vis_data_carries_roles_for_the_page() -> None:
    events = example_events()
    tree = fold("4 5 6 10", events[:16])
    data = vis_data(tree_digraph(tree, {}, highlight_for(tree, events[15]), rule="uct"))
    assert len(data["nodes"]) == 6 and len(data["edges"]) == 5
    assert data["roles"] == {"phase": "backprop", "path": [0, 2, 4], "new_children": [],
                             "rolled_out": None, "changed": [0, 2, 4], "origin": None,
                             "iterations": 4}
    # An expansion says where it came from: the phase, or a reflection added by hand.
    tree = fold("4 5 6 10", events)
    data = vis_data(tree_digraph(tree, {}, highlight_for(tree, events[-1]), rule="uct"))
    assert data["roles"]["origin"] == "reflection_by_hand"
    tree = fold("4 5 6 10", events[:14])
    data = vis_data(tree_digraph(tree, {}, highlight_for(tree, events[13]), rule="uct"))
    assert data["roles"]["origin"] == "phase"


def test_the_page_is_inline_and_escapes_every_text() -> None:
    tree = Tree.new(XSS)
    tree.nodes.append(Node(id=1, parent=0, depth=1, kind="step", text="</script><b>x</b>"))
    tree.nodes[0].children.append(1)
    page = graph_html(tree, {}, Highlight())
    assert "<script>alert" not in page and "<img" not in page and "</script><b>" not in page
    # No resource is fetched from anywhere: no src= or href= to any URL.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "vis-network" in page and "new vis.Network" in page
    data = re.search(r'draw\((\{.*?\}), null, "standalone"\)', page, re.S)
    assert data is not None
    nodes = json.loads(data.group(1))["nodes"]
    assert nodes[0]["title"].splitlines()[1] == XSS  # the text survives, as text


def test_bench_graph_reports_milliseconds_per_size() -> None:
    result = bench_graph(sizes=(50, 200), repeats=1)
    assert set(result) == {50, 200}
    assert all(ms > 0 for ms in result.values())


def test_a_dead_step_and_a_state_value_are_shown() -> None:
    tree = fold("4 5 6 10", example_events())
    tree.nodes[5].dead = "4+4 is 8, but 8 is not left"
    tree.nodes[4].value = 0.25
    graph = tree_digraph(tree, tree_scores(tree, "uct", 1.0, {5: "dead: x"}), Highlight(),
                         rule="uct")
    assert graph.nodes[5]["label"].endswith("\n(dead)")
    assert graph.nodes[5]["title"].endswith("dead step (never selected): 4+4 is 8, but 8 is "
                                            "not left")
    assert "not selectable" not in graph.nodes[5]["title"]  # said once, as dead
    assert "state value = 0.250" in graph.nodes[4]["title"].splitlines()
    assert "(dead)" not in graph.nodes[4]["label"] and "state value" not in graph.nodes[3]["title"]
