"""The Search page in AppTest: controls, state transitions, saving, errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from apptest_support import captions, click, markdown_text
from streamlit.testing.v1 import AppTest

from app.web import state
from engine.core.config import SearchConfig, setting_applies
from engine.tasks.game24 import load_puzzles
from storage import open_store

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "data" / "game24_tot_901_1000.txt"
XSS = "<img src=x onerror=alert(1)> <script>alert(2)</script>"


def start(at: AppTest, problem: str = "4 5 6 10") -> AppTest:
    at.sidebar.text_area(key=state.PROBLEM.name).set_value(problem)
    return click(at, "New run")


def status(at: AppTest) -> str:
    line = next((c for c in captions(at) if c.startswith("Run #")), None)
    assert line is not None, captions(at)
    return line


def test_first_visit_explains_what_to_do_and_offers_examples(app: AppTest) -> None:
    first, second, third = (" ".join(map(str, p)) for p in load_puzzles(str(EXAMPLES))[:3])
    assert f"Start a run on {first}" in [b.label for b in app.button]
    # The first bundled puzzle is the default problem, so the first press skips it.
    assert app.sidebar.text_area(key=state.PROBLEM.name).value == first
    click(app, "Example puzzle")
    assert app.sidebar.text_area(key=state.PROBLEM.name).value == second
    click(app, "Example puzzle")
    assert app.sidebar.text_area(key=state.PROBLEM.name).value == third
    app.sidebar.selectbox(key=state.EXAMPLE_PICK.name).set_value(first).run()
    assert app.sidebar.text_area(key=state.PROBLEM.name).value == first


def test_every_setting_has_its_field_description_as_help(app: AppTest) -> None:
    for name, info in SearchConfig.model_fields.items():
        if not setting_applies(name, SearchConfig().model_dump()):
            continue  # hidden while it has no effect (test_issue12_pages)
        widget = app.sidebar.get("selectbox") + app.sidebar.get("number_input") + \
            app.sidebar.get("checkbox") + app.sidebar.get("text_input")
        matches = [w for w in widget if getattr(w, "key", None) == state.setting(name).name]
        assert len(matches) == 1, name
        # Markdown's special characters escaped (a "*" would start italics).
        assert re.sub(r"\\(.)", r"\1", matches[0].help) == info.description


def test_four_phases_step_and_each_one_is_saved(app: AppTest, db_path: Path) -> None:
    start(app)
    store = open_store(str(db_path))
    (run,) = store.list_runs()
    assert run.problem == "4 5 6 10" and run.status == "paused"  # idle between clicks
    assert "after 0 iterations · next phase: select · 1 nodes" in status(app)
    app.radio(key=state.LIVE.panel.name).set_value("What just happened").run()
    assert "Nothing has run yet" in app.info[0].value
    expected = [("select", "1 · Selection"), ("expand", "2 · Expansion"),
                ("simulate", "3 · Simulation (rollout)"), ("backprop", "4 · Backpropagation")]
    for count, (phase, title) in enumerate(expected, 1):
        click(app, "Next phase")
        events = store.load_events(run.id)
        assert [e.phase for e in events][-1] == phase and len(events) == count
        assert f"##### {title}" in markdown_text(app)
    assert "after 1 iteration · next phase: select" in status(app)
    assert store.get_run(run.id).iterations_done == 1
    # The backprop explanation shows the actual numbers of the update.
    assert "N 0 → 1" in markdown_text(app)


def test_next_iteration_then_inspect_a_child_and_its_scores(app: AppTest,
                                                            db_path: Path) -> None:
    # Four children at once and no widening, so the second selection passes the root.
    app.sidebar.number_input(key=state.setting("children").name).set_value(4).run()
    app.sidebar.number_input(key=state.setting("widening").name).set_value(0.0).run()
    start(app)
    click(app, "Next iteration")
    click(app, "Next iteration")
    assert "after 2 iterations · next phase: select" in status(app)
    store = open_store(str(db_path))
    (run,) = store.list_runs()
    tree = store.tree_at(run.id)
    assert tree.iterations_done == 2 and len(tree.nodes) > 1
    child = tree.root.children[0]
    app.selectbox(key=state.LIVE.node.name).set_value(child).run()
    metrics = {m.label: m.value for m in app.metric}
    node = tree.nodes[child]
    assert metrics["N (visits)"] == str(node.visits)
    assert metrics["Q = W / N"] == f"{node.q:.3f}"
    assert metrics["prior (log p)"] == f"{node.prior:.3f}"
    # The engine's breakdown at the last selection through the root, winner starred.
    scored = [c for c in captions(app) if c.startswith("UCT at the last selection through #0")]
    assert scored, captions(app)
    table = app.dataframe[0].value
    assert list(table["child"]) == [f"#{c}" for c in tree.root.children]
    assert table[""].str.contains("chosen").sum() == 1
    assert f"#{child}:" in markdown_text(app)
    app.radio(key=state.LIVE.panel.name).set_value("Charts").run()
    shown = captions(app)
    assert "Root Q over iterations" in shown and "Tokens over iterations" in shown
    assert f"Visit share π vs prior P among the children of #{child}" in shown
    answers = app.dataframe[0].value
    assert list(answers.columns) == ["iteration", "best answer"]


def test_add_a_reflection_under_the_selected_node(app: AppTest, db_path: Path) -> None:
    start(app)
    click(app, "Next iteration")
    app.selectbox(key=state.LIVE.node.name).set_value(1).run()
    app.radio(key=state.LIVE.panel.name).set_value("What just happened").run()
    click(app, "Add reflection under #1")
    store = open_store(str(db_path))
    (run,) = store.list_runs()
    last = store.load_events(run.id)[-1]
    assert last.phase == "expand" and last.origin == "reflection_by_hand" and last.node == 1
    assert last.children[0].kind == "reflection"
    assert "**Reflection** (added by hand)" in markdown_text(app)
    assert "##### 2 · Expansion (reflection by hand)" in markdown_text(app)
    click(app, "Add reflection under #1")
    assert "already has a reflection branch" in app.error[0].value


def test_run_n_iterations_one_per_rerun_with_progress(
    app: AppTest, db_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(state, "BATCH_DRAW_S", 0.0)  # draw after every iteration
    start(app)
    app.number_input(key=state.RUN_N.name).set_value(3).run()
    click(app, "Run 3 iterations")
    # In the browser a timer reruns the page; AppTest runs it when told to.
    assert "after 1 iteration · next phase: select" in status(app)
    assert app.get("progress")[0].proto.text == "1 / 3 iterations"
    app.run()
    assert "after 2 iterations · next phase: select" in status(app)
    app.run()
    assert "after 3 iterations · next phase: select" in status(app)
    assert app.session_state[state.BATCH.name] is None and not app.get("progress")
    app.run()
    assert "after 3 iterations · next phase: select" in status(app)
    (run,) = open_store(str(db_path)).list_runs()
    assert run.iterations_done == 3


def test_a_batch_draws_on_a_timer_not_after_every_iteration(
    app: AppTest, db_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(state, "BATCH_DRAW_S", 600.0)
    start(app)
    app.number_input(key=state.RUN_N.name).set_value(5).run()
    click(app, "Run 5 iterations")
    # One rerun ran all five (each saved as it ended), then drew the tree once.
    assert "after 5 iterations · next phase: select" in status(app)
    assert app.session_state[state.BATCH.name] is None and not app.get("progress")
    (run,) = open_store(str(db_path)).list_runs()
    assert run.iterations_done == 5 and len(open_store(str(db_path)).load_events(1)) == 20


def test_a_batch_draws_when_its_time_is_up_unless_its_rest_is_short() -> None:
    # 3 s per drawing: before then, never; after, only if the rest takes over 3 s more.
    assert not state.batch_draws_now(2.9, 20, 100, 3.0)
    assert state.batch_draws_now(3.0, 20, 21, 3.0)        # 21 x 0.15 s = 3.15 s left
    assert not state.batch_draws_now(3.0, 20, 20, 3.0)    # 20 x 0.15 s = 3.0 s: run on
    assert not state.batch_draws_now(9.0, 20, 0, 3.0)     # done: the end draws
    assert state.batch_draws_now(0.05, 1, 1, 0.0)         # 0 s: one iteration per rerun


def test_stop_ends_a_batch_after_the_iteration_in_flight(
    app: AppTest, db_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(state, "BATCH_DRAW_S", 0.0)
    start(app)
    click(app, "Run 10 iterations")
    assert "after 1 iteration · next phase: select" in status(app)
    click(app, "Stop")
    assert app.session_state[state.BATCH.name] is None
    app.run()
    assert "after 1 iteration · next phase: select" in status(app)
    (run,) = open_store(str(db_path)).list_runs()
    assert run.iterations_done == 1


def test_a_bad_puzzle_is_a_clear_error_and_the_app_keeps_working(app: AppTest,
                                                                 db_path: Path) -> None:
    start(app, XSS)
    assert app.error[0].value == ("This is not a valid Game-of-24 puzzle: '<img' is not a "
                                  "whole number from 1 to 13.")
    start(app, "4 5 6")
    assert "exactly four whole numbers from 1 to 13" in app.error[0].value
    assert not open_store(str(db_path)).list_runs()
    start(app, "1 2 3 4")
    assert not app.error
    assert "1 nodes" in status(app)


def test_a_missing_model_is_a_clear_error(app: AppTest, db_path: Path) -> None:
    app.sidebar.text_input(key=state.MODEL_NAME.name).set_value("/no/such/model").run()
    start(app)
    assert "No model directory at /no/such/model" in app.error[0].value
    assert not open_store(str(db_path)).list_runs()


def test_a_freeform_problem_is_shown_as_text(app: AppTest) -> None:
    app.sidebar.selectbox(key=state.setting("task").name).set_value("freeform").run()
    start(app, XSS)
    assert not app.error
    # Shown as code (escaped by Streamlit), never as Markdown or HTML.
    assert any(XSS in c.value for c in app.code)
    assert XSS not in markdown_text(app)


def test_an_unreadable_database_is_a_clear_error(db_path: Path) -> None:
    db_path.write_bytes(b"this is not a database" * 100)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app" / "web" /
                               "streamlit_app.py"), default_timeout=300)
    at.run()
    start(at)
    assert at.error and "runs.db" in at.error[0].value
    assert db_path.read_bytes() == b"this is not a database" * 100
