"""How fast the store is: appending one iteration, and replaying a long run.

The long run is synthesised from a real search's events: selection is computed by the
engine's own rule on the growing tree, expansions reuse real sibling groups (texts, token
ids, priors, confidences) under fresh ids, simulations reuse real rollouts. Every event is
applied as it is made, so the stream folds exactly like a live one.

    python -m app.bench.storage_cost [--db URL] [--iterations N] [--json]

measures in a temporary SQLite file, or with ``--db`` in the given database (a scratch one:
the benchmark's run is deleted afterwards), e.g. a PostgreSQL URL.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.core.config import SearchConfig, make_config
from engine.core.events import (
    Backpropagated,
    ChildSpec,
    Event,
    Expanded,
    Rollout,
    Simulated,
    TokenCounts,
)
from engine.core.phases import (
    backup_path,
    expansion_decision,
    select_path,
    simulation_target,
)
from engine.core.tree import Tree, apply

BENCH_PROBLEM = "4 5 6 10"
BENCH_CHILDREN = 4
"""Siblings per synthesised expansion (the default k, wider than the template's run)."""


def synthesize(
    problem: str, template: Sequence[Event], iterations: int, config: SearchConfig,
    seed: int = 0,
) -> list[Event]:
    """``iterations`` iterations of events shaped like ``template`` (a real search's
    events, with at least one expansion and one simulation) that fold from an empty tree.
    A leaf at depth d gets the children of a real expansion at depth d (so steps lead to
    answers as they did), ``config.children`` of them."""
    groups = _groups_by_depth(problem, template)
    rollouts = [e.rollout for e in template if isinstance(e, Simulated)]
    if not groups or not rollouts:
        raise ValueError("the template needs at least one expansion and one simulation")
    rng = random.Random(seed)
    tree = Tree.new(problem)
    events: list[Event] = []
    tokens = TokenCounts()
    for it in range(iterations):
        selected = select_path(tree, config.selection, config.exploration)
        apply(tree, selected)
        leaf = tree.nodes[selected.path[-1]]
        children: tuple[ChildSpec, ...] = ()
        decision = expansion_decision(leaf, max_depth=config.max_depth, reflection=False)
        if decision.action == "sample":
            pool = groups[min(leaf.depth, max(groups))]
            specs = [c for _ in range(config.children) for c in rng.choice(pool)]
            first = len(tree.nodes)
            children = tuple(replace(c, id=first + i)
                             for i, c in enumerate(specs[: config.children]))
        expanded = Expanded(it, leaf.id, children, f"sampled {config.children} next steps")
        apply(tree, expanded)
        target = simulation_target(leaf.id, children)
        rollout: Rollout = rng.choice(rollouts)
        simulated = Simulated(it, target, rollout)
        spent = len(rollout.tokens) + sum(len(c.token_ids) for c in children)
        tokens = TokenCounts(tokens.forwarded + spent, tokens.unique + spent,
                             tokens.generated + spent)
        apply(tree, simulated)
        backed = Backpropagated(it, backup_path(tree.pending), rollout.value, tokens)
        apply(tree, backed)
        events += [selected, expanded, simulated, backed]
    return events


def _groups_by_depth(
    problem: str, template: Sequence[Event]
) -> dict[int, list[tuple[ChildSpec, ...]]]:
    """The template's sibling groups, keyed by the depth of the node they expanded."""
    tree = Tree.new(problem)
    groups: dict[int, list[tuple[ChildSpec, ...]]] = {}
    for event in template:
        if isinstance(event, Expanded) and event.children:
            groups.setdefault(tree.nodes[event.node].depth, []).append(event.children)
        apply(tree, event)
    return {depth: groups[depth] for depth in sorted(groups)}


def demo_events(iterations: int = 30, seed: int = 1) -> tuple[SearchConfig, list[Event]]:
    """A real search with the bundled demo model (the benchmark's template)."""
    from engine.backends.hf import HFModel
    from engine.strategies.search import Search

    config = make_config(seed=seed, children=2)
    search = Search(HFModel(), config, BENCH_PROBLEM)
    search.run(iterations)
    return config, search.events


def bench_storage(
    template: Sequence[Event] | None = None,
    config: SearchConfig | None = None,
    *,
    iterations: int = 1000,
    db_dir: str | Path | None = None,
    db: str | None = None,
) -> dict[str, Any]:
    """Median milliseconds to append one iteration's events (one transaction each) while
    writing a ``iterations``-iteration run, and seconds to replay it to its last event.
    Without a template, a 30-iteration demo-model search provides one (about a minute).
    ``db``: measure in that database (a URL; its run is deleted afterwards) instead of a
    temporary SQLite file."""
    if template is None or config is None:
        config, template = demo_events()
    events = synthesize(BENCH_PROBLEM, template, iterations, config.model_copy(
        update={"children": BENCH_CHILDREN}))
    with tempfile.TemporaryDirectory(dir=db_dir) as folder:
        from storage import open_store

        store = open_store(db if db is not None else str(Path(folder) / "bench.db"))
        run_id = store.create_run(problem=BENCH_PROBLEM, config=config, model_name="bench",
                                  model_fingerprint="synthetic", title="storage benchmark")
        append_ms = []
        for it in range(iterations):
            chunk = events[4 * it: 4 * it + 4]
            started = time.perf_counter()
            store.append_events(run_id, chunk, iterations_done=it + 1,
                                best_answer="bench", solved=None)
            append_ms.append((time.perf_counter() - started) * 1000)
        replay_s = []
        for _ in range(3):
            started = time.perf_counter()
            tree = store.tree_at(run_id)
            replay_s.append(time.perf_counter() - started)
        if db is None:
            db_bytes = sum(p.stat().st_size for p in Path(folder).iterdir())
        else:
            db_bytes = _database_bytes(store.engine)
            store.delete_run(run_id)
        store.engine.dispose()
    return {
        "iterations": iterations,
        "events": len(events),
        "nodes": len(tree.nodes),
        "append_iteration_ms_median": round(statistics.median(append_ms), 3),
        "append_iteration_ms_p95": round(sorted(append_ms)[int(0.95 * len(append_ms))], 3),
        "replay_last_iteration_s": round(min(replay_s), 4),
        "replay_last_iteration_s_median": round(statistics.median(replay_s), 4),
        "db_megabytes": round(db_bytes / 2**20, 2),
        "targets": {"append_iteration_ms_median": 5.0, "replay_last_iteration_s": 1.0},
    }


def _database_bytes(engine: Any) -> int:
    """The database's size on disk where the server can say (PostgreSQL), else 0."""
    if engine.dialect.name != "postgresql":
        return 0
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())")
                   .scalar())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.bench.storage_cost",
        description="Storage's benchmark: append one iteration (median), replay a long run.")
    parser.add_argument("--db", default=None, metavar="URL",
                        help="measure in this (scratch) database, e.g. "
                        "postgresql+psycopg://user:password@host:port/db; default: a "
                        "temporary SQLite file")
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from storage import open_store

    where = "temporary SQLite file" if args.db is None else open_store(args.db).where
    result = bench_storage(iterations=args.iterations, db=args.db)
    result["database"] = where
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{where}: append one iteration {result['append_iteration_ms_median']} ms "
              f"(median; p95 {result['append_iteration_ms_p95']} ms), replay "
              f"{result['iterations']} iterations {result['replay_last_iteration_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
