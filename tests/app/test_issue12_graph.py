"""Issue 12, items 7, 10, 14 and 15: Q undefined at N = 0, ids and short text in labels,
readable wide trees, where a reflection came from, and a legend for every mark."""

from __future__ import annotations

import re

from app.web.graph import (
    MIN_LABEL_SCALE,
    REFLECTION_COLOUR,
    Highlight,
    graph_html,
    highlight_for,
    legend_marks,
    node_tooltip,
    render_page,
    tidy_layout,
    tree_digraph,
    vis_data,
)
from app.web.learn_examples import PROBLEM, example_events
from engine.core.events import ChildSpec, Expanded
from engine.core.selection import tree_scores
from engine.core.tree import Node, Tree, apply, fold
from engine.tasks.reflection import REFLECTION_LINE


def example_tree() -> Tree:
    return fold(PROBLEM, example_events())


def test_an_unvisited_node_has_no_q() -> None:
    tree = example_tree()
    assert tree.nodes[5].visits == 0
    graph = tree_digraph(tree, tree_scores(tree, "uct", 1.0), Highlight(), rule="uct")
    assert "Q=—" in graph.nodes[5]["label"] and "Q=0.00" not in graph.nodes[5]["label"]
    assert "Q = —" in graph.nodes[5]["title"] and "Q = 0.000" not in graph.nodes[5]["title"]
    assert "Q=0.31" in graph.nodes[1]["label"] or "Q=" in graph.nodes[1]["label"]
    # A first visit: Q changes from undefined.
    events = example_events()
    tree = fold(PROBLEM, events[:16])
    graph = tree_digraph(tree, {}, highlight_for(tree, events[15]), rule="uct")
    assert graph.nodes[4]["label"].endswith(f"N 0→1\nQ —→{tree.nodes[4].q:.2f}")


def test_labels_carry_the_node_id_in_every_mode() -> None:
    tree = example_tree()
    scores = tree_scores(tree, "uct", 1.0)
    for label_by in ("nq", "score", "text"):
        graph = tree_digraph(tree, scores, Highlight(), rule="uct", label_by=label_by)
        for node in tree.nodes:
            assert graph.nodes[node.id]["label"].startswith(f"#{node.id} "), \
                (label_by, graph.nodes[node.id]["label"])


def test_short_text_labels_show_the_step() -> None:
    tree = example_tree()
    graph = tree_digraph(tree, {}, Highlight(), rule="uct", label_by="text")
    assert "10-4=6" in graph.nodes[1]["label"]
    assert "4 5 6 10" in graph.nodes[0]["label"]
    assert all(len(line) <= 24 for n in graph.nodes for line in
               graph.nodes[n]["label"].splitlines())


def test_spacing_grows_with_the_label_width() -> None:
    tree = example_tree()
    numbers = tree_digraph(tree, {}, Highlight(), rule="uct", label_by="nq")
    text = tree_digraph(tree, {}, Highlight(), rule="uct", label_by="text")

    def leaf_gap(graph: object) -> float:
        xs = sorted({graph.nodes[n]["x"] for n in graph.nodes  # type: ignore[attr-defined]
                     if not tree.nodes[n].children})
        return min(b - a for a, b in zip(xs, xs[1:], strict=False))

    assert leaf_gap(text) > leaf_gap(numbers)
    assert leaf_gap(text) >= 7 * max(len(line) for n in text.nodes
                                     for line in text.nodes[n]["label"].splitlines())
    positions = tidy_layout(tree, gap=200.0)
    assert sorted({x for x, _ in positions.values()})[1] > 0


def test_a_wide_tree_keeps_its_labels_readable() -> None:
    tree = Tree.new(PROBLEM)
    for i in range(1, 63):
        tree.nodes.append(Node(i, 0, 1, "step", f"Step: {i}"))
        tree.root.children.append(i)
    data = vis_data(tree_digraph(tree, {}, Highlight(), rule="uct"))
    assert data["view"]["min_scale"] == MIN_LABEL_SCALE >= 0.7
    # Nothing highlighted: the view is around the root; else around the path to the phase's
    # node (the page fits the path when it can).
    assert (data["view"]["focus"], data["view"]["path"]) == (0, [0])
    rolled = vis_data(tree_digraph(tree, {}, Highlight(rolled_out=40), rule="uct"))
    assert (rolled["view"]["focus"], rolled["view"]["path"]) == (40, [0, 40])
    page = graph_html(tree, {}, Highlight())
    assert "min_scale" in page and "moveTo" in page


def reflections() -> Tree:
    """Three reflections: one the model wrote, one the search inserted, one by hand."""
    tree = fold(PROBLEM, example_events())  # #6: the reflection added by hand under #1
    model = ChildSpec(7, "reflection", REFLECTION_LINE, (), -2.0, 1, (), False, None, None,
                      ended="stop")
    inserted = ChildSpec(8, "reflection", REFLECTION_LINE, (), -0.1, 1, (), False, None, None)
    apply(tree, Expanded(tree.iterations_done, 2, (model,), "x", "user"))
    apply(tree, Expanded(tree.iterations_done, 3, (inserted,), "x", "beam"))
    return tree


def test_a_reflection_says_where_it_came_from() -> None:
    tree = reflections()
    assert tree.nodes[6].origin == "reflection_by_hand"
    graph = tree_digraph(tree, {}, Highlight(), rule="uct")
    by_hand, model, inserted = graph.nodes[6], graph.nodes[7], graph.nodes[8]
    assert by_hand["shape"] == inserted["shape"] == "diamond"
    assert model["shape"] != "diamond"
    assert model["color"]["border"] != REFLECTION_COLOUR
    assert "added by hand" in by_hand["title"]
    assert "the model wrote this reflection itself" in model["title"]
    assert "inserted by the search" in inserted["title"]
    assert not graph.edges[2, 7].get("dashes")
    assert graph.edges[1, 6]["dashes"]


def test_the_legend_names_every_mark() -> None:
    labels = [label for _, label in legend_marks()]
    for needed in ("root", "answer", "wrong answer", "correct answer",
                   "reflection inserted", "reflected by itself", "step"):
        assert any(needed in label for label in labels), (needed, labels)
    page = render_page(None, mode="component", height=300, options={})
    for label in labels:
        assert label in page
    assert "red ring" in " ".join(labels) and "star" in " ".join(labels)
    assert "square" in " ".join(labels) and "diamond" in " ".join(labels)


def test_a_tooltip_at_zero_visits_has_no_q_or_average() -> None:
    node = Node(3, 0, 1, "step", "Step: 1+1=2")
    text = node_tooltip(node, None, "uct")
    assert "Q = —" in text and not re.search(r"Q = 0\.0", text)
