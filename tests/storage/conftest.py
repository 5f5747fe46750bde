"""The storage suite runs against SQLite and against a real PostgreSQL 15 server.

``backend`` is a session fixture with one param per database; a test that takes ``new_db``
(a fresh, empty database of that kind, as the string ``--db`` takes) or ``live_run`` runs once
per backend. The PostgreSQL server (``tests/storage/pg_server.py``) is started once, by the
first test that needs it, and stopped and removed at the end of the session.

``live_search`` is a real search with the bundled demo model: 30 iterations stepped phase by
phase (with one reflection added by hand, as the app allows), the live tree kept after every
phase. ``live_run`` writes that search into a fresh database of its backend the way the CLI
does, one append per iteration, and right after every append folds the run back out of the
database. The tests compare those replays with the live trees of the same moments.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_server import PgServer
from storage_support import (
    BACKENDS,
    ITERATIONS,
    MANUAL_REFLECTION_AFTER,
    PROBLEM,
    DbFactory,
    LiveRun,
    LiveSearch,
)

from engine.core.config import make_config
from engine.core.report import search_summary
from storage import open_store


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    try:
        server.start()
        yield server
    finally:
        server.stop(remove=True)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _factory(backend: str, folder: Path, request: pytest.FixtureRequest) -> DbFactory:
    server = request.getfixturevalue("pg_server") if backend == "postgresql" else None
    return DbFactory(backend, folder, server)


@pytest.fixture
def new_db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> DbFactory:
    """``new_db()``: a fresh database of this test's backend (a path or a URL)."""
    return _factory(backend, tmp_path, request)


@pytest.fixture(scope="session")
def live_search(demo_model) -> LiveSearch:  # type: ignore[no-untyped-def]
    from engine.strategies.search import Search

    # Two children and short rollouts keep 30 iterations affordable on two CPU cores.
    config = make_config(seed=3, children=2, rollout_max_tokens=48, reflection="on")
    search = Search(demo_model, config, PROBLEM)
    live = LiveSearch(problem=search.tree.problem, config=config, model_name=demo_model.name,
                      model_fingerprint=demo_model.fingerprint, events=search.events)
    live.live_after_iteration.append(search.tree.copy())
    live.steps.append(None)
    for k in range(ITERATIONS):
        if k == MANUAL_REFLECTION_AFTER:
            tree = search.tree
            live.manual_parent = next(
                n.id for n in tree.nodes
                if not any(tree.nodes[c].kind == "reflection" for c in n.children))
            manual = search.add_reflection(live.manual_parent)
            live.steps.append(([manual], {"iterations_done": k}))
        events = []
        for phase in ("select", "expand", "simulate", "backprop"):
            event = search.step_phase()
            assert event.phase == phase
            events.append(event)
            live.live_after_phase[(k, phase)] = search.tree.copy()
        summary = search_summary(search.tree)
        live.steps.append((events, {"iterations_done": search.tree.iterations_done,
                                    "best_answer": summary["best_answer"],
                                    "solved": summary["solved"]}))
        live.live_after_iteration.append(search.tree.copy())
        live.steps.append(None)
    return live


@pytest.fixture(scope="session")
def live_run(live_search: LiveSearch, backend: str, tmp_path_factory: pytest.TempPathFactory,
             request: pytest.FixtureRequest) -> LiveRun:
    new_db = _factory(backend, tmp_path_factory.mktemp(f"live-{backend}"), request)
    db = new_db()
    store = open_store(db)
    run_id = store.create_run(problem=live_search.problem, config=live_search.config,
                              model_name=live_search.model_name,
                              model_fingerprint=live_search.model_fingerprint, title="live")
    replayed = []
    for step in live_search.steps:
        if step is None:
            replayed.append(store.tree_at(run_id))
        else:
            events, progress = step
            store.append_events(run_id, events, **progress)
    store.set_status(run_id, "finished")
    store.engine.dispose()
    return LiveRun(db=db, run_id=run_id, config=live_search.config, events=live_search.events,
                   live_after_iteration=live_search.live_after_iteration,
                   live_after_phase=live_search.live_after_phase,
                   manual_parent=live_search.manual_parent, replayed_after_append=replayed,
                   backend=backend, new_db=new_db)
