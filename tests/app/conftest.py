"""AppTest fixtures: the real app script, the real demo model, a real SQLite file per test."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP_SCRIPT = Path(__file__).resolve().parents[2] / "app" / "web" / "streamlit_app.py"
TIMEOUT_S = 300


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty database file for this test, given to the app as ``mctslab app --db`` does."""
    path = tmp_path / "runs.db"
    monkeypatch.setenv("MCTSLAB_DB", str(path))
    return path


@pytest.fixture
def app(db_path: Path) -> AppTest:
    """The whole app (entry script and navigation), run once."""
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=TIMEOUT_S)
    at.run()
    assert not at.exception
    return at


@pytest.fixture(scope="session")
def stored_run_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """A database holding one run of 2 iterations on '4 5 6 10', made by the live search."""
    from app.runs.live import LiveRun
    from engine.backends.hf import HFModel
    from engine.core.config import make_config
    from storage import open_store

    path = tmp_path_factory.mktemp("stored") / "runs.db"
    store = open_store(str(path))
    live = LiveRun.start(store, HFModel(), make_config(seed=3), "4 5 6 10", title="stored run")
    for _ in range(2):
        live.step_iteration(store)
    store.set_status(live.run_id, "finished")
    yield path, live.run_id


@pytest.fixture
def stored_app(stored_run_db: tuple[Path, int], db_path: Path) -> Callable[[str], AppTest]:
    """A copy of the stored run's database for this test, and a way to open a page of the
    app on it."""
    # SQLite's backup API copies what is still in the write-ahead log too.
    with sqlite3.connect(stored_run_db[0]) as source, sqlite3.connect(db_path) as target:
        source.backup(target)

    def open_page(page: str) -> AppTest:
        at = AppTest.from_file(str(APP_SCRIPT), default_timeout=TIMEOUT_S)
        at.run()
        at.switch_page(page).run()
        assert not at.exception
        return at

    return open_page
