"""Issue 12 on the pages (AppTest, the real demo model, a real SQLite file): tokens counted
when spent, settings labelled and shown only when they apply, the example button, the
freeform warning, Stop's message, icons that ship with the app, answers labelled."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from apptest_support import captions, click
from streamlit.testing.v1 import AppTest

from app.web import state
from engine.core.config import SearchConfig
from storage import open_store

REPLAY = "page_scripts/replay.py"


def status(at: AppTest) -> str:
    line = next((c for c in captions(at) if c.startswith("Run #")), None)
    assert line is not None, captions(at)
    return line


def generated(line: str) -> int:
    match = re.search(r"tokens generated (\d+)", line)
    assert match is not None, line
    return int(match.group(1))


def test_the_token_counter_counts_when_tokens_are_spent(app: AppTest, db_path: Path) -> None:
    app.sidebar.text_area(key=state.PROBLEM.name).set_value("4 5 6 10")
    click(app, "New run")
    counts = [generated(status(app))]
    for _ in range(4):
        click(app, "Next phase")
        counts.append(generated(status(app)))
    select, expand, simulate, backprop = counts[1:]
    assert counts[0] == 0 and select == 0
    assert expand > select, counts  # the children's tokens, at the expansion
    assert simulate > expand, counts  # the rollout's tokens, at the simulation
    (run,) = open_store(str(db_path)).list_runs()
    events = open_store(str(db_path)).load_events(run.id)
    assert [e.tokens.generated for e in events[1:]] == [expand, simulate, backprop]  # type: ignore[union-attr]


def test_replay_counts_tokens_at_each_phase(stored_app: Callable[[str], AppTest],
                                           stored_run_db: tuple[Path, int]) -> None:
    events = open_store(str(stored_run_db[0])).load_events(stored_run_db[1])
    at = stored_app(REPLAY)
    click(at, "Start")
    shown = 0
    grew_at: list[str] = []
    for event in events:
        click(at, "Next phase")
        line = next(c for c in captions(at) if "tokens generated" in c)
        before, shown = shown, generated(line)
        if event.phase != "select":
            assert event.tokens is not None
            assert shown == event.tokens.generated, (event.phase, line)
        if shown > before:
            grew_at.append(event.phase)
    # Children are counted at their expansion, a rollout at its simulation.
    assert "expand" in grew_at and "simulate" in grew_at, grew_at


def settings_widgets(at: AppTest) -> dict[str, object]:
    widgets = at.sidebar.get("selectbox") + at.sidebar.get("number_input") + \
        at.sidebar.get("checkbox") + at.sidebar.get("text_input")
    names = {state.setting(n).name: n for n in SearchConfig.model_fields}
    return {names[w.key]: w for w in widgets if getattr(w, "key", None) in names}


def test_settings_have_human_labels_and_help_markdown_cannot_eat(app: AppTest) -> None:
    shown = settings_widgets(app)
    assert shown["cache_budget_mb"].label == "KV cache budget (MB)"  # type: ignore[attr-defined]
    for name, widget in shown.items():
        info = SearchConfig.model_fields[name]
        assert widget.label == info.title and "_" not in widget.label  # type: ignore[attr-defined]
        text = widget.help  # type: ignore[attr-defined]
        assert not re.search(r"(?<!\\)[*_]", text), text  # every * and _ escaped
        assert re.sub(r"\\(.)", r"\1", text) == info.description
    assert "c\\*sqrt" in shown["selection"].help  # type: ignore[attr-defined]


def test_settings_that_do_not_apply_are_hidden(app: AppTest) -> None:
    shown = settings_widgets(app)
    assert "mini_step_tokens" not in shown and "max_step_tokens" in shown
    assert "reference_answer" not in shown  # Game of 24 is verified without one
    app.sidebar.selectbox(key=state.setting("granularity").name).set_value("mini-step").run()
    shown = settings_widgets(app)
    assert "mini_step_tokens" in shown and "max_step_tokens" not in shown
    app.sidebar.selectbox(key=state.setting("leaf_value").name).set_value("rollout").run()
    assert "value_weight" not in settings_widgets(app)
    app.sidebar.checkbox(key=state.setting("cache_reuse").name).uncheck().run()
    assert "cache_budget_mb" not in settings_widgets(app)
    # A hidden setting keeps its value.
    assert app.session_state[state.setting("cache_budget_mb").name] == 512.0


def test_example_puzzle_changes_the_problem_on_its_first_press(app: AppTest) -> None:
    before = app.sidebar.text_area(key=state.PROBLEM.name).value
    click(app, "Example puzzle")
    assert app.sidebar.text_area(key=state.PROBLEM.name).value != before


def test_freeform_with_the_demo_model_warns(app: AppTest) -> None:
    assert not app.sidebar.warning
    app.sidebar.selectbox(key=state.setting("task").name).set_value("freeform").run()
    assert "Game of 24 only" in app.sidebar.warning[0].value
    assert "reference_answer" in settings_widgets(app)
    app.sidebar.text_input(key=state.MODEL_NAME.name).set_value("/some/model").run()
    assert not app.sidebar.warning


def test_stop_says_where_it_stopped(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "BATCH_DRAW_S", 0.0)  # one iteration per rerun
    app.sidebar.text_area(key=state.PROBLEM.name).set_value("4 5 6 10")
    click(app, "New run")
    click(app, "Run 10 iterations")
    click(app, "Stop")
    assert any("Stopped at 1/10 iterations" in i.value for i in app.info), \
        [i.value for i in app.info]
    stop = next(b for b in app.button if b.label == "Stop")
    assert stop.proto.icon == ":material/stop_circle:"


def test_labels_ids_q_and_markers_on_the_search_page(app: AppTest) -> None:
    app.sidebar.number_input(key=state.setting("children").name).set_value(3).run()
    app.sidebar.text_area(key=state.PROBLEM.name).set_value("4 5 6 10")
    click(app, "New run")
    click(app, "Next phase")
    click(app, "Next phase")  # expanded: the new children are unvisited
    radio = app.radio(key=state.LIVE.labels.name)
    assert list(radio.options) == ["numbers (N, Q)", "UCT score", "short text"]
    radio.set_value("text").run()
    app.selectbox(key=state.LIVE.node.name).set_value(1).run()
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["N (visits)"] == "0" and metrics["Q = W / N"] == "—"
    assert any("first column: chosen" in c and c.endswith(", this node")
               for c in captions(app)), captions(app)


def test_replay_buttons_use_icons_that_ship_with_the_app(
        stored_app: Callable[[str], AppTest]) -> None:
    at = stored_app(REPLAY)
    icons = {b.label: b.proto.icon for b in at.button}
    assert icons["Start"] == ":material/first_page:" and icons["End"] == ":material/last_page:"
    assert icons["Play"] == ":material/play_arrow:"
    assert not any(ch in label for label in icons for ch in "⏮⏭⏸❌✅")


def test_runs_table_labels_a_wrong_best_answer(db_path: Path) -> None:
    from apptest_support import open_app_page
    from synthetic_runs import PROBLEM, WRONG, closed_answer_events

    from engine.core.config import make_config
    store = open_store(str(db_path))
    run_id = store.create_run(problem=PROBLEM, config=make_config(), model_name="synthetic",
                              model_fingerprint="synthetic", title="wrong answer")
    store.append_events(run_id, closed_answer_events()[:4], iterations_done=1,
                        best_answer=WRONG, solved=False)
    at = open_app_page("page_scripts/runs.py")
    shown = at.dataframe[0].value["best answer"][0]
    assert shown.startswith(f"{WRONG} (wrong: equals ")
