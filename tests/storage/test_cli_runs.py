"""The saved-run subcommands: runs, replay, export, import, fork, delete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from storage_support import ITERATIONS, DbFactory, LiveRun, copy_store, db_dump

from app.cli import main
from engine.core.config import make_config
from engine.core.report import nodes_report
from storage import open_store


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if "--json" in argv and code == 0 else out), err


def test_runs_and_replay_json(live_run: LiveRun, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    store, db = copy_store(live_run, tmp_path)
    code, rows, _ = _cli(capsys, "runs", "--db", str(db), "--json")
    assert code == 0 and [r["run_id"] for r in rows] == [1]
    assert rows[0]["iterations"] == ITERATIONS and rows[0]["status"] == "finished"

    # Iterations count from 1: the 8th iteration's events carry Event.iteration 7.
    code, replay, _ = _cli(capsys, "replay", "1", "--iteration", "8", "--phase", "expand",
                           "--db", str(db), "--json")
    assert code == 0
    assert (replay["iteration"], replay["phase"]) == (8, "expand")
    assert replay["moment"] == "iteration 8 · after expand"
    expected = live_run.live_after_phase[(7, "expand")]
    assert replay["nodes"] == json.loads(json.dumps(nodes_report(expected, live_run.config)))
    keys = {"id", "parent", "kind", "text", "visits", "value_sum", "q", "prior", "uct",
            "depth", "terminal", "answer", "verdict"}
    assert all(keys <= set(node) for node in replay["nodes"])

    code, replay, _ = _cli(capsys, "replay", "1", "--iteration", "3", "--db", str(db),
                           "--json")
    assert (replay["iteration"], replay["phase"]) == (3, None)
    assert len(replay["nodes"]) == len(live_run.live_after_iteration[3].nodes)

    code, text, _ = _cli(capsys, "replay", "1", "--db", str(db))
    assert code == 0 and f"after {ITERATIONS} iterations" in text


def test_errors_are_one_line_with_exit_2(live_run: LiveRun, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _, db = copy_store(live_run, tmp_path)
    for argv, expected in [
        (["replay", "9"], "no run 9; `mctslab runs` lists them"),
        (["replay", "1", "--iteration", "99"], f"choose --iteration 0..{ITERATIONS}"),
        (["fork", "1", "--at", "99"], f"fork it at 0..{ITERATIONS}"),
        (["delete", "1"], "add --yes to delete run 1"),
        (["import", str(tmp_path / "missing.json")], "cannot read"),
    ]:
        code, _, err = _cli(capsys, *argv, "--db", str(db))
        assert code == 2, argv
        assert err.startswith("mctslab: error: ") and expected in err
        assert err.count("\n") == 1


def test_export_import_fork_delete(live_run: LiveRun, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    _, db = copy_store(live_run, tmp_path)
    exported = tmp_path / "run1.json"
    code, result, _ = _cli(capsys, "export", "1", "-o", str(exported), "--db", str(db),
                           "--json")
    assert code == 0 and result["events"] == len(live_run.events)

    assert live_run.new_db is not None
    other = live_run.new_db()
    code, row, _ = _cli(capsys, "import", str(exported), "--db", str(other), "--json")
    assert code == 0 and row["run_id"] == 1
    assert open_store(str(other)).tree_at(1) == live_run.live_after_iteration[-1]

    code, row, _ = _cli(capsys, "fork", "1", "--at", "4", "--seed", "9", "--c", "2.5",
                        "--db", str(db), "--json")
    assert code == 0
    fork_id = row["run_id"]
    store = open_store(str(db))
    fork = store.get_run(fork_id)
    assert fork.status == "paused" and fork.parent_run_id == 1
    assert (fork.config.seed, fork.config.exploration) == (9, 2.5)
    assert fork.config.children == live_run.config.children  # unchanged settings kept
    assert store.tree_at(fork_id) == live_run.live_after_iteration[4]

    before = db_dump(db)
    bad = tmp_path / "bad.json"
    bad.write_text(exported.read_text().replace('"version": 2', '"version": 3'))
    code, _, err = _cli(capsys, "import", str(bad), "--db", str(db))
    assert code == 2 and "newer MCTS Lab" in err and db_dump(db) == before

    code, _, _ = _cli(capsys, "delete", "1", "--yes", "--db", str(db))
    assert code == 0
    assert [r.id for r in open_store(str(db)).list_runs()] == [fork_id]


def test_fork_and_continue_with_the_model(live_run: LiveRun, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _, db = copy_store(live_run, tmp_path)
    code, result, _ = _cli(capsys, "fork", "1", "--at", "2", "--iterations", "1",
                           "--db", str(db), "--json")
    assert code == 0 and result["iterations"] == 3
    store = open_store(str(db))
    fork = store.get_run(result["run_id"])
    assert fork.status == "finished" and fork.iterations_done == 3
    events = store.load_events(fork.id)
    assert events[:8] == live_run.events[:8] and len(events) == 12
    assert len(result["nodes"]) == len(store.tree_at(fork.id).nodes)


def _as_user(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(variable, name)


def test_runs_show_who_made_them_and_filter_by_user_and_problem(
    new_db: DbFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = new_db()
    store = open_store(db)
    made = {}
    for user, problem in [("alice", "4 5 6 10"), ("bob", "1 2 3 4"), ("alice", "1 1 2 12")]:
        _as_user(monkeypatch, user)
        made[(user, problem)] = store.create_run(
            problem=problem, config=make_config(seed=0), model_name="m", model_fingerprint="f")
    assert store.get_run(made[("bob", "1 2 3 4")]).user_name == "bob"

    code, rows, _ = _cli(capsys, "runs", "--db", db, "--json")
    assert code == 0 and [(r["user"], r["problem"]) for r in rows] == [
        ("alice", "1 1 2 12"), ("bob", "1 2 3 4"), ("alice", "4 5 6 10")]
    code, rows, _ = _cli(capsys, "runs", "--user", "alice", "--db", db, "--json")
    assert [r["problem"] for r in rows] == ["1 1 2 12", "4 5 6 10"]
    code, rows, _ = _cli(capsys, "runs", "--problem", "1 2", "--db", db, "--json")
    assert [r["problem"] for r in rows] == ["1 1 2 12", "1 2 3 4"]
    code, rows, _ = _cli(capsys, "runs", "--user", "alice", "--problem", "2 3", "--db", db,
                         "--json")
    assert rows == []
    code, text, _ = _cli(capsys, "runs", "--user", "bob", "--db", db)
    assert code == 0 and len(text.splitlines()) == 2 and " bob " in text.splitlines()[1]
    code, text, _ = _cli(capsys, "runs", "--user", "carol", "--db", db)
    assert "no saved run matches --user/--problem" in text

    # Export and import carry the user; an export written before it was recorded imports
    # without one.
    _as_user(monkeypatch, "carol")
    doc = store.export_run(made[("bob", "1 2 3 4")])
    assert doc["run"]["user_name"] == "bob"
    assert store.get_run(store.import_run(doc)).user_name == "bob"
    del doc["run"]["user_name"]
    assert store.get_run(store.import_run(doc)).user_name is None
