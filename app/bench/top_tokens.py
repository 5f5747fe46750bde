"""What keeping each token's top-5 alternatives costs in storage (issue 15 item 3).

A run of ``--iterations`` iterations is built as ``app.bench.storage_cost`` builds its
runs: from a real demo-model search (the template, whose children and rollouts carry their
alternatives), synthesised to the length wanted. The same events are measured twice, as
they are and with ``top`` (and the ``token_texts`` kept with it) removed: the bytes of
their stored JSON (``event_to_dict``, as the store writes it) and the size of a real SQLite
file holding them.

    python -m app.bench.top_tokens [--iterations N] [--template N] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.bench.storage_cost import BENCH_CHILDREN, BENCH_PROBLEM, demo_events, synthesize
from engine.core.config import SearchConfig
from engine.core.events import Event, Expanded, Simulated, event_to_dict


def without_top(event: Event) -> Event:
    """The event as it would be without the alternatives."""
    if isinstance(event, Expanded):
        return replace(event, children=tuple(replace(c, top=(), token_texts=())
                                             for c in event.children))
    if isinstance(event, Simulated):
        return replace(event, rollout=replace(event.rollout, top=()))
    return event


def json_bytes(events: Sequence[Event]) -> int:
    """Bytes of the events' stored JSON."""
    return sum(len(json.dumps(event_to_dict(e)).encode()) for e in events)


def sqlite_bytes(events: Sequence[Event], config: SearchConfig, iterations: int) -> int:
    """The size of a real SQLite run store holding the events (one transaction per
    iteration, as a live run writes them)."""
    from storage import open_store

    with tempfile.TemporaryDirectory() as folder:
        store = open_store(str(Path(folder) / "top.db"))
        run_id = store.create_run(problem=BENCH_PROBLEM, config=config, model_name="bench",
                                  model_fingerprint="synthetic", title="top-5 storage")
        for it in range(iterations):
            store.append_events(run_id, events[4 * it: 4 * it + 4], iterations_done=it + 1,
                                best_answer="bench", solved=None)
        store.engine.dispose()
        return sum(p.stat().st_size for p in Path(folder).iterdir())


def bench_top_tokens(iterations: int = 1000, template_iterations: int = 30
                     ) -> dict[str, Any]:
    config, template = demo_events(template_iterations)
    wide = config.model_copy(update={"children": BENCH_CHILDREN})
    events = synthesize(BENCH_PROBLEM, template, iterations, wide)
    bare = [without_top(e) for e in events]
    scale = 1000 / iterations
    with_top, without = json_bytes(events), json_bytes(bare)
    db_with, db_without = (sqlite_bytes(evs, config, iterations) for evs in (events, bare))
    return {
        "iterations": iterations,
        "template_iterations": template_iterations,
        "json_mb_per_1000_iterations_with_top5": round(with_top * scale / 2**20, 2),
        "json_mb_per_1000_iterations_without": round(without * scale / 2**20, 2),
        "json_ratio": round(with_top / without, 2),
        "sqlite_mb_per_1000_iterations_with_top5": round(db_with * scale / 2**20, 2),
        "sqlite_mb_per_1000_iterations_without": round(db_without * scale / 2**20, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.bench.top_tokens",
        description="Storage cost of each token's top-5 alternatives, per 1,000 iterations.")
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--template", type=int, default=30,
                        help="iterations of the real demo-model search the run is built from")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = bench_top_tokens(args.iterations, args.template)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"stored event JSON per 1,000 iterations: "
              f"{result['json_mb_per_1000_iterations_with_top5']} MB with top-5, "
              f"{result['json_mb_per_1000_iterations_without']} MB without "
              f"(x{result['json_ratio']}); SQLite file: "
              f"{result['sqlite_mb_per_1000_iterations_with_top5']} MB vs "
              f"{result['sqlite_mb_per_1000_iterations_without']} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
