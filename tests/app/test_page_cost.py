"""Issue 15 items 3 and 5 in AppTest: a node's cost and each token's top-5 alternatives in
the inspector, and the cost per phase over iterations on the Charts panel (Search page and
Replay page)."""

from __future__ import annotations

from pathlib import Path

from apptest_support import captions, click, open_app_page
from streamlit.testing.v1 import AppTest

from app.web import state
from engine.core.costs import node_cost
from storage import open_store


def _start(at: AppTest) -> None:
    at.sidebar.text_area(key=state.PROBLEM.name).set_value("4 5 6 10")
    click(at, "New run")
    click(at, "Next iteration")
    click(at, "Next iteration")


def test_inspector_shows_a_nodes_cost_and_its_tokens_alternatives(
        app: AppTest, db_path: Path) -> None:
    _start(app)
    store = open_store(str(db_path))
    (run,) = store.list_runs()
    events = store.load_events(run.id)
    tree = store.tree_at(run.id)
    child = tree.nodes[tree.root.children[0]]
    app.selectbox(key=state.LIVE.node.name).set_value(child.id).run()
    cost = node_cost(events, child.id)
    line = next(c for c in captions(app) if c.startswith("Cost: "))
    assert f"Cost: {cost.generated} tokens generated" in line and " ms" in line
    assert "created in" in line and "not recorded" not in line
    expanders = [e.label for e in app.expander]
    assert any(label.startswith(f"Inside the tokens of #{child.id}") for label in expanders)
    table = app.table[0].value
    assert list(table.columns) == ["#", "token", "confidence", "top 1", "top 2", "top 3",
                                   "top 4", "top 5"]
    assert len(table) == len(child.token_ids)
    first_alternative, probability = child.top[0][0]
    assert table["top 1"].iloc[0] == f"{first_alternative.replace(chr(10), '¶')}  " \
        f"{probability:.4f}"
    assert list(table["confidence"]) == [round(c, 3) for c in child.confidences]


def test_charts_show_time_and_tokens_per_phase_on_search_and_replay(
        app: AppTest, db_path: Path) -> None:
    _start(app)
    app.radio(key=state.LIVE.panel.name).set_value("Charts").run()
    shown = captions(app)
    assert "Time per phase over iterations (ms)" in shown
    assert "Tokens generated per phase over iterations" in shown
    charts = app.get("vega_lite_chart")
    assert len(charts) == 5  # root Q, tokens, the two cost charts, the policy
    replay = open_app_page("page_scripts/replay.py")
    assert not replay.exception
    replay.radio(key=state.REPLAY.panel.name).set_value("Charts").run()
    assert "Time per phase over iterations (ms)" in captions(replay)
