"""Values of states before any success: step checks, dead branches, evaluators and leaf
values (issue "A search that sees before it succeeds")."""

from __future__ import annotations

import math
from fractions import Fraction as F

import pytest

from engine.core.config import make_config
from engine.core.events import Simulated
from engine.core.phases import closed_nodes
from engine.core.selection import uct
from engine.core.tree import Node, Tree
from engine.strategies.search import Search
from engine.strategies.values import mix
from engine.tasks import FreeformTask, Game24Task
from engine.tasks.reflection import REFLECTION_LINE


def test_game24_state_follows_legal_steps_and_restarts_after_a_reflection() -> None:
    task = Game24Task("10 4 6 5")
    assert task.numbers_left("") == (F(4), F(5), F(6), F(10))
    after = "Step: 10-4=6 (left: 5 6 6)\n"
    assert task.numbers_left(after) == (F(5), F(6), F(6))
    assert task.numbers_left(after + REFLECTION_LINE + "\n") == (F(4), F(5), F(6), F(10))
    assert task.numbers_left("Step: 10-4=7 (left: 5 6 7)\n") is None
    assert task.value_prompt(after) == "Evaluate: 5 6 6 ->"


@pytest.mark.parametrize(("step", "reason"), [
    ("Step: 6*6=36 (left: 5 36)", None),
    ("Step: 6*6=35 (left: 5 35)", "arithmetic: the result is 36"),
    ("Step: 4*6=24 (left: 5 6 24)", "4 is not among the numbers left"),
    ("Answer: (10-4)*6-5=24", None),  # answers are for the verifier
    (REFLECTION_LINE, None),
    ("hello", "not a step of the form 'Step: a+b=c (left: ...)'"),
])
def test_game24_step_check(step: str, reason: str | None) -> None:
    task = Game24Task("4 5 6 10")
    assert task.step_check("Step: 10-4=6 (left: 5 6 6)\n", step) == reason


def test_freeform_has_no_step_rule_but_can_ask_for_a_verdict() -> None:
    task = FreeformTask("What is 2+2?")
    assert not task.has_step_check and task.step_check("", "2+2=5") is None
    prompt = task.value_prompt("First, 2+2=4.\n")
    assert prompt is not None and prompt.endswith("Verdict:")


def test_a_node_whose_children_are_all_dead_is_dead_itself() -> None:
    tree = Tree.new("4 5 6 10")
    tree.nodes.append(Node(1, 0, 1, "step", "Step: 10-4=6 (left: 5 6 6)", visits=1))
    tree.nodes.append(Node(2, 1, 2, "step", "Step: 6*6=35 (left: 5 35)", dead="arithmetic"))
    tree.nodes.append(Node(3, 1, 2, "step", "Step: 9*6=54 (left: 5 54)", dead="9 is not"))
    tree.nodes.append(Node(4, 0, 1, "step", "Step: 4+5=9 (left: 6 9 10)"))
    tree.root.children, tree.nodes[1].children = [1, 4], [2, 3]
    closed = closed_nodes(tree, max_depth=12, reflection=False, max_children=2)
    assert closed == {3: "dead: 9 is not", 2: "dead: arithmetic",
                      1: "dead: every next step from it was rejected"}
    # With room for more children, #1 stays open: expansion samples again.
    assert 1 not in closed_nodes(tree, max_depth=12, reflection=False, max_children=3)


def test_an_unvisited_child_with_a_value_is_scored_as_one_visit_of_that_value() -> None:
    assert uct(0.0, 0, 5, 1.0) == (0.0, math.inf)
    assert uct(0.0, 0, 5, 1.0, value=0.7) == (0.7, pytest.approx(math.sqrt(math.log(5))))


def test_mixed_leaf_value() -> None:
    assert mix(1.0, 0.2, 0.5) == pytest.approx(0.6)
    assert mix(None, 0.2, 0.5) == 0.2 and mix(0.3, None, 0.5) == 0.3


def test_dead_children_are_kept_visible_and_never_selected(demo_model) -> None:  # type: ignore[no-untyped-def]
    config = make_config(seed=0, evaluator="step-check", children=4)
    search = Search(demo_model, config, "4 5 6 10")
    search.run(15)
    dead = [n for n in search.tree.nodes if n.dead]
    assert dead, "the demo model's samples include rejected steps at k=4"
    assert all(n.visits == 0 and not n.children and n.value == 0.0 for n in dead)
    for node in search.tree.nodes:
        if node.kind == "step" and not node.dead:
            assert node.value == 1.0  # step-check: legal
    for event in search.events:
        if isinstance(event, Simulated):
            assert not search.tree.nodes[event.node].dead


def test_a_rollout_stops_at_its_first_rejected_step(demo_model) -> None:  # type: ignore[no-untyped-def]
    config = make_config(seed=0, evaluator="outcome", max_depth=0, temperature=1.5)
    search = Search(demo_model, config, "1 2 4 7")
    search.run(30)
    stopped = [e.rollout for e in search.events if isinstance(e, Simulated)
               and e.rollout.stopped is not None]
    assert stopped, "at T=1.5 some rollouts take an illegal step"
    task = Game24Task("1 2 4 7")
    for rollout in stopped:
        lines = rollout.text.rstrip("\n").split("\n")
        assert task.step_check("\n".join(lines[:-1]) + "\n" if lines[:-1] else "",
                               lines[-1]) == rollout.stopped
        assert rollout.verdict is False and rollout.value == 0.0


def test_value_leaves_need_no_rollout(demo_model) -> None:  # type: ignore[no-untyped-def]
    config = make_config(seed=0, evaluator="step-check", leaf_value="value")
    search = Search(demo_model, config, "4 5 6 10")
    search.run(6)
    for event in search.events:
        if isinstance(event, Simulated) and not search.tree.nodes[event.node].terminal \
                and event.rollout.stopped is None:  # (a node whose steps all died is 0)
            assert event.rollout.text == "" and event.rollout.state_value is not None


def test_progressive_widening_stops_selection_at_a_node_short_of_live_children() -> None:
    from engine.core.phases import Growth, select_path, wants_growth

    tree = Tree.new("4 5 6 10")
    tree.root.visits = 4
    tree.nodes.append(Node(1, 0, 1, "step", "Step: 10-4=6 (left: 5 6 6)", visits=3,
                           value_sum=0.3))
    tree.nodes.append(Node(2, 0, 1, "step", "Step: 6*6=35 (left: 5 35)", dead="arithmetic"))
    tree.root.children = [1, 2]
    growth = Growth(max_depth=12, max_children=12, widening=1.0)
    # N = 4 visits want ceil(1.0 * sqrt(4)) = 2 live children; the root has 1.
    assert wants_growth(tree.root, 1, growth)
    assert select_path(tree, "uct", 1.0, {2: "dead: arithmetic"}, growth).path == (0,)
    # Widening off, or no room for more children: selection descends to #1.
    off = Growth(max_depth=12, max_children=12, widening=0.0)
    full = Growth(max_depth=12, max_children=2, widening=1.0)
    assert select_path(tree, "uct", 1.0, {2: "dead: arithmetic"}, off).path == (0, 1)
    assert select_path(tree, "uct", 1.0, {2: "dead: arithmetic"}, full).path == (0, 1)


def test_search_and_app_select_with_one_function_of_the_settings(demo_model) -> None:  # type: ignore[no-untyped-def]
    from engine.core.phases import closed_for, next_selection

    search = Search(demo_model, make_config(seed=1), "4 5 6 10")
    search.run(6)
    assert search.closed() == closed_for(search.tree, search.config)
    assert search.select() == next_selection(search.tree, search.config)
