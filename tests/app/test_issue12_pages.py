"""Issue 12 on the pages (AppTest, the real demo model, a real SQLite file): tokens counted
when spent, settings labelled and shown only when they apply, the example button, the
freeform warning, Stop's message, icons that ship with the app, answers labelled."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

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
        click(at, "Next phase ▶")
        line = next(c for c in captions(at) if "tokens generated" in c)
        before, shown = shown, generated(line)
        if event.phase != "select":
            assert event.tokens is not None
            assert shown == event.tokens.generated, (event.phase, line)
        if shown > before:
            grew_at.append(event.phase)
    # Children are counted at their expansion, a rollout at its simulation.
    assert "expand" in grew_at and "simulate" in grew_at, grew_at
