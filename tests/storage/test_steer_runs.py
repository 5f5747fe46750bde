"""Steering by hand, stored: a user's step, pin, unpin, prune and restore are saved as they
happen in a real SQLite file, replay at their moment, and survive export and import, fork
and resume (the real demo model)."""

from __future__ import annotations

import json
from pathlib import Path

from engine.backends.hf import HFModel
from engine.core.config import make_config
from engine.core.events import Event, Steered, event_to_dict
from engine.core.tree import Tree, check_invariants
from engine.strategies.search import Search
from storage import open_store
from storage.transfer import parse_export

PROBLEM = "4 5 6 10"


def test_steered_run_replays_round_trips_forks_and_resumes(
        demo_model: HFModel, tmp_path: Path) -> None:
    from app.runs.resume import resume_search

    config = make_config(seed=7, widening=0)
    store = open_store(str(tmp_path / "runs.db"))
    search = Search(demo_model, config, PROBLEM)
    run_id = store.create_run(problem=search.tree.problem, config=config,
                              model_name=demo_model.name,
                              model_fingerprint=demo_model.fingerprint)
    after_iterations: dict[int, Tree] = {}
    after_phase: dict[tuple[int, str], Tree] = {}

    def save(event: Event) -> None:
        """Append one event, then read the run back: the same tree as the live one."""
        store.append_events(run_id, [event], iterations_done=search.tree.iterations_done)
        assert store.tree_at(run_id) == search.tree
        if not isinstance(event, Steered) and (event.phase != "expand" or
                                               event.origin == "phase"):  # type: ignore[union-attr]
            after_phase[(event.iteration, event.phase)] = search.tree.copy()

    def iteration() -> None:
        after_iterations[search.tree.iterations_done] = search.tree.copy()
        while True:
            save(search.step_phase())
            if search.tree.next_phase == "select":
                break

    for _ in range(2):
        iteration()
    save(search.add_user_step(0, "Step: 10-4=6 (left: 5 6 6)"))
    mine = len(search.tree.nodes) - 1
    save(search.steer(mine, "pin", 0.9))
    iteration()
    after_iterations[search.tree.iterations_done] = search.tree.copy()
    save(search.step_phase())  # a select, then a prune in the middle of the iteration
    first = search.tree.root.children[0]
    save(search.steer(first, "prune"))
    for _ in range(3):
        save(search.step_phase())
    save(search.steer(mine, "unpin"))
    save(search.steer(first, "restore"))
    save(search.add_user_step(mine, "Step: 6/6=1 (left: 1 5)"))
    iteration()
    after_iterations[search.tree.iterations_done] = search.tree.copy()
    assert check_invariants(search.tree) == []
    assert [e.action for e in search.events if isinstance(e, Steered)] == \
        ["pin", "prune", "unpin", "restore"]

    # Every moment replays: after k iterations (the hand's actions before iteration k + 1
    # began included) and after each phase of each iteration (counted from 1).
    for k, tree in after_iterations.items():
        assert store.tree_at(run_id, iteration=k) == tree, k
    for (it, phase), tree in after_phase.items():
        if phase == "backprop" and after_iterations[it + 1] != tree:
            continue  # the end of an iteration includes the actions after it
        assert store.tree_at(run_id, iteration=it + 1, phase=phase) == tree, (it, phase)

    # Export, through JSON bytes, and import into the same file and into a fresh one.
    doc = store.export_run(run_id)
    steer_dicts = [e for e in doc["events"] if e["phase"] == "steer"]
    assert [e["action"] for e in steer_dicts] == ["pin", "prune", "unpin", "restore"]
    assert json.loads(json.dumps([event_to_dict(e) for e in search.events])) == doc["events"]
    parsed = parse_export(json.dumps(doc).encode(), "steered.json")
    other = open_store(str(tmp_path / "other.db"))
    for target in (store, other):
        new_id = target.import_run(parsed)
        assert target.load_events(new_id) == search.events
        assert target.tree_at(new_id) == search.tree

    # Fork after 3 iterations: the pin and the user's step before iteration 4 come along.
    fork_id = store.fork_run(run_id, 3, config)
    forked = store.tree_at(fork_id)
    assert forked == after_iterations[3]
    assert forked.nodes[mine].pinned == 0.9 and forked.nodes[mine].origin == "user"

    # Resume the run and steer on: the continued run folds to the live tree again.
    store.release_run(run_id)
    resumed = resume_search(store, run_id, demo_model)
    assert resumed.tree == search.tree
    more = [resumed.steer(mine, "prune"), *resumed.step_iteration()]
    more.append(resumed.steer(mine, "restore"))
    store.append_events(run_id, more, iterations_done=resumed.tree.iterations_done,
                        release=True)
    assert store.tree_at(run_id) == resumed.tree
    assert not resumed.tree.nodes[mine].pruned
    assert mine not in more[1].path  # type: ignore[union-attr]
