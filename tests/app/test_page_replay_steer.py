"""The Replay page on a run steered by hand: each pin and prune is a position of its own,
named, explained, and drawn on the graph and in the breakdown at its moment (AppTest)."""

from __future__ import annotations

from pathlib import Path

from apptest_support import captions, click, markdown_text, open_app_page
from synthetic_runs import closed_answer_events, save

from app.web import state
from engine.core.events import Steered
from storage import open_store

REPLAY = "page_scripts/replay.py"


def test_replay_steps_through_a_pin_and_a_prune(db_path: Path) -> None:
    events = closed_answer_events()
    at_iteration = events[-1].iteration
    events += [Steered(at_iteration, 2, "pin", 0.75), Steered(at_iteration, 1, "prune")]
    save(open_store(str(db_path)), events, "steered")
    at = open_app_page(REPLAY)
    assert any(c.endswith("event 7 of 7") and "Steered by hand" in c for c in captions(at))
    at.selectbox(key=state.REPLAY.node.name).set_value(2).run()
    now = at.dataframe[-1].value.set_index("child")
    assert now.loc["#2", "exploitation"] == 0.75 and now.loc["#2", "pinned"] == "0.750 (its Q)"
    assert now.loc["#1", "excluded"] == "pruned by hand"
    click(at, "Previous phase")  # before the prune: #1 is closed for its own reason
    assert any(c.endswith("event 6 of 7") for c in captions(at))
    now = at.dataframe[-1].value.set_index("child")
    assert now.loc["#1", "excluded"] != "pruned by hand"
    at.radio(key=state.REPLAY.panel.name).set_value("What just happened").run()
    assert "**Pinned** #2 at **0.750**" in markdown_text(at)
    assert not at.exception
