"""A real search with the bundled demo model, saved to a real SQLite file as it runs.

``live_run`` steps 30 iterations phase by phase (with one reflection added by hand, as the
app allows), appends each iteration's events the way the CLI does, and right after every
append folds the run back out of the database. The tests compare those replays with the
live tree snapshots taken at the same moments.
"""

from __future__ import annotations

import pytest
from storage_support import ITERATIONS, MANUAL_REFLECTION_AFTER, PROBLEM, LiveRun

from engine.core.config import make_config
from engine.core.report import search_summary
from storage import open_store


@pytest.fixture(scope="session")
def live_run(demo_model, tmp_path_factory) -> LiveRun:  # type: ignore[no-untyped-def]
    from engine.strategies.search import Search

    db = tmp_path_factory.mktemp("live") / "live.db"
    store = open_store(str(db))
    # Two children and short rollouts keep 30 iterations affordable on two CPU cores.
    config = make_config(seed=3, children=2, rollout_max_tokens=48, reflection="on")
    search = Search(demo_model, config, PROBLEM)
    run_id = store.create_run(problem=search.tree.problem, config=config,
                              model_name=demo_model.name,
                              model_fingerprint=demo_model.fingerprint, title="live")
    run = LiveRun(db=db, run_id=run_id, config=config, events=search.events)
    run.live_after_iteration.append(search.tree.copy())
    run.replayed_after_append.append(store.tree_at(run_id))
    for k in range(ITERATIONS):
        if k == MANUAL_REFLECTION_AFTER:
            tree = search.tree
            run.manual_parent = next(
                n.id for n in tree.nodes
                if not any(tree.nodes[c].kind == "reflection" for c in n.children))
            manual = search.add_reflection(run.manual_parent)
            store.append_events(run_id, [manual], iterations_done=k)
        events = []
        for phase in ("select", "expand", "simulate", "backprop"):
            event = search.step_phase()
            assert event.phase == phase
            events.append(event)
            run.live_after_phase[(k, phase)] = search.tree.copy()
        summary = search_summary(search.tree)
        store.append_events(run_id, events, iterations_done=search.tree.iterations_done,
                            best_answer=summary["best_answer"], solved=summary["solved"])
        run.live_after_iteration.append(search.tree.copy())
        run.replayed_after_append.append(store.tree_at(run_id))
    store.set_status(run_id, "finished")
    store.engine.dispose()
    return run
