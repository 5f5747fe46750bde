"""``app.runs.diff.tree_diff`` on hand-built trees (``Tree.new`` + ``apply`` of events):
nodes are matched by their path of texts from the root, never by id."""

from __future__ import annotations

import pytest

from app.runs.diff import DiffRow, NodeStats, side_counts, tree_diff
from engine.core.events import (
    Backpropagated,
    ChildSpec,
    Expanded,
    Rollout,
    Selected,
    Simulated,
    TokenCounts,
)
from engine.core.phases import backup_path
from engine.core.tree import Tree, apply

PROBLEM = "4 5 6 10"


def grow(tree: Tree, parent: int, *texts: str) -> list[int]:
    """Add steps ``texts`` under ``parent`` (an expansion outside the cycle); their ids."""
    first = len(tree.nodes)
    children = tuple(ChildSpec(first + i, "step", text, (), -1.0, 1, (), False, None, None)
                     for i, text in enumerate(texts))
    apply(tree, Expanded(tree.iterations_done, parent, children, "by hand", origin="user"))
    return [c.id for c in children]


def visit(tree: Tree, path: tuple[int, ...], value: float) -> None:
    """One iteration that walks ``path``, expands nothing and backs up ``value``."""
    it = tree.iterations_done
    apply(tree, Selected(it, path, ()))
    apply(tree, Expanded(it, path[-1], (), "nothing new"))
    apply(tree, Simulated(it, path[-1], Rollout("", (), (), value, None, None, "test")))
    apply(tree, Backpropagated(it, backup_path(tree.pending), value, TokenCounts()))


def by_path(rows: list[DiffRow]) -> dict[tuple[str, ...], DiffRow]:
    return {r.path: r for r in rows}


def test_nodes_match_by_their_texts_from_the_root_not_by_id() -> None:
    a = Tree.new(PROBLEM)
    a_x, a_y = grow(a, 0, "Step: x", "Step: y")
    (a_xz,) = grow(a, a_x, "Step: z")
    visit(a, (0, a_x, a_xz), 1.0)
    visit(a, (0, a_y), 0.0)
    b = Tree.new(PROBLEM)
    b_y, b_w = grow(b, 0, "Step: y", "Step: w")  # y is #1 here, #2 in A
    (b_yz,) = grow(b, b_y, "Step: z")  # the same text as A's #3, under another parent
    visit(b, (0, b_y, b_yz), 0.5)
    visit(b, (0, b_y), 1.0)

    rows = tree_diff(a, b)
    assert [(r.side, r.path[1:]) for r in rows] == [
        ("shared", ()),
        ("only A", ("Step: x",)),
        ("only A", ("Step: x", "Step: z")),
        ("shared", ("Step: y",)),
        ("only B", ("Step: y", "Step: z")),
        ("only B", ("Step: w",)),
    ]
    shared = by_path(rows)[(PROBLEM, "Step: y")]
    assert shared.a == NodeStats(a_y, 1, 0.0)
    assert shared.b == NodeStats(b_y, 2, 0.75)  # (0.5 + 1.0) / 2, Q as the tree has it
    root = by_path(rows)[(PROBLEM,)]
    assert (root.a, root.b) == (NodeStats(0, 2, 0.5), NodeStats(0, 2, 0.75))
    only_a = by_path(rows)[(PROBLEM, "Step: x", "Step: z")]
    assert only_a.b is None and only_a.a == NodeStats(a_xz, 1, 1.0) and only_a.depth == 2
    assert only_a.text == "Step: z" and only_a.kind == "step"
    assert by_path(rows)[(PROBLEM, "Step: w")].a is None
    assert side_counts(rows) == {"shared": 2, "only A": 2, "only B": 2}


def test_a_tree_and_its_copy_share_every_node() -> None:
    a = Tree.new(PROBLEM)
    grow(a, 0, "Step: x", "Step: y")
    visit(a, (0, 1), 0.25)
    rows = tree_diff(a, a.copy())
    assert side_counts(rows) == {"shared": 3, "only A": 0, "only B": 0}
    assert all(r.a == r.b for r in rows)


def test_siblings_with_the_same_text_match_in_order() -> None:
    a = Tree.new(PROBLEM)
    grow(a, 0, "Step: x", "Step: x")
    b = Tree.new(PROBLEM)
    grow(b, 0, "Step: v", "Step: x")
    rows = tree_diff(a, b)
    assert [(r.side, r.text, r.a and r.a.id, r.b and r.b.id) for r in rows] == [
        ("shared", PROBLEM, 0, 0),
        ("shared", "Step: x", 1, 2),
        ("only A", "Step: x", 2, None),
        ("only B", "Step: v", None, 1),
    ]


@pytest.mark.parametrize("swap", [False, True])
def test_different_problems_share_nothing(swap: bool) -> None:
    a, b = Tree.new(PROBLEM), Tree.new("1 2 3 4")
    grow(a, 0, "Step: x")
    if swap:
        a, b = b, a
    rows = tree_diff(a, b)
    assert side_counts(rows) == {"shared": 0, "only A": len(a.nodes), "only B": len(b.nodes)}
    assert rows[0].path == (a.problem,) and rows[0].side == "only A"
