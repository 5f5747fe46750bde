"""The correctness bugs a code review found (issue "Rooms inside the rooms"), one test each.

Pure rules are tested on trees built from events by hand (numbers worked out below); the
rest with the bundled demo model.
"""

from __future__ import annotations

import math

import pytest

from engine.core.config import make_config
from engine.core.event_formats import upgrade_event_dict
from engine.core.events import (
    Backpropagated,
    ChildSpec,
    Event,
    Expanded,
    Rollout,
    Simulated,
    TokenCounts,
    event_from_dict,
    event_to_dict,
)
from engine.core.phases import (
    backup_path,
    closed_nodes,
    expansion_decision,
    select_path,
    simulation_target,
)
from engine.core.selection import puct, sibling_priors
from engine.core.tree import Node, Tree, apply, best_answer
from engine.errors import InputError, SearchExhausted
from engine.strategies.search import Search


def _spec(node_id: int, text: str, *, answer: str | None = None, verdict: bool | None = None,
          ended: str | None = "stop", kind: str = "step") -> ChildSpec:
    return ChildSpec(node_id, kind, text, (1, 2), -0.5, 1, (0.9, 0.8),  # type: ignore[arg-type]
                     answer is not None, answer, verdict, ended)  # type: ignore[arg-type]


def _iteration(tree: Tree, children: tuple[ChildSpec, ...], value: float,
               answer: str | None = None, verdict: bool | None = None) -> list[Event]:
    """One iteration by the engine's own phase rules; the model's output is ``children``
    and a rollout of the given value."""
    selected = select_path(tree, "uct", 1.0, closed_nodes(tree, max_depth=12,
                                                          reflection=False))
    apply(tree, selected)
    leaf = selected.path[-1]
    expanded = Expanded(tree.iterations_done, leaf, children, "test")
    apply(tree, expanded)
    target = simulation_target(leaf, children)
    text = "" if tree.nodes[target].terminal else "Answer: x\n"
    tokens = () if tree.nodes[target].terminal else ("Answer: x",)
    simulated = Simulated(tree.iterations_done, target,
                          Rollout(text, tokens, (0.5,) * len(tokens), value, answer, verdict,
                                  "verifier"))
    apply(tree, simulated)
    backed = Backpropagated(tree.iterations_done, backup_path(tree.pending), value,
                            TokenCounts())
    apply(tree, backed)
    return [selected, expanded, simulated, backed]


# -- 1. an expansion's origin -------------------------------------------------------------

def _v1_expand(reason: str, manual: bool) -> dict[str, object]:
    child = {"id": 1, "kind": "reflection", "text": "Wait!", "token_ids": [1], "prior": -1.0,
             "count": 1, "confidences": [0.5], "terminal": False, "answer": None,
             "verdict": None}
    return {"iteration": 0, "node": 0, "children": [child], "reason": reason,
            "manual": manual, "phase": "expand"}


@pytest.mark.parametrize(("reason", "manual", "origin"), [
    ("beam search: sampled 4 next steps", True, "beam"),
    ("reflection added by hand", True, "reflection_by_hand"),
    ("sampled 4 next steps", False, "phase"),
])
def test_format_1_manual_flag_becomes_an_explicit_origin(reason: str, manual: bool,
                                                         origin: str) -> None:
    event = event_from_dict(upgrade_event_dict(_v1_expand(reason, manual), 1))
    assert isinstance(event, Expanded)
    assert event.origin == origin
    assert event.in_cycle == (origin == "phase")
    assert "manual" not in event_to_dict(event)


def test_a_format_2_expansion_needs_a_known_origin() -> None:
    raw = upgrade_event_dict(_v1_expand("x", False), 1)
    raw["origin"] = "hand"
    with pytest.raises(ValueError, match="origin"):
        event_from_dict(raw)


# -- 2. terminal revisits -----------------------------------------------------------------

def test_an_evaluated_answer_is_closed_and_never_revisited() -> None:
    tree = Tree.new("4 5 6 10")
    _iteration(tree, (_spec(1, "Answer: 4*5+10-6=24", answer="4*5+10-6=24", verdict=True),
                      _spec(2, "Answer: 4+5=9", answer="4+5=9", verdict=False)), 1.0,
               "4*5+10-6=24", True)
    assert closed_nodes(tree, max_depth=12, reflection=False) == {
        1: "a final answer, already evaluated (its value is known)"}
    _iteration(tree, (), 0.0, "4+5=9", False)  # #2's first and only evaluation
    # Both answers are closed. While the root may still grow, selection stops there (to
    # sample more first steps); once it may not, the whole tree is exhausted.
    closed = closed_nodes(tree, max_depth=12, reflection=False, max_children=4)
    assert set(closed) == {1, 2}
    assert select_path(tree, "uct", 1.0, closed).path == (0,)
    closed = closed_nodes(tree, max_depth=12, reflection=False, max_children=2)
    assert set(closed) == {0, 1, 2}
    with pytest.raises(SearchExhausted):
        select_path(tree, "uct", 1.0, closed)
    # Neither answer node holds a rollout: a final answer's value needs none.
    assert tree.nodes[1].rollouts == [] and tree.nodes[2].rollouts == []


def test_a_closed_child_is_listed_with_its_reason_but_not_chosen() -> None:
    tree = Tree.new("4 5 6 10")
    _iteration(tree, (_spec(1, "Answer: 4*5+10-6=24", answer="4*5+10-6=24", verdict=True),
                      _spec(2, "Step: 10-4=6 (left: 5 6 6)")), 1.0, "4*5+10-6=24", True)
    _iteration(tree, (), 0.0, "x", False)  # #2's first visit, value 0
    # Root visits 2. UCT: #1 = 1 + sqrt(ln 2 / 1) = 1.833, #2 = 0 + 0.833. #1 would win,
    # but its value is known: it is closed, and #2 is chosen.
    selected = select_path(tree, "uct", 1.0, closed_nodes(tree, max_depth=12,
                                                          reflection=False))
    level = selected.levels[0]
    scores = {s.child: s for s in level.scores}
    assert scores[1].total == pytest.approx(1 + math.sqrt(math.log(2)))
    assert scores[2].total == pytest.approx(math.sqrt(math.log(2)))
    assert scores[1].excluded == "a final answer, already evaluated (its value is known)"
    assert scores[2].excluded is None
    assert level.chosen == 2


def test_a_search_evaluates_each_final_answer_at_most_once(demo_model) -> None:  # type: ignore[no-untyped-def]
    # Without widening, so that the search goes deep enough to write answer lines.
    search = Search(demo_model, make_config(seed=2, children=3, widening=0,
                                            rollout_max_tokens=64),
                    "4 5 6 10")
    search.run(40)
    terminal_evaluations: dict[int, int] = {}
    for event in search.events:
        if isinstance(event, Simulated) and search.tree.nodes[event.node].terminal:
            terminal_evaluations[event.node] = terminal_evaluations.get(event.node, 0) + 1
    assert terminal_evaluations, "the run should reach some final answers"
    assert max(terminal_evaluations.values()) == 1


# -- 3. best answer -----------------------------------------------------------------------

def test_best_answer_ranks_by_the_answer_not_by_its_host_node() -> None:
    tree = Tree.new("4 5 6 10")
    # #1 is a step that search visited often; its one rollout ended in answer "A" (wrong).
    tree.nodes.append(Node(1, 0, 1, "step", "Step: 10-4=6 (left: 5 6 6)", visits=9))
    tree.nodes[1].rollouts.append(Rollout("", ("x",), (0.5,), 0.0, "A", False, "verifier"))
    tree.nodes.append(Node(2, 0, 1, "step", "Step: 5+6=11 (left: 4 10 11)", visits=2))
    for _ in range(2):  # answer "B" (wrong too) was reached twice
        tree.nodes[2].rollouts.append(Rollout("", ("x",), (0.5,), 0.0, "B", False,
                                              "verifier"))
    tree.root.children = [1, 2]
    assert best_answer(tree) == ("B", False)
    tree.nodes[1].rollouts.append(Rollout("", ("x",), (0.5,), 1.0, "C", True, "verifier"))
    assert best_answer(tree) == ("C", True)


# -- 4. no reflection after EOS or a full context ------------------------------------------

@pytest.mark.parametrize(("ended", "action"), [
    ("eos", "none"), ("context", "none"), ("stop", "reflect"), (None, "reflect")])
def test_reflection_only_where_the_text_can_go_on(ended: str | None, action: str) -> None:
    leaf = Node(3, 1, 2, "answer", "Answer: 4+5=9", visits=1, terminal=True, answer="4+5=9",
                verdict=False, ended=ended)  # type: ignore[arg-type]
    assert expansion_decision(leaf, max_depth=12, reflection=True).action == action


def test_a_reflection_by_hand_is_refused_after_eos(demo_model) -> None:  # type: ignore[no-untyped-def]
    search = Search(demo_model, make_config(seed=0), "4 5 6 10")
    search.step_iteration()  # the root's children
    child = search.tree.root.children[0]
    search.tree.nodes[child].ended = "eos"
    with pytest.raises(InputError, match="ended the text"):
        search.add_reflection(child)


# -- 5. token counts survive a resume at any phase ---------------------------------------

def test_resuming_mid_iteration_keeps_the_token_counts(demo_model) -> None:  # type: ignore[no-untyped-def]
    live = Search(demo_model, make_config(seed=4, children=2), "1 2 4 7")
    live.step_phase()
    live.step_phase()  # select, expand: the root's children are sampled
    assert live.session.counter.generated > 0
    resumed = Search(demo_model, live.config, "1 2 4 7", events=live.events)
    assert resumed.session.counter == live.session.counter
    assert resumed.tree.tokens == live.tokens()


# -- 7. PUCT at an unvisited parent, and a reflection's prior -----------------------------

def test_puct_explores_by_prior_before_the_first_visit() -> None:
    _, exploration = puct(0.0, 0, 0, 1.5, 0.4)
    assert exploration == pytest.approx(1.5 * 0.4 * 1.0 / 1)


def test_a_forced_reflection_gets_an_equal_share_of_the_prior() -> None:
    # Two sampled siblings (weights e^-1 and e^-2, counts 1 and 2) and a reflection forced
    # at log-prob -40: the reflection gets 1/3; the others share 2/3 as 1*e^-1 : 2*e^-2.
    priors = sibling_priors([-1.0, -2.0, -40.0], [1, 2, 1], [False, False, True])
    w1, w2 = math.exp(-1.0), 2 * math.exp(-2.0)
    assert priors == pytest.approx([2 / 3 * w1 / (w1 + w2), 2 / 3 * w2 / (w1 + w2), 1 / 3])
