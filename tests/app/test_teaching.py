"""The teaching panel's words: ties said with the rule's numbers, the rule named."""

from __future__ import annotations

from app.web.learn_examples import PROBLEM, example_events
from app.web.teaching import explain, literal
from engine.core.config import make_config
from engine.core.events import Selected
from engine.core.phases import Growth, select_path
from engine.core.selection import tied_with_chosen
from engine.core.tree import Node, Tree, fold


def three_equal_children() -> Tree:
    """A root whose three children were each visited once with the same value, so UCT
    scores them alike; they differ in how often they were sampled and how likely they are."""
    tree = Tree.new(PROBLEM)
    for node_id, count, prior in [(1, 2, -0.40), (2, 1, -0.30), (3, 1, -1.00)]:
        tree.nodes.append(Node(id=node_id, parent=0, depth=1, kind="step", text=f"step {node_id}",
                               prior=prior, count=count, visits=1, value_sum=0.5))
        tree.nodes[0].children.append(node_id)
    tree.nodes[0].visits, tree.nodes[0].value_sum = 3, 1.5
    return tree


def test_a_tie_names_every_tied_child_and_how_the_engine_broke_it() -> None:
    tree = three_equal_children()
    event = select_path(tree, "uct", 1.0)
    (level,) = event.levels
    assert level.chosen == 1 and tied_with_chosen(level) == [2, 3]
    total = level.scores[0].total
    text = explain(tree, event, make_config(selection="uct"))
    lines = text.splitlines()
    assert sum("**chosen**" in line for line in lines) == 1
    assert next(line for line in lines if line.startswith("- #1:")).endswith(
        "← **chosen** (first of a tie)")
    assert next(line for line in lines if line.startswith("- #2:")).endswith("← tied")
    assert next(line for line in lines if line.startswith("- #3:")).endswith("← tied")
    assert (f"**Tie:** 3 children score exactly {total:.3f}. A tie goes to the child listed "
            "first among #0's children") in text
    assert ("#1 (sampled 2×, log p = -0.40), #2 (sampled 1×, log p = -0.30), #3 (sampled 1×, "
            "log p = -1.00). So #1 is chosen.") in text
    assert "UCT score = Q + c·√(ln N_parent / N)" in text


def test_unvisited_children_tie_at_infinity_and_the_first_listed_wins() -> None:
    events = example_events()
    # Iteration 1's selection: #1 was visited; #2 and #3 were not, so both score ∞.
    tree = fold(PROBLEM, events[:5])
    event = events[4]
    assert isinstance(event, Selected)
    assert tied_with_chosen(event.levels[0]) == [3]
    text = explain(tree, event, make_config(selection="uct"))
    assert "**Tie:** 2 children score exactly ∞." in text
    assert "#2 (sampled 1×, log p = -1.20), #3 (sampled 1×, log p = -2.00). So #2 is chosen." \
        in text


def test_no_tie_no_tie_note_and_puct_is_named_puct() -> None:
    tree = three_equal_children()
    event = select_path(tree, "puct", 1.0)
    (level,) = event.levels
    assert tied_with_chosen(level) == []
    text = explain(tree, event, make_config(selection="puct"))
    assert "Tie" not in text and "tied" not in text
    assert "PUCT score = Q + c·P·√N_parent / (1 + N)" in text
    assert "UCT score" not in text.replace("PUCT score", "")


def test_a_selection_stopped_by_widening_does_not_claim_the_node_has_no_children() -> None:
    tree = three_equal_children()
    # Three live children at N = 3: widening 2 asks for ceil(2·√3) = 4, so selection stops.
    event = select_path(tree, "uct", 1.0, growth=Growth(max_depth=12, max_children=12,
                                                        widening=2.0))
    assert event.path == (0,) and not event.levels
    text = explain(tree, event, make_config(widening=2.0))
    assert "no children yet" not in text
    assert ("stops there: it has no child that selection may enter yet, or progressive "
            "widening (widening = 2) wants it to get another child first") in text
    assert "widening" not in explain(tree, event, make_config(widening=0.0))


def test_a_stored_reason_is_quoted_as_text_never_as_markdown() -> None:
    assert literal("5+6 is 11") == "` 5+6 is 11 `"
    image = "![x](http://example.invalid/x.png) <b>`tick`</b>\nnext"
    quoted = literal(image)
    # A fence longer than any backtick run inside, on one line: the whole text is one code span.
    assert quoted == "`` ![x](http://example.invalid/x.png) <b>`tick`</b> next ``"
    tree = three_equal_children()
    event = select_path(tree, "uct", 1.0, {2: image})
    text = explain(tree, event, make_config(selection="uct", widening=0.0))
    assert "- #2: " in text and f"excluded: {quoted}" in text
    assert text.count("![x]") == 1
