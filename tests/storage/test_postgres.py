"""PostgreSQL only: what goes wrong with a server (wrong password, no such database, no
server, a server stopped mid-run) is a one-line error that names the host and never the
password, and a run survives a server restart."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pg_server import PASSWORD, PgServer, _free_port, remove_stale_servers
from storage_support import LiveSearch

from app.cli import main
from engine.core.tree import fold
from storage import StorageError, open_store
from storage.owners import alive


def _one_line_error(db: str) -> str:
    with pytest.raises(StorageError) as err:
        open_store(db)
    message = str(err.value)
    assert "\n" not in message and PASSWORD not in message
    assert "127.0.0.1" in message and "***" in message
    return message


def test_wrong_password_unknown_database_and_no_server(pg_server: PgServer,
                                                       capsys: pytest.CaptureFixture[str],
                                                       ) -> None:
    good = pg_server.new_database()
    name = good.rsplit("/", 1)[1]
    assert "cannot log in to PostgreSQL" in _one_line_error(
        pg_server.url(name, password="not-" + PASSWORD))
    assert "has no such database" in _one_line_error(pg_server.url("nowhere"))
    assert "cannot reach the PostgreSQL server" in _one_line_error(
        pg_server.url(name, port=_free_port()))
    # The CLI says the same in one line, with exit status 2.
    assert main(["runs", "--db", pg_server.url(name, password="wrong")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mctslab: error: cannot log in") and err.count("\n") == 1
    assert "wrong" not in err.replace("password authentication failed", "")


def test_url_from_the_environment_and_never_logged_with_its_password(
    pg_server: PgServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = pg_server.new_database()
    monkeypatch.setenv("MCTSLAB_DB", db)
    with caplog.at_level(logging.DEBUG):
        store = open_store(None)  # creates the schema: "migrating ..." is logged
    assert store.where.startswith("postgresql+psycopg://mctslab:***@127.0.0.1:")
    assert "migrating postgresql+psycopg://mctslab:***@127.0.0.1" in caplog.text
    assert PASSWORD not in caplog.text
    assert main(["runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_a_server_stopped_mid_run_keeps_the_finished_iterations_and_the_run_resumes(
    pg_server: PgServer, live_search: LiveSearch,
) -> None:
    appends = [step for step in live_search.steps if step is not None]
    store = open_store(pg_server.new_database())
    run_id = store.create_run(problem=live_search.problem, config=live_search.config,
                              model_name="m", model_fingerprint="f")
    for events, progress in appends[:10]:
        store.append_events(run_id, events, **progress)
    saved = sum(len(events) for events, _ in appends[:10])
    pg_server.stop()
    try:
        with pytest.raises(StorageError) as err:
            store.append_events(run_id, appends[10][0], **appends[10][1])
        message = str(err.value)
        assert "cannot reach the PostgreSQL server" in message and "127.0.0.1" in message
        assert "\n" not in message and PASSWORD not in message
    finally:
        pg_server.start()
    info = store.get_run(run_id)  # the same store: its dead connections are replaced
    assert info.iterations_done == appends[9][1]["iterations_done"]
    assert store.load_events(run_id) == live_search.events[:saved]
    store.claim_run(run_id, events_seen=saved)
    for events, progress in appends[10:]:
        store.append_events(run_id, events, **progress)
    store.set_status(run_id, "finished")
    after = open_store(store.url.render_as_string(hide_password=False))
    assert after.load_events(run_id) == live_search.events
    assert after.tree_at(run_id) == fold(live_search.problem, live_search.events)
    assert after.get_run(run_id).status == "finished"


def test_the_storage_benchmark_measures_in_a_given_database(
    pg_server: PgServer, live_search: LiveSearch,
) -> None:
    from app.bench.storage_cost import bench_storage

    db = pg_server.new_database()
    result = bench_storage(live_search.events, live_search.config, iterations=20, db=db)
    assert result["iterations"] == 20 and result["events"] == 80
    assert result["append_iteration_ms_median"] > 0 and result["db_megabytes"] > 0
    assert open_store(db).list_runs() == []  # its scratch run is deleted afterwards


def test_a_killed_session_leaves_no_server_behind(tmp_path: Path) -> None:
    # A "test session" that starts its server and is then killed: no finalizer, no atexit.
    session = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; sys.path.insert(0, sys.argv[1]); from pg_server import PgServer; "
         "s = PgServer(); s.start(); print(s.base, flush=True); time.sleep(600)",
         str(Path(__file__).parent)],
        stdout=subprocess.PIPE, text=True)
    assert session.stdout is not None
    base = Path(session.stdout.readline().strip())
    session.kill()
    session.wait()
    postmaster = int((base / "data" / "postmaster.pid").read_text().splitlines()[0])
    assert alive(postmaster)  # left behind by the killed session
    remove_stale_servers()  # what the next session's PgServer does first
    assert not base.exists()
    deadline = time.monotonic() + 30
    while alive(postmaster):
        assert time.monotonic() < deadline, "the stale server is still running"
        time.sleep(0.1)
