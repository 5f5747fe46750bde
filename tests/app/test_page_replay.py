"""The Replay page in AppTest: slider, phase stepper, play/pause, equal to the live tree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from apptest_support import captions, click
from streamlit.testing.v1 import AppTest

from app.web.views import summary_line
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
    click(at, "⏮ Start")
    assert position(at) == "start: the empty tree (0 of 8 events)"
    click(at, "Next phase ▶")
    assert position(at) == "iteration 0, after 1 · Selection — event 1 of 8"
    click(at, "Next phase ▶")
    assert position(at) == "iteration 0, after 2 · Expansion — event 2 of 8"
    click(at, "◀ Previous phase")
    assert position(at) == "iteration 0, after 1 · Selection — event 1 of 8"
    at.slider(key="replay_iteration").set_value(1).run()
    assert position(at) == "iteration 0, after 4 · Backpropagation — event 4 of 8"
    store = open_store(str(db_path))
    assert summary_line(store.tree_at(1, iteration=1)) in captions(at)
    click(at, "End ⏭")
    assert summary_line(store.tree_at(1)) in captions(at)


def test_play_toggles_to_pause_and_restarts_from_the_beginning(
        stored_app: Callable[[str], AppTest]) -> None:
    at = stored_app(REPLAY)
    click(at, "▶ Play")
    assert at.session_state.replay_playing
    # Playing from the end starts again at the first event.
    assert position(at) == "iteration 0, after 1 · Selection — event 1 of 8"
    click(at, "⏸ Pause")
    assert not at.session_state.replay_playing


def test_inspector_at_a_replayed_moment(stored_app: Callable[[str], AppTest],
                                        db_path: Path) -> None:
    at = stored_app(REPLAY)
    tree = open_store(str(db_path)).tree_at(1)
    child = tree.root.children[-1]
    at.selectbox(key="replay_node").set_value(child).run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["N (visits)"] == str(tree.nodes[child].visits)
    assert any(c.startswith("UCT now (N_parent = 2)") for c in captions(at))


def test_no_runs_yet(app: AppTest) -> None:
    app.switch_page(REPLAY).run()
    assert "No saved runs to replay yet" in app.info[0].value
