"""Two runs' trees side by side: which nodes only A has, which only B, which both.

Node ids say nothing across runs (each run numbers its nodes in the order it made them), so
nodes are matched by their **path of texts from the root**: a node of A and a node of B are
the same node when the texts of the nodes from the root down to them are equal, the roots'
(the problems) included. Siblings with the same text (possible where expansion does not
merge them, e.g. MCTSr rewrites) are matched in the order their parent lists them: the
first such child of A with the first of B, and so on.

Pure: two ``engine.core.tree.Tree``s in, rows out; N and Q are the nodes' own (``visits``
and ``q`` as the events left them), never recomputed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from engine.core.tree import ROOT_ID, Node, Tree

Side = Literal["shared", "only A", "only B"]
SIDES: tuple[Side, ...] = ("shared", "only A", "only B")


@dataclass(frozen=True)
class NodeStats:
    """One run's node: its id in that run, its visits N and its Q."""

    id: int
    visits: int
    q: float


@dataclass(frozen=True)
class DiffRow:
    """One node of the union of both trees."""

    side: Side
    path: tuple[str, ...]
    """The node texts from the root (the problem) down to this node."""
    kind: str
    a: NodeStats | None
    """The node in run A (None: only B has it)."""
    b: NodeStats | None
    """The node in run B (None: only A has it)."""

    @property
    def depth(self) -> int:
        return len(self.path) - 1

    @property
    def text(self) -> str:
        return self.path[-1]


def _stats(node: Node | None) -> NodeStats | None:
    return None if node is None else NodeStats(node.id, node.visits, node.q)


def _keyed_children(tree: Tree | None, node: Node | None) -> dict[tuple[str, int], Node]:
    """A node's children keyed by (text, how many earlier siblings have that text)."""
    if tree is None or node is None:
        return {}
    keyed: dict[tuple[str, int], Node] = {}
    seen: dict[str, int] = {}
    for child_id in node.children:
        child = tree.nodes[child_id]
        occurrence = seen.get(child.text, 0)
        seen[child.text] = occurrence + 1
        keyed[(child.text, occurrence)] = child
    return keyed


def tree_diff(a: Tree, b: Tree) -> list[DiffRow]:
    """Every node of A or B once, depth first: a node, then its children as A lists them,
    then B's children that A lacks. Two different problems share no node."""
    rows: list[DiffRow] = []

    def walk(node_a: Node | None, node_b: Node | None,
             path: tuple[str, ...]) -> Iterator[DiffRow]:
        node = node_a if node_a is not None else node_b
        assert node is not None
        side: Side = "shared" if node_a is not None and node_b is not None else \
            ("only A" if node_a is not None else "only B")
        yield DiffRow(side, path, node.kind, _stats(node_a), _stats(node_b))
        children_a = _keyed_children(a, node_a)
        children_b = _keyed_children(b, node_b)
        for key, child in children_a.items():
            yield from walk(child, children_b.get(key), (*path, child.text))
        for key, child in children_b.items():
            if key not in children_a:
                yield from walk(None, child, (*path, child.text))

    if a.root.text == b.root.text:
        rows.extend(walk(a.nodes[ROOT_ID], b.nodes[ROOT_ID], (a.root.text,)))
    else:
        rows.extend(walk(a.nodes[ROOT_ID], None, (a.root.text,)))
        rows.extend(walk(None, b.nodes[ROOT_ID], (b.root.text,)))
    return rows


def side_counts(rows: list[DiffRow]) -> dict[Side, int]:
    """How many rows are shared, only in A and only in B."""
    return {side: sum(1 for r in rows if r.side == side) for side in SIDES}
