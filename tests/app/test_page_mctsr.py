"""An MCTSr run on the Search page and the Learn page's MCTSr section (AppTest, the real
demo model, a real SQLite file): the algorithm in the sidebar, a refine edge in the graph
data, the reward arithmetic in the inspector, the teaching text with the run's numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apptest_support import captions, click, markdown_text
from streamlit.testing.v1 import AppTest

from app.web import state
from app.web.learn_mctsr import SHOWN_ITERATION, mctsr_example_events
from app.web.mctsr_inspector import MCTSR_Q_LABEL
from engine.core.events import Backpropagated, Event, Expanded, Selected, Simulated
from engine.strategies.mctsr import DUMMY_ANSWER
from storage import open_store

ALGORITHM = state.setting("algorithm").name


def sidebar_setting_keys(at: AppTest) -> list[str]:
    widgets = at.sidebar.get("selectbox") + at.sidebar.get("number_input") + \
        at.sidebar.get("checkbox") + at.sidebar.get("text_input")
    return [w.key for w in widgets if str(getattr(w, "key", "")).startswith("cfg_")]


def graph_data(at: AppTest) -> dict[str, Any]:
    (graph, *_) = at.get("component_instance")
    data: dict[str, Any] = json.loads(graph.proto.json_args)["graph"]
    return data


def start_mctsr(at: AppTest) -> None:
    at.sidebar.selectbox(key=ALGORITHM).set_value("mctsr").run()
    at.sidebar.text_area(key=state.PROBLEM.name).set_value("4 5 6 10")
    click(at, "New run")
    at.radio(key=state.LIVE.panel.name).set_value("What just happened").run()


def stored_events(db_path: Path) -> list[Event]:
    store = open_store(str(db_path))
    (run,) = store.list_runs()
    assert run.config.algorithm == "mctsr"
    return list(store.load_events(run.id))


def test_the_algorithm_is_chosen_in_the_sidebar_beside_the_task(app: AppTest) -> None:
    keys = sidebar_setting_keys(app)
    # Drawn in the sidebar itself, right after the task (not inside Search settings).
    assert keys.index(ALGORITHM) == keys.index(state.setting("task").name) + 1
    assert app.sidebar.selectbox(key=ALGORITHM).options == ["mcts", "mctsr"]
    assert app.sidebar.selectbox(key=ALGORITHM).label == "Algorithm"
    mcts_only = {state.setting(n).name for n in ("selection", "children", "widening")}
    mctsr_only = {state.setting(n).name for n in ("reward_samples", "refine_epsilon")}
    assert mcts_only <= set(keys) and not mctsr_only & set(keys)
    app.sidebar.selectbox(key=ALGORITHM).set_value("mctsr").run()
    keys = sidebar_setting_keys(app)
    assert mctsr_only <= set(keys) and not mcts_only & set(keys)
    eps = app.sidebar.number_input(key=state.setting("refine_epsilon").name)
    assert eps.value == 0.001 and eps.label == "MCTSr ε"


def test_an_mctsr_run_phase_by_phase(app: AppTest, db_path: Path) -> None:
    start_mctsr(app)
    # Iteration 1: the root becomes the first answer and the dummy.
    click(app, "Next phase")
    assert "**Selection** (MCTSr): the tree is only the problem" in markdown_text(app)
    click(app, "Next phase")
    text = markdown_text(app)
    assert "#1 is the model's first answer" in text and "#2 the dummy answer" in text
    data = graph_data(app)
    nodes = {n["id"]: n for n in data["nodes"]}
    assert nodes[2]["shape"] == "hexagon" and "(dummy)" in nodes[2]["label"]
    assert data["roles"]["new_children"] == [1, 2]
    click(app, "Next phase")
    simulated = stored_events(db_path)[-1]
    assert isinstance(simulated, Simulated) and simulated.rollout.rewards
    rewards = simulated.rollout.rewards
    low, avg = min(rewards), sum(rewards) / len(rewards)
    text = markdown_text(app)
    assert "##### 3 · Simulation (self-reward)" in text
    assert f"{len(rewards)} sampled self-reward(s)" in text
    assert (f"Q = (min + mean) / 2 = ({low:.3f} + {avg:.3f}) / 2 = {(low + avg) / 2:.3f}; "
            f"the engine's value: **{simulated.rollout.value:.3f}**") in text
    click(app, "Next phase")
    backup = stored_events(db_path)[-1]
    assert isinstance(backup, Backpropagated) and backup.q_after is not None
    assert backup.path == (0, 1)
    text = markdown_text(app)
    assert (f"- #0 (root): N 0 → 1 · Q = max child Q = max(#1 {backup.q_after[1]:.3f}, "
            f"#2 0.000) = **{backup.q_after[0]:.3f}**") in text
    assert f"- #1: N 0 → 1 · Q = its reward = **{backup.value:.3f}**" in text
    assert not any(e["label"] == "refine" for e in graph_data(app)["edges"] if "label" in e)

    # Iteration 2: the best UCT among the candidates is refined (the unvisited dummy).
    click(app, "Next phase")
    selected = stored_events(db_path)[-1]
    assert isinstance(selected, Selected) and not selected.levels
    winner = next(s for s in selected.candidates if s.child == selected.path[-1])
    text = markdown_text(app)
    assert (f"The winner #{winner.child}: Q = {winner.exploitation:.3f}, N = "
            f"{winner.visits}, N_parent = 1, ε = 0.001") in text
    assert f"= **{winner.total:.3f}** ← **chosen**" in text
    assert "- #0: excluded: ` the problem" in text
    click(app, "Next phase")
    expanded = stored_events(db_path)[-1]
    assert isinstance(expanded, Expanded)
    (child,) = expanded.children
    assert child.critique is not None
    data = graph_data(app)
    edge = next(e for e in data["edges"] if e["id"] == f"{expanded.node}-{child.id}")
    assert edge["label"] == "refine" and edge["dashes"]
    assert f"self-refine) of #{expanded.node}" in markdown_text(app)
    click(app, "Next phase")
    click(app, "Next phase")
    backup = stored_events(db_path)[-1]
    assert isinstance(backup, Backpropagated) and backup.q_after is not None
    assert backup.path == (0, expanded.node, child.id)
    text = markdown_text(app)
    assert f"**{backup.q_after[1]:.3f}**" in text and "(Q + max child Q) / 2 = (" in text
    assert "Q = max child Q = max(#1 " in text
    assert "after 2 iterations · next phase: select" in next(
        c for c in captions(app) if c.startswith("Run #"))


def test_the_inspector_shows_critique_rewrite_rewards_and_candidates(
        app: AppTest, db_path: Path) -> None:
    start_mctsr(app)
    click(app, "Next iteration")
    click(app, "Next iteration")
    app.radio(key=state.LIVE.panel.name).set_value("Inspector").run()
    store = open_store(str(db_path))
    (run,) = store.list_runs()
    tree = store.tree_at(run.id)
    refined = next(n for n in tree.nodes if n.critique is not None)
    app.selectbox(key=state.LIVE.node.name).set_value(refined.id).run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics[MCTSR_Q_LABEL] == f"{refined.q:.3f}"
    assert "Q = W / N" not in metrics and "W (value sum)" not in metrics
    assert refined.critique in [t.value for t in app.text]
    assert refined.text in [c.value for c in app.code]
    low, avg = min(refined.rewards), sum(refined.rewards) / len(refined.rewards)
    text = markdown_text(app)
    assert (f"Q = (min + mean) / 2 = ({low:.3f} + {avg:.3f}) / 2 = {(low + avg) / 2:.3f}"
            in text)
    assert f"Backup: Q after the rule = **{refined.q:.3f}**" in text
    # The candidate table of the last selection: every node, the winner starred.
    selected = [e for e in store.load_events(run.id) if isinstance(e, Selected)][-1]
    table = app.dataframe[0].value
    assert list(table["node"]) == [f"#{s.child}" for s in selected.candidates]
    assert list(table["score"]) == [f"{s.total:.3f}" for s in selected.candidates]
    starred = table[table[""].str.contains("chosen")]
    assert list(starred["node"]) == [f"#{selected.path[-1]}"]
    assert table["excluded"].iloc[0].startswith("the problem")
    assert any(c.startswith("MCTSr UCT = Q + c·√(ln(N_parent + 1) / (N + ε))")
               for c in captions(app))
    # The dummy says what it is.
    app.selectbox(key=state.LIVE.node.name).set_value(2).run()
    assert tree.nodes[2].text == DUMMY_ANSWER
    assert any(c.startswith("The dummy answer") for c in captions(app))


def test_learn_has_an_mctsr_section_with_the_examples_numbers(app: AppTest) -> None:
    app.switch_page("page_scripts/learn.py").run()
    assert not app.exception
    assert [h.value for h in app.header][-1] == "MCTSr: Monte Carlo Tree Self-Refine"
    assert [s.value for s in app.subheader][-4:] == [
        "MCTSr 1 · Selection", "MCTSr 2 · Expansion", "MCTSr 3 · Simulation (self-reward)",
        "MCTSr 4 · Backpropagation"]
    events = mctsr_example_events()
    selected, _, simulated, backup = events[4 * SHOWN_ITERATION:4 * SHOWN_ITERATION + 4]
    assert isinstance(selected, Selected) and isinstance(simulated, Simulated)
    assert isinstance(backup, Backpropagated) and backup.q_after is not None
    text = markdown_text(app)
    winner = next(s for s in selected.candidates if s.child == selected.path[-1])
    assert f"= **{winner.total:.3f}** ← **chosen**" in text
    assert f"the engine's value: **{simulated.rollout.value:.3f}**" in text
    assert f"Q = max child Q = max(#1 {backup.q_after[1]:.3f}, #2 " in text
    pictures = app.get("component_instance")
    mctsr_graphs = [json.loads(p.proto.json_args)["graph"] for p in pictures[-4:]]
    assert all(any(e.get("label") == "refine" for e in g["edges"]) for g in mctsr_graphs)
