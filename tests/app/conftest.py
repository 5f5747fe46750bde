"""AppTest fixtures: the real app script, the real demo model, a real SQLite file per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from apptest_support import APP_SCRIPT, TIMEOUT_S, copy_db, open_app_page
from streamlit.testing.v1 import AppTest


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


@pytest.fixture(scope="session")
def beam_run_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A database holding one saved beam-search run on '4 5 6 10' (a small budget), saved as
    ``mctslab eval --save-runs`` saves it."""
    from app.runs.strategies import save_run
    from engine.backends.hf import HFModel
    from engine.core.config import make_config
    from engine.strategies.runner import StrategySettings, run_strategy
    from storage import open_store

    path = tmp_path_factory.mktemp("beam") / "runs.db"
    model = HFModel()
    settings = StrategySettings(token_budget=40, mcts_config=make_config(seed=1),
                                beam_width=2, stop_when_solved=False)
    result = run_strategy("beam", model, "4 5 6 10", settings)
    return path, save_run(open_store(str(path)), model, result)


@pytest.fixture
def stored_app(stored_run_db: tuple[Path, int], db_path: Path) -> Callable[[str], AppTest]:
    """A copy of the stored run's database for this test, and a way to open a page of the
    app on it."""
    copy_db(stored_run_db[0], db_path)
    return open_app_page
