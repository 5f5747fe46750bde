"""Real processes: a search killed with SIGKILL, and four writers on one database; on SQLite
and on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, text, update
from sqlalchemy.exc import OperationalError, ProgrammingError
from storage_support import PROBLEM, DbFactory, LiveRun, integrity_problems

from app.bench.storage_cost import synthesize
from engine.core.config import make_config
from engine.core.events import event_to_dict
from engine.core.tree import check_invariants, fold
from storage import open_store
from storage.database import resolve_url, write_engine
from storage.models import RunRow

ROOT = Path(__file__).resolve().parents[2]
MCTSLAB = str(ROOT / ".venv" / "bin" / "mctslab")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
"""This checkout's code in the subprocesses (``.venv``'s editable install may be another's)."""
WRITERS = 4


def _stored_iterations(db: str) -> int:
    url = resolve_url(db)
    if url.get_backend_name() == "sqlite" and not Path(str(url.database)).exists():
        return 0
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT max(iterations_done) FROM runs")).scalar()
                       or 0)
    except (OperationalError, ProgrammingError):  # the schema is not created yet
        return 0
    finally:
        engine.dispose()


def test_kill_9_loses_at_most_the_iteration_in_flight_and_resume_continues(
    tmp_path: Path, new_db: DbFactory,
) -> None:
    db = new_db()
    out = tmp_path / "search.out"
    with out.open("w") as log:
        search = subprocess.Popen(
            [MCTSLAB, "search", PROBLEM, "--iterations", "200", "--seed", "2",
             "--children", "2", "--db", db, "--json"],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=ENV,
        )
        try:
            # Generous: on a crowded two-core machine an iteration can take a minute.
            deadline = time.monotonic() + 540
            while _stored_iterations(db) < 2:
                assert search.poll() is None, out.read_text()
                assert time.monotonic() < deadline, "the search stored no 2 iterations in time"
                time.sleep(0.05)
            seen = _stored_iterations(db)
            search.send_signal(signal.SIGKILL)
            assert search.wait(timeout=60) == -signal.SIGKILL
        finally:
            if search.poll() is None:
                search.kill()
                search.wait()

    assert integrity_problems(db) == []
    store = open_store(db)  # marks the dead writer's run interrupted
    (info,) = store.list_runs()
    assert info.status == "interrupted"
    assert seen <= info.iterations_done <= seen + 1
    events = store.load_events(info.id)
    # Whole iterations only: the one in flight is lost entirely or not at all.
    assert len(events) == 4 * info.iterations_done
    tree = fold(info.problem, events)
    assert tree.iterations_done == info.iterations_done and check_invariants(tree) == []

    resumed = subprocess.run(
        [MCTSLAB, "resume", str(info.id), "--iterations", "1", "--db", db, "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=300, env=ENV,
    )
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["run_id"] == info.id
    assert result["iterations"] == info.iterations_done + 1
    after = open_store(db)
    final = after.get_run(info.id)
    assert final.status == "finished" and final.iterations_done == info.iterations_done + 1
    all_events = after.load_events(info.id)
    assert all_events[: len(events)] == events
    assert len(all_events) == 4 * final.iterations_done
    assert after.tree_at(info.id) == fold(info.problem, all_events)
    assert len(result["nodes"]) == len(after.tree_at(info.id).nodes)


def test_four_processes_write_four_runs_at_once(
    live_run: LiveRun, tmp_path: Path, new_db: DbFactory,
) -> None:
    db = new_db()
    open_store(db).engine.dispose()  # create the schema before the race
    template = tmp_path / "template.json"
    template.write_text(json.dumps({
        "problem": PROBLEM, "config": live_run.config.model_dump(),
        "events": [event_to_dict(e) for e in live_run.events],
    }))
    iterations = 30
    seeds = range(1, WRITERS + 1)
    writers = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("storage_writer.py")), db,
             str(template), str(seed), str(iterations), str(tmp_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV,
        )
        for seed in seeds
    ]
    try:
        deadline = time.monotonic() + 300
        while not all((tmp_path / f"ready-{seed}").exists() for seed in seeds):
            assert all(w.poll() is None for w in writers), [w.stderr for w in writers]
            assert time.monotonic() < deadline, "the writers did not get ready in time"
            time.sleep(0.01)
        (tmp_path / "go").touch()  # all start together
        outputs = [w.communicate(timeout=300) for w in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
    for writer, (_, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
        assert "locked" not in err
    spans = [json.loads(out) for out, _ in outputs]
    # They really wrote at the same time.
    assert max(s["started"] for s in spans) < min(s["ended"] for s in spans)

    store = open_store(db)
    runs = {r.model_fingerprint: r for r in store.list_runs()}
    assert len(runs) == WRITERS
    for seed in seeds:
        info = runs[f"writer {seed}"]
        expected = synthesize(PROBLEM, live_run.events, iterations, live_run.config,
                              seed=seed)
        assert info.status == "finished" and info.iterations_done == iterations
        assert store.load_events(info.id) == expected
    assert integrity_problems(db) == []


def test_a_writer_waits_for_the_write_lock_of_another(new_db: DbFactory) -> None:
    """Writers take turns (SQLite: BEGIN IMMEDIATE; PostgreSQL: the advisory lock): an
    append waits while another connection's write transaction is open, then goes on."""
    db = new_db()
    first, second = open_store(db), open_store(db)
    config = make_config(seed=0)
    run_id, other = (first.create_run(problem=PROBLEM, config=config, model_name="m",
                                      model_fingerprint="f") for _ in range(2))
    done = threading.Event()

    def append() -> None:
        second.append_events(run_id, [], iterations_done=1)
        done.set()

    with write_engine(first.engine).begin() as conn:
        # Another run: no row lock stands in the second writer's way, only the write lock.
        conn.execute(update(RunRow).where(RunRow.id == other).values(title="holding"))
        waiter = threading.Thread(target=append)
        waiter.start()
        assert not done.wait(1.0), "the second writer did not wait for the first"
    waiter.join(timeout=30)
    assert done.is_set()
    assert second.get_run(run_id).iterations_done == 1
    assert second.get_run(other).title == "holding"
