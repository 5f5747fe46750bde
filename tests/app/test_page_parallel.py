"""Parallel rounds on the Search page (AppTest, the real demo model, a real SQLite file):
Next phase runs the round's phase for every iteration of the round, the status line names
the round, the teaching text names the virtual loss, and the store holds every event."""

from __future__ import annotations

from pathlib import Path

from apptest_support import captions, click, markdown_text
from streamlit.testing.v1 import AppTest

from app.web import state
from engine.core.events import Selected
from engine.core.tree import fold
from storage import open_store


def status(at: AppTest) -> str:
    line = next((c for c in captions(at) if c.startswith("Run #")), None)
    assert line is not None, captions(at)
    return line


def test_next_phase_steps_a_whole_round(app: AppTest, db_path: Path) -> None:
    app.sidebar.number_input(key=state.setting("parallel").name).set_value(4).run()
    app.sidebar.text_area(key=state.PROBLEM.name).set_value("4 5 6 10")
    click(app, "New run")
    click(app, "Next iteration")
    click(app, "Next iteration")
    click(app, "Next iteration")  # the root has children now: rounds can hold several
    done = int(status(app).split("after ")[1].split(" iteration")[0])
    click(app, "Next phase")  # the next round's selections, all of them
    line = status(app)
    assert "after select (round of iterations" in line, line
    first, last = (int(x) for x in line.split("round of iterations ")[1].split(")")[0]
                   .split("-"))
    assert first == done + 1 and last > first
    assert "next phase: expand" in line
    app.radio(key=state.LIVE.panel.name).set_value("What just happened").run()
    text = markdown_text(app)
    assert "virtual loss" in text, text
    assert f"one of {last - first + 1} selections of a parallel round" in text, text
    click(app, "Next phase")
    assert "next phase: simulate" in status(app)
    click(app, "Next iteration")  # the rest of the round: simulations and backups
    assert f"after {last} iterations" in status(app), status(app)
    store = open_store(str(db_path))
    run = store.list_runs()[0]
    events = store.load_events(run.id)
    tree = fold(run.problem, events)
    assert tree.iterations_done == last and tree.next_phase == "select"
    sizes = {e.round_size for e in events if isinstance(e, Selected)}
    assert sizes - {1}, sizes
