"""The Replay page in AppTest: slider, phase stepper, play/pause, equal to the live tree; a
corrupt stored run, a closed answer, a saved beam-search run."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from apptest_support import captions, click, copy_db, markdown_text, open_app_page
from streamlit.testing.v1 import AppTest
from synthetic_runs import DEAD_REASON, PROBLEM, STEP_VALUE, closed_answer_events, save

from app.web import state
from app.web.views import summary_line
from engine.core.config import make_config
from engine.core.events import Expanded
from engine.core.phases import closed_nodes
from engine.core.tree import fold
from storage import open_store

REPLAY = "page_scripts/replay.py"


def position(at: AppTest) -> str:
    line = next((c for c in captions(at) if "event" in c and " of " in c), None)
    assert line is not None, captions(at)
    return line


def test_steps_through_phases_and_iterations(stored_app: Callable[[str], AppTest],
                                            db_path: Path) -> None:
    at = stored_app(REPLAY)
    assert position(at).endswith("event 8 of 8")
    click(at, "Start")
    assert position(at) == "start: the empty tree (0 of 8 events)"
    click(at, "Next phase")
    assert position(at) == "iteration 1 · after 1 · Selection — event 1 of 8"
    click(at, "Next phase")
    assert position(at) == "iteration 1 · after 2 · Expansion — event 2 of 8"
    click(at, "Previous phase")
    assert position(at) == "iteration 1 · after 1 · Selection — event 1 of 8"
    at.slider(key=state.REPLAY_ITERATION.name).set_value(1).run()
    assert position(at) == "iteration 1 · after 4 · Backpropagation — event 4 of 8"
    store = open_store(str(db_path))
    assert summary_line(store.tree_at(1, iteration=1)) in captions(at)
    # The position and the status line below it number the iteration alike.
    assert any(c.startswith("after 1 iteration · next phase: select · ") for c in captions(at))
    click(at, "Next phase")
    assert position(at) == "iteration 2 · after 1 · Selection — event 5 of 8"
    assert any(c.startswith("iteration 2 · after select · next phase: expand · ")
               for c in captions(at))
    assert summary_line(store.tree_at(1, iteration=2, phase="select")) in captions(at)
    click(at, "End")
    assert summary_line(store.tree_at(1)) in captions(at)


def test_play_toggles_to_pause_and_restarts_from_the_beginning(
        stored_app: Callable[[str], AppTest]) -> None:
    at = stored_app(REPLAY)
    click(at, "Play")
    assert at.session_state[state.REPLAY_PLAYING.name]
    # Playing from the end starts again at the first event.
    assert position(at) == "iteration 1 · after 1 · Selection — event 1 of 8"
    click(at, "Pause")
    assert not at.session_state[state.REPLAY_PLAYING.name]


def test_inspector_at_a_replayed_moment(stored_app: Callable[[str], AppTest],
                                        db_path: Path) -> None:
    at = stored_app(REPLAY)
    tree = open_store(str(db_path)).tree_at(1)
    child = tree.root.children[-1]
    at.selectbox(key=state.REPLAY.node.name).set_value(child).run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["N (visits)"] == str(tree.nodes[child].visits)
    assert any(c.startswith("UCT now (N_parent = 2)") for c in captions(at))


def test_no_runs_yet(app: AppTest) -> None:
    app.switch_page(REPLAY).run()
    assert "No saved runs to replay yet" in app.info[0].value


def test_a_corrupt_stored_event_is_one_line_and_the_moments_before_it_still_show(
        stored_app: Callable[[str], AppTest], db_path: Path) -> None:
    # Iteration 0's backup (event seq 3) now carries a value the simulation never gave.
    with sqlite3.connect(db_path) as db:
        changed = db.execute("UPDATE events SET payload = json_set(payload, '$.value', "
                             "0.123456) WHERE run_id = 1 AND seq = 3").rowcount
    assert changed == 1
    at = stored_app(REPLAY)
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith("run 1: event seq 3 does not fit the tree (")
    assert "\n" not in error.value and "Traceback" not in error.value
    assert "ValueError" not in error.value
    click(at, "Start")
    assert not at.error and position(at) == "start: the empty tree (0 of 8 events)"
    for _ in range(3):
        click(at, "Next phase")
    assert not at.error
    assert position(at) == "iteration 1 · after 3 · Simulation (rollout) — event 3 of 8"
    click(at, "Next phase")
    assert at.error[0].value == error.value and not at.exception


def test_a_closed_answer_is_listed_with_the_engines_reason(db_path: Path) -> None:
    events = closed_answer_events()
    run_id = save(open_store(str(db_path)), events, "closed answer")
    config = make_config()
    reason = closed_nodes(fold(PROBLEM, events), max_depth=config.max_depth,
                          reflection=False, max_children=config.max_children)[1]
    at = open_app_page(REPLAY)
    at.selectbox(key=state.REPLAY.node.name).set_value(1).run()
    assert position(at) == "iteration 2 · after 1 · Selection — event 5 of 5"
    last, now = (d.value for d in at.dataframe)
    for table in (last, now):
        rows = table.set_index("child")
        assert rows.loc["#1", "excluded"] == reason
        assert rows.loc["#3", "excluded"] == f"dead: {DEAD_REASON}"
        assert rows.loc["#2", "excluded"] == ""
        assert rows.loc["#2", ""].startswith("chosen") and "chosen" not in rows.loc["#1", ""]
    assert any(c.startswith("Next selection would walk #0 → #2 (") for c in captions(at))
    at.selectbox(key=state.REPLAY.node.name).set_value(0).run()  # the root has no siblings
    assert any(c.startswith("Next selection would walk #0 → #2 (") for c in captions(at))
    at.selectbox(key=state.REPLAY.node.name).set_value(3).run()
    assert "Dead step: the task's step check rejected it, so selection never enters it" \
        in captions(at) and [t.value for t in at.text] == [DEAD_REASON]
    at.selectbox(key=state.REPLAY.node.name).set_value(2).run()
    assert f"State value (the run's evaluator, {config.evaluator}): {STEP_VALUE:.3f}" \
        in captions(at)
    at.radio(key=state.REPLAY.panel.name).set_value("What just happened").run()
    text = markdown_text(at)
    assert f"excluded: ` {reason} `" in text
    # A stored reason (it may repeat the model's step) only ever in a code span.
    assert f"excluded: ` dead: {DEAD_REASON} `" in text
    assert text.count(DEAD_REASON) == 1
    assert "#2: N = 0: its state value 0.600 stands in for Q" in text
    assert "← **chosen**" in text and run_id == 1


def test_a_saved_beam_run_is_described_as_beam_steps(beam_run_db: tuple[Path, int],
                                                     db_path: Path) -> None:
    copy_db(beam_run_db[0], db_path)
    events = open_store(str(db_path)).load_events(beam_run_db[1])
    assert events and all(isinstance(e, Expanded) and e.origin == "beam" for e in events)
    at = open_app_page(REPLAY)
    at.radio(key=state.REPLAY.panel.name).set_value("What just happened").run()
    for shown in range(len(events), 0, -1):
        assert position(at) == (f"after 0 iterations · 2 · Expansion (beam search step) — "
                                f"event {shown} of {len(events)}")
        text = markdown_text(at)
        assert "##### 2 · Expansion (beam search step)" in text
        assert f"**Beam search step**: #{events[shown - 1].node} got" in text
        assert "by hand" not in text + "\n".join(captions(at))
        assert "Reflection" not in text
        (graph, *_) = at.get("component_instance")
        assert json.loads(graph.proto.json_args)["graph"]["roles"]["origin"] == "beam"
        click(at, "Previous phase")
    assert position(at) == f"start: the empty tree (0 of {len(events)} events)"
