"""Replay: the tree folded from the database equals the live tree at every moment."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from storage_support import (
    ITERATIONS,
    MANUAL_REFLECTION_AFTER,
    DbFactory,
    LiveRun,
    copy_store,
    integrity_problems,
)

from engine.core.events import PHASES, Expanded
from engine.core.tree import check_invariants, fold
from storage import StorageError, open_store


def test_live_tree_equals_tree_replayed_after_every_iteration(live_run: LiveRun) -> None:
    assert len(live_run.replayed_after_append) == ITERATIONS + 1
    for k, (live, replayed) in enumerate(
        zip(live_run.live_after_iteration, live_run.replayed_after_append, strict=True)
    ):
        assert replayed == live, f"tree differs after iteration {k}"
        assert replayed.iterations_done == k
        assert check_invariants(replayed) == []
    # The run is not trivial: it grew a tree, with the hand-added reflection in it.
    final = live_run.live_after_iteration[-1]
    assert len(final.nodes) > 10
    assert any(n.kind == "reflection" for n in final.nodes)


def test_replay_to_every_phase_and_iteration(live_run: LiveRun) -> None:
    # Iterations count from 1: the live fixture's (k, phase) is 0-based (Event.iteration),
    # so it is iteration k + 1 for the store.
    store = open_store(str(live_run.db))
    for (k, phase), live in live_run.live_after_phase.items():
        if (k + 1, phase) == (MANUAL_REFLECTION_AFTER, "backprop"):
            # The end of iteration 5 includes the reflection added before iteration 6 began.
            assert store.tree_at(live_run.run_id, iteration=k + 1, phase=phase) != live
            continue
        assert store.tree_at(live_run.run_id, iteration=k + 1, phase=phase) == live, (k, phase)
    for k, live in enumerate(live_run.live_after_iteration):
        if k == MANUAL_REFLECTION_AFTER:
            # "after k iterations" includes the reflection added before iteration k + 1 began.
            assert store.tree_at(live_run.run_id, iteration=k) != live
            continue
        assert store.tree_at(live_run.run_id, iteration=k) == live, k
    assert store.tree_at(live_run.run_id) == live_run.live_after_iteration[-1]
    # --phase alone means that phase of the last iteration.
    assert store.tree_at(live_run.run_id, phase="simulate") == (
        live_run.live_after_phase[(ITERATIONS - 1, "simulate")])


def test_the_end_of_iteration_k_is_after_k_iterations(live_run: LiveRun) -> None:
    """`--iteration K --phase backprop` and `--iteration K` are one moment, for every K,
    the one with a reflection added by hand after it included."""
    store = open_store(str(live_run.db))
    for k in range(1, ITERATIONS + 1):
        end = store.tree_at(live_run.run_id, iteration=k, phase="backprop")
        assert end == store.tree_at(live_run.run_id, iteration=k), k
        assert (end.iterations_done, end.next_phase) == (k, "select")
    after_select = store.tree_at(live_run.run_id, iteration=1, phase="select")
    assert (after_select.iterations_done, after_select.next_phase) == (0, "expand")
    assert store.tree_at(live_run.run_id, iteration=0).nodes == [
        live_run.live_after_iteration[0].root]


def test_manual_reflection_is_replayed_between_iterations(live_run: LiveRun) -> None:
    store = open_store(str(live_run.db))
    k = MANUAL_REFLECTION_AFTER
    tree = store.tree_at(live_run.run_id, iteration=k)
    before = live_run.live_after_iteration[k]
    assert len(tree.nodes) == len(before.nodes) + 1
    assert tree.nodes[-1].kind == "reflection" and tree.nodes[-1].parent == live_run.manual_parent
    events = store.load_events(live_run.run_id, upto_iteration=k)
    assert isinstance(events[-1], Expanded) and events[-1].origin == "reflection_by_hand"


def test_load_events_round_trips_every_event(live_run: LiveRun) -> None:
    store = open_store(str(live_run.db))
    assert store.load_events(live_run.run_id) == live_run.events
    assert len(live_run.events) == 4 * ITERATIONS + 1
    assert store.load_events(live_run.run_id, upto_iteration=0) == []
    first3 = store.load_events(live_run.run_id, upto_iteration=3)
    assert first3 == live_run.events[:12]
    assert fold(live_run.live_after_iteration[0].problem, first3) == (
        live_run.live_after_iteration[3])


def test_run_record_tracks_progress(live_run: LiveRun) -> None:
    store = open_store(str(live_run.db))
    info = store.get_run(live_run.run_id)
    final = live_run.live_after_iteration[-1]
    assert info.status == "finished"
    assert info.iterations_done == ITERATIONS
    assert info.config == live_run.config and info.seed == 3 and info.task == "game24"
    assert info.model_name == "demo" and info.schema_version == 3
    assert info.title == "live" and info.problem == final.problem
    from engine.core.tree import best_answer

    assert (info.best_answer, info.solved) == best_answer(final)
    assert info.created_at <= info.updated_at


@pytest.mark.parametrize(
    ("iteration", "phase", "expected"),
    [
        (ITERATIONS + 1, None, f"choose --iteration 0..{ITERATIONS}"),
        (-1, None, f"choose --iteration 0..{ITERATIONS}"),
        (ITERATIONS + 1, "select", f"iterations 1..{ITERATIONS} have events"),
        (0, "select", r"iteration 0 is the start \(the root alone\) and has no phases"),
        (0, "rollout", "unknown phase 'rollout'"),
    ],
)
def test_out_of_range_moments_say_the_valid_range(
    live_run: LiveRun, iteration: int, phase: str | None, expected: str
) -> None:
    store = open_store(str(live_run.db))
    with pytest.raises(StorageError, match=expected) as err:
        store.tree_at(live_run.run_id, iteration=iteration, phase=phase)
    assert "\n" not in str(err.value)


def test_unknown_run_id(new_db: DbFactory) -> None:
    store = open_store(new_db())
    for call in (lambda: store.get_run(7), lambda: store.load_events(7),
                 lambda: store.tree_at(7), lambda: store.delete_run(7),
                 lambda: store.export_run(7), lambda: store.set_status(7, "failed"),
                 lambda: store.append_events(7, [], iterations_done=0)):
        with pytest.raises(StorageError, match=r"^no run 7; `mctslab runs` lists them$"):
            call()


def test_fork_copies_the_first_iterations_with_a_new_config(
    live_run: LiveRun, tmp_path: Path
) -> None:
    store, _ = copy_store(live_run, tmp_path)
    config = live_run.config.model_copy(update={"seed": 11, "exploration": 2.0})
    fork_id = store.fork_run(1, 4, config)
    fork = store.get_run(fork_id)
    assert (fork.parent_run_id, fork.fork_iteration, fork.iterations_done) == (1, 4, 4)
    assert fork.config == config and fork.seed == 11 and fork.status == "running"
    assert store.load_events(fork_id) == live_run.events[:16]
    assert store.tree_at(fork_id) == live_run.live_after_iteration[4]
    with pytest.raises(StorageError, match=f"fork it at 0..{ITERATIONS}"):
        store.fork_run(1, ITERATIONS + 1, config)
    # Deleting the parent keeps the fork whole; only its link is cleared.
    store.delete_run(1)
    assert store.get_run(fork_id).parent_run_id is None
    assert store.tree_at(fork_id) == live_run.live_after_iteration[4]


def test_delete_removes_the_events_and_list_is_newest_first(
    live_run: LiveRun, tmp_path: Path
) -> None:
    store, db = copy_store(live_run, tmp_path)
    second = store.fork_run(1, 2, live_run.config)
    assert [r.id for r in store.list_runs()] == [second, 1]
    store.delete_run(1)
    assert [r.id for r in store.list_runs()] == [second]
    with store.engine.connect() as conn:
        count = "SELECT count(*) FROM events WHERE run_id = :run"
        assert conn.execute(text(count), {"run": 1}).scalar() == 0
        assert conn.execute(text(count), {"run": second}).scalar() == 8
    assert integrity_problems(db) == []


def test_export_import_round_trip(live_run: LiveRun, tmp_path: Path) -> None:
    source = open_store(str(live_run.db))
    doc = source.export_run(live_run.run_id)
    assert doc["format"] == "mctslab-run" and doc["version"] == 2
    assert len(doc["events"]) == len(live_run.events)
    assert live_run.new_db is not None
    target = open_store(live_run.new_db())
    new_id = target.import_run(doc)
    assert target.tree_at(new_id) == live_run.live_after_iteration[-1]
    original, imported = source.get_run(live_run.run_id), target.get_run(new_id)
    for name in ("problem", "task", "config", "seed", "status", "iterations_done",
                 "best_answer", "solved", "model_name", "model_fingerprint", "title",
                 "created_at", "user_name"):
        assert getattr(imported, name) == getattr(original, name), name
    assert target.export_run(new_id)["events"] == doc["events"]


def test_status_changes_and_unknown_status(tmp_path: Path, live_run: LiveRun) -> None:
    store, _ = copy_store(live_run, tmp_path)
    store.set_status(1, "failed")
    assert store.get_run(1).status == "failed"
    with pytest.raises(StorageError, match="unknown run status 'stuck'"):
        store.set_status(1, "stuck")


def test_phases_constant_matches_the_cli(live_run: LiveRun) -> None:
    from app.cli.runs import PHASE_CHOICES

    assert tuple(PHASE_CHOICES) == PHASES
