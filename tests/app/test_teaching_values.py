"""The teaching panel explains, with the run's own numbers, how state values steer
selection before the first success (issue "A search that sees before it succeeds")."""

from __future__ import annotations

from app.web.teaching import explain_level
from engine.core.config import make_config
from engine.core.phases import closed_nodes, select_path
from engine.core.tree import Node, Tree


def _tree() -> Tree:
    tree = Tree.new("4 5 6 10")
    tree.root.visits = 2
    tree.nodes.append(Node(1, 0, 1, "step", "Step: 10-4=6 (left: 5 6 6)", visits=2,
                           value_sum=0.6, value=0.8))
    tree.nodes.append(Node(2, 0, 1, "step", "Step: 5+6=11 (left: 4 10 11)", value=0.7))
    tree.nodes.append(Node(3, 0, 1, "step", "Step: 6*6=35 (left: 5 35)", value=0.0,
                           dead="arithmetic: the result is 36"))
    tree.root.children = [1, 2, 3]
    return tree


def test_an_unvisited_childs_value_and_a_dead_siblings_reason_are_explained() -> None:
    tree = _tree()
    config = make_config(widening=0)
    selected = select_path(tree, "uct", 1.0, closed_nodes(tree, max_depth=12,
                                                          reflection=False))
    text = explain_level(tree, selected.levels[0], config)
    # UCT: #1 = 0.3 + sqrt(ln 2 / 2) = 0.889; #2 unvisited, V = 0.7: 0.7 + sqrt(ln 2) = 1.533.
    assert selected.levels[0].chosen == 2
    assert "its state value 0.700 stands in for Q" in text
    assert "excluded: ` dead: arithmetic: the result is 36 `" in text  # a code span: text
    assert "No answer has been verified yet" in text and "prefer #2" in text
