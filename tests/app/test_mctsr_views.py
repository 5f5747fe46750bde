"""MCTSr in the graph, the highlight and the teaching text, on the Learn page's MCTSr worked
example (pure functions, no model): refine edges, the dummy, MCTSr's own UCT, Q before and
after a backup from the events, the reward arithmetic."""

from __future__ import annotations

import pytest

from app.web.graph import legend_marks, render_page, tree_digraph, vis_data
from app.web.highlight import backprop_changes, highlight_for
from app.web.learn_mctsr import CONFIG, PLAN, PROBLEM, SHOWN_ITERATION, mctsr_example_events
from app.web.mctsr_view import REFINE_COLOUR, is_dummy, previous_q, reward_arithmetic
from app.web.teaching import event_title, explain
from engine.core.events import Backpropagated, Selected, Simulated
from engine.core.mctsr import reward_q
from engine.core.phases import scores_for
from engine.core.tree import fold
from engine.strategies.mctsr import DUMMY_ANSWER
from engine.tasks import make_task


def test_the_example_follows_the_engine() -> None:
    events = mctsr_example_events()
    tree = fold(PROBLEM, events)  # apply checks every path and every q_after
    assert tree.iterations_done == len(PLAN) and len(tree.nodes) == 2 + len(PLAN)
    assert tree.nodes[2].text == DUMMY_ANSWER and is_dummy(tree.nodes[2])
    assert [n.critique is not None for n in tree.nodes[1:]] == [False, False, True, True,
                                                                True]
    for event in events:
        if isinstance(event, Simulated):
            assert event.rollout.value == reward_q(event.rollout.rewards)
    last = tree.nodes[-1]
    judged = make_task("game24", PROBLEM).judge(last.text + "\n", True)
    assert last.verdict is judged.verdict is True


def test_refine_edges_are_dashed_and_labelled_and_the_dummy_is_a_hexagon() -> None:
    tree = fold(PROBLEM, mctsr_example_events())
    data = vis_data(tree_digraph(tree, scores_for(tree, CONFIG), highlight_for(tree, None),
                                 rule="mctsr", label_by="score"))
    edges = {e["id"]: e for e in data["edges"]}
    refine = {i for i, e in edges.items() if e.get("label") == "refine"}
    assert refine == {f"{n.parent}-{n.id}" for n in tree.nodes if n.critique is not None}
    assert refine == {"2-3", "1-4", "4-5"}
    for edge_id in refine:
        assert edges[edge_id]["dashes"] and edges[edge_id]["color"] == REFINE_COLOUR
        assert "after the critique" in edges[edge_id]["title"]
    for edge_id in ("0-1", "0-2"):
        assert "label" not in edges[edge_id] and not edges[edge_id].get("dashes")
    nodes = {n["id"]: n for n in data["nodes"]}
    assert nodes[2]["shape"] == "hexagon" and nodes[2]["label"].endswith("(dummy)")
    assert nodes[1]["shape"] == "star" and "(dummy)" not in nodes[1]["label"]
    # Labels show MCTSr's own UCT, the engine's number.
    scores = scores_for(tree, CONFIG)
    assert nodes[3]["label"] == f"#3 MCTSr UCT {scores[3].total:.3f}"
    assert f"self-rewards 1, 1, 0: {reward_arithmetic((1.0, 1.0, 0.0))}" in nodes[3]["title"]
    labels = [label for _, label in legend_marks()]
    assert any("refine" in label for label in labels)
    assert any("dummy" in label for label in labels)
    page = render_page(None, mode="component", height=300, options={})
    assert all(label in page for label in labels)


def test_a_backups_q_before_comes_from_the_previous_backup() -> None:
    events = mctsr_example_events()
    end = 4 * SHOWN_ITERATION + 4
    tree = fold(PROBLEM, events[:end])
    backup = events[end - 1]
    assert isinstance(backup, Backpropagated) and backup.q_after is not None
    changes = backprop_changes(tree, backup, events[:end])
    assert list(changes) == list(backup.path) == [0, 1, 4, 5]
    for node_id, q in zip(backup.path, backup.q_after, strict=True):
        assert changes[node_id].q_after == q
    earlier = [e for e in events[:end - 4] if isinstance(e, Backpropagated)]
    for node_id in (0, 1, 4):
        last = next(e for e in reversed(earlier) if node_id in e.path)
        assert last.q_after is not None
        expected = last.q_after[last.path.index(node_id)]
        assert changes[node_id].q_before == expected == previous_q(events, 3, node_id)
    assert changes[5].q_before is None and changes[5].visits_before == 0
    highlight = highlight_for(tree, backup, events[:end])
    graph = tree_digraph(tree, {}, highlight, rule="mctsr")
    assert graph.nodes[4]["label"].endswith(
        f"N 1→2\nQ {changes[4].q_before:.2f}→{backup.q_after[2]:.2f}")


@pytest.mark.parametrize("iteration", range(len(PLAN)))
def test_the_teaching_text_uses_the_runs_own_numbers(iteration: int) -> None:
    events = mctsr_example_events()
    start = 4 * iteration
    texts = []
    for upto in range(start + 1, start + 5):
        tree = fold(PROBLEM, events[:upto])
        texts.append(explain(tree, events[upto - 1], CONFIG, events[:upto]))
    select, expand, simulate, backprop = texts
    selected, expanded, simulated, backup = events[start:start + 4]
    assert isinstance(selected, Selected) and isinstance(simulated, Simulated)
    assert isinstance(backup, Backpropagated) and backup.q_after is not None
    assert event_title(simulated) == "3 · Simulation (self-reward)"
    if iteration == 0:
        assert "the tree is only the problem" in select
        assert "#1 is the model's first answer" in expand and "#2 the dummy answer" in expand
    else:
        winner = next(s for s in selected.candidates if s.child == selected.path[-1])
        assert f"**#{winner.child}**" in select
        assert f"The winner #{winner.child}: Q = {winner.exploitation:.3f}, N = " \
               f"{winner.visits}" in select
        assert f"= **{winner.total:.3f}** ← **chosen**" in select
        for s in selected.candidates:
            if s.excluded is not None:
                assert f"- #{s.child}: excluded: ` {s.excluded} `" in select
        assert f"self-refine) of #{selected.path[-1]}" in expand and "refine edge" in expand
    rewards = simulated.rollout.rewards
    low, avg = min(rewards), sum(rewards) / len(rewards)
    assert (f"Q = (min + mean) / 2 = ({low:.3f} + {avg:.3f}) / 2 = {(low + avg) / 2:.3f}; "
            f"the engine's value: **{simulated.rollout.value:.3f}**") in simulate
    assert f"#0 (root): N {iteration} → {iteration + 1} · Q = max child Q" in backprop
    assert f"**{backup.q_after[0]:.3f}**" in backprop
    assert f"- #{backup.path[-1]}: N 0 → 1 · Q = its reward = **{backup.value:.3f}**" \
        in backprop
    for i, node_id in enumerate(backup.path[1:-1], 1):
        assert f"- #{node_id}: N " in backprop
        assert "(Q + max child Q) / 2 = (" in backprop
        assert f"**{backup.q_after[i]:.3f}**" in backprop
