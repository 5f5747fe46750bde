"""Who may write a run: a run is ``running`` only while a step is in flight (issue 12, #8).

An app run between clicks is ``paused``: a closed tab never locks it, the CLI and another
tab can resume it, and a copy that someone else continued since is refused instead of
forking the run's history. A dead writer, here or (after ``STALE_WRITER_S``) on another
host, never locks a run for good.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from storage_support import DbFactory

from app.runs.live import LiveRun
from engine.core.config import make_config
from storage import open_store
from storage.errors import StorageError
from storage.models import RunRow
from storage.rows import now_utc
from storage.store import STALE_WRITER_S, RunStore

ROOT = Path(__file__).resolve().parents[2]
MCTSLAB = str(ROOT / ".venv" / "bin" / "mctslab")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
"""This checkout's code in the subprocesses (``.venv``'s editable install may be another's)."""
CONFIG = make_config(seed=0, children=2, rollout_max_tokens=32)


def _app_run(store: RunStore, demo_model) -> LiveRun:  # type: ignore[no-untyped-def]
    live = LiveRun.start(store, demo_model, CONFIG, "4 5 6 10")
    live.step_iteration(store)
    live.step_phase(store)
    return live


def _set_owner(store: RunStore, run_id: int, **values: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(RunRow).where(RunRow.id == run_id).values(**values))


def test_an_idle_app_run_is_paused_and_the_cli_resumes_it(demo_model, new_db: DbFactory) -> None:  # type: ignore[no-untyped-def]
    db = new_db()
    store = open_store(db)
    live = _app_run(store, demo_model)
    info = store.get_run(live.run_id)
    assert (info.status, info.owner_pid, info.owner_host) == ("paused", None, None)
    stored = len(store.load_events(live.run_id))
    assert stored == len(live.search.events) == 5

    # The tab is "closed" (the app process keeps running): the CLI takes the run over.
    resumed = subprocess.run(
        [MCTSLAB, "resume", str(live.run_id), "--iterations", "1", "--db", db, "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=300, env=ENV,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["iterations"] == 2
    after = store.get_run(live.run_id)
    assert after.status == "finished" and after.iterations_done == 2

    # The tab comes back: its copy is stale, so its next step is refused and writes nothing.
    with pytest.raises(StorageError, match=rf"run {live.run_id} was continued elsewhere"):
        live.step_phase(store)
    assert store.get_run(live.run_id).status == "finished"
    assert len(store.load_events(live.run_id)) > stored
    assert store.load_events(live.run_id)[:stored] == live.search.events[:stored]


def test_a_second_tab_continues_and_the_first_is_refused(demo_model, new_db: DbFactory) -> None:  # type: ignore[no-untyped-def]
    store = open_store(new_db())
    first = _app_run(store, demo_model)
    second = LiveRun.resume(store, demo_model, first.run_id)
    assert store.get_run(first.run_id).status == "paused"
    second.step_iteration(store)
    events = store.load_events(first.run_id)
    assert events == second.search.events
    with pytest.raises(StorageError, match="continued elsewhere"):
        first.step_iteration(store)
    assert store.load_events(first.run_id) == events
    assert store.get_run(first.run_id).status == "paused"


def test_one_step_at_a_time_within_the_app_process(demo_model, new_db: DbFactory) -> None:  # type: ignore[no-untyped-def]
    store = open_store(new_db())
    live = _app_run(store, demo_model)
    store.claim_run(live.run_id, events_seen=len(live.search.events))  # a step in flight
    assert store.get_run(live.run_id).status == "running"
    with pytest.raises(StorageError, match="another session of this app"):
        LiveRun.resume(store, demo_model, live.run_id)
    store.release_run(live.run_id)
    assert store.get_run(live.run_id).status == "paused"
    LiveRun.resume(store, demo_model, live.run_id).step_phase(store)


def test_a_live_writer_blocks_and_a_dead_one_does_not(demo_model, new_db: DbFactory) -> None:  # type: ignore[no-untyped-def]
    db = new_db()
    store = open_store(db)
    live = _app_run(store, demo_model)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from storage import open_store; "
         "open_store(sys.argv[1]).claim_run(int(sys.argv[2])); print('claimed', flush=True); "
         "time.sleep(600)", db, str(live.run_id)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env=ENV,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "claimed\n"
        info = store.get_run(live.run_id)
        assert (info.status, info.owner_pid) == ("running", holder.pid)
        with pytest.raises(StorageError, match=f"being written by process {holder.pid}"):
            live.step_phase(store)
    finally:
        holder.kill()
        holder.wait()
    live.step_phase(store)  # its writer died: nothing waits for it
    assert store.get_run(live.run_id).status == "paused"
    assert len(store.load_events(live.run_id)) == len(live.search.events)


def test_another_hosts_writer_is_waited_for_until_it_goes_quiet(  # type: ignore[no-untyped-def]
    demo_model, new_db: DbFactory,
) -> None:
    store = open_store(new_db())
    live = _app_run(store, demo_model)
    _set_owner(store, live.run_id, status="running", owner_pid=12345,
               owner_host="another-host.example", updated_at=now_utc())
    with pytest.raises(StorageError, match="on another-host.example .* 15 minutes"):
        live.step_phase(store)
    quiet = now_utc() - timedelta(seconds=STALE_WRITER_S + 5)
    _set_owner(store, live.run_id, updated_at=quiet)
    live.step_phase(store)
    assert store.get_run(live.run_id).status == "paused"


def test_a_new_app_run_is_paused_until_its_first_step(demo_model, new_db: DbFactory) -> None:  # type: ignore[no-untyped-def]
    store = open_store(new_db())
    live = LiveRun.start(store, demo_model, CONFIG, "4 5 6 10")
    assert store.get_run(live.run_id).status == "paused"
    with pytest.raises(StorageError, match="not 'finished'"):
        store.create_run(problem="4 5 6 10", config=CONFIG, model_name="m",
                         model_fingerprint="f", status="finished")
