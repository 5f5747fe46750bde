"""``mctslab steer`` on a saved run: each action is one saved event, a refusal one line with
nothing saved (the real demo model, a real SQLite file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from engine.core.events import Steered
from storage import open_store


def test_steer_a_saved_run_from_the_command_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "runs.db")
    assert main(["search", "4 5 6 10", "--iterations", "2", "--widening", "0",
                 "--db", db, "--json"]) == 0
    capsys.readouterr()
    store = open_store(db)
    run_id = store.list_runs()[0].id
    nodes = len(store.tree_at(run_id).nodes)

    assert main(["steer", str(run_id), "--step", "0", "Step: 6-5=1 (left: 1 4 10)",
                 "--db", db, "--json"]) == 0
    added = json.loads(capsys.readouterr().out)["event"]
    assert added["origin"] == "user" and added["children"][0]["id"] == nodes
    assert main(["steer", str(run_id), "--pin", f"{nodes}=0.9", "--db", db]) == 0
    assert capsys.readouterr().out.strip() == f"run {run_id}: pin #{nodes} at 0.9"
    assert main(["steer", str(run_id), "--prune", str(nodes), "--db", db]) == 0
    assert main(["steer", str(run_id), "--restore", str(nodes), "--db", db]) == 0
    assert main(["steer", str(run_id), "--unpin", str(nodes), "--db", db]) == 0
    capsys.readouterr()

    for argv, message in [
        (["--pin", f"{nodes}=2"], "from 0 to 1"),
        (["--pin", "x"], "NODE=VALUE"),
        (["--prune", "0"], "root cannot be pruned"),
        (["--step", "99", "Step: 1+1=2"], "no node 99"),
    ]:
        assert main(["steer", str(run_id), *argv, "--db", db]) == 2
        errors = [line for line in capsys.readouterr().err.splitlines()
                  if line.startswith("mctslab: error:")]
        assert len(errors) == 1 and message in errors[0], errors
    events = store.load_events(run_id)
    assert [e.action for e in events if isinstance(e, Steered)] == \
        ["pin", "prune", "restore", "unpin"]
    tree = store.tree_at(run_id)
    assert tree.nodes[nodes].origin == "user" and tree.nodes[nodes].pinned is None
    assert store.get_run(run_id).status == "paused"
    # Replay names the actions taken by hand.
    assert main(["replay", str(run_id), "--db", db]) == 0
    out = capsys.readouterr().out
    assert f"by hand: pin #{nodes} at 0.9, prune #{nodes}, restore #{nodes}, unpin #{nodes}" \
        in out, out
    assert main(["replay", str(run_id), "--db", db, "--json"]) == 0
    row = next(n for n in json.loads(capsys.readouterr().out)["nodes"] if n["id"] == nodes)
    assert (row["origin"], row["pinned"], row["pruned"]) == ("user", None, False)
    # The steered run resumes from the command line.
    assert main(["resume", str(run_id), "--iterations", "1", "--db", db]) == 0
    assert store.get_run(run_id).iterations_done == 3
