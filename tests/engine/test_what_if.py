"""The "what if" projection (issue 15): the next selection under another c or rule, on a
hand-built tree, by the engine's own selection; nothing changes and no event is made."""

from __future__ import annotations

import copy

import pytest

from engine.core.config import SearchConfig, make_config
from engine.core.phases import next_selection, what_if_path
from engine.core.tree import Node, Tree


def _node(node_id: int, parent: int, depth: int, visits: int, q: float) -> Node:
    return Node(id=node_id, parent=parent, depth=depth, kind="step", text=f"step {node_id}",
                visits=visits, value_sum=q * visits)


def hand_built_tree() -> Tree:
    """Root (N = 16) with #1 (N 10, Q 0.8: the best Q, the most visited), #2 (N 5, Q 0.5)
    and #3 (N 1, Q 0.2: the least visited); under #1, #4 (N 6, Q 0.3) and #5 (N 3, Q 0.9).
    Equal priors, so PUCT's exploration term differs only by visits."""
    tree = Tree.new("1 2 3 4")
    tree.root.visits, tree.root.value_sum = 16, 16 * 0.67
    tree.nodes += [_node(1, 0, 1, 10, 0.8), _node(2, 0, 1, 5, 0.5), _node(3, 0, 1, 1, 0.2),
                   _node(4, 1, 2, 6, 0.3), _node(5, 1, 2, 3, 0.9)]
    tree.root.children = [1, 2, 3]
    tree.nodes[1].children = [4, 5]
    tree.iterations_done = 16
    return tree


CONFIG = make_config(selection="uct", exploration=1.4, widening=0.0)


@pytest.mark.parametrize("rule", ["uct", "puct"])
def test_c_zero_follows_the_highest_q(rule: str) -> None:
    assert what_if_path(hand_built_tree(), CONFIG, 0.0, rule) == (0, 1, 5)


@pytest.mark.parametrize("rule", ["uct", "puct"])
def test_a_huge_c_goes_to_the_least_visited(rule: str) -> None:
    assert what_if_path(hand_built_tree(), CONFIG, 1e6, rule) == (0, 3)


def test_it_is_next_selection_of_the_copied_config() -> None:
    tree = hand_built_tree()
    for c, rule in ((0.0, "puct"), (0.7, "uct"), (3.0, "puct"), (1e6, "uct")):
        changed = CONFIG.model_copy(update={"exploration": c, "selection": rule})
        assert what_if_path(tree, CONFIG, c, rule) == next_selection(tree, changed).path
    # No rule: the run's own.
    assert what_if_path(tree, CONFIG, 1.4) == next_selection(tree, CONFIG).path


def test_the_tree_and_the_config_are_unchanged() -> None:
    tree = hand_built_tree()
    before = copy.deepcopy(tree)
    config = SearchConfig(**CONFIG.model_dump())
    what_if_path(tree, config, 0.0, "puct")
    what_if_path(tree, config, 1e6, "uct")
    assert tree == before and tree.events_applied == 0 and tree.next_phase == "select"
    assert config == CONFIG


def test_nothing_to_select_gives_the_reason() -> None:
    tree = Tree.new("1 2 3 4")
    tree.nodes.append(Node(id=1, parent=0, depth=1, kind="step", text="x", dead="rejected"))
    tree.root.children = [1]
    config = make_config(widening=0.0, max_children=1)
    reason = what_if_path(tree, config, 0.0, "puct")
    assert isinstance(reason, str) and "nothing left to search" in reason


def test_under_mctsr_the_rule_does_not_apply() -> None:
    tree = hand_built_tree()
    config = make_config(algorithm="mctsr")
    assert what_if_path(tree, config, 0.5, "puct") == what_if_path(tree, config, 0.5)
