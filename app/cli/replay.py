"""``mctslab replay``: a saved run's tree at any moment, by folding its events."""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.cli import add_common
from engine.core.events import PHASES

PHASE_CHOICES = list(PHASES)


def register(sub: Any) -> None:
    replay = sub.add_parser(
        "replay", help="show the tree of a saved run at any phase",
        description="Rebuild a saved run's tree by folding its events: after --iteration K "
        "completed iterations, or right after the --phase event of iteration K (0-based; "
        "the last iteration when --iteration is left out); the end of the run by default.",
    )
    replay.add_argument("run_id", type=int, metavar="RUN_ID")
    replay.add_argument("--iteration", type=int, default=None, metavar="K")
    replay.add_argument("--phase", default=None, choices=PHASE_CHOICES)
    add_common(replay)
    replay.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace) -> int:
    from engine.core.report import nodes_report, search_summary
    from storage import open_store

    store = open_store(args.db)
    info = store.get_run(args.run_id)
    tree = store.tree_at(args.run_id, iteration=args.iteration, phase=args.phase)
    iteration = args.iteration
    if iteration is None:
        iteration = tree.iterations_done if args.phase is None else _phase_iteration(tree)
    if args.json:
        print(json.dumps({
            "run_id": args.run_id, "iteration": iteration, "phase": args.phase,
            "iterations_done": tree.iterations_done, "next_phase": tree.next_phase,
            "events": tree.events_applied, **_summary_tokens(search_summary(tree)),
            "nodes": nodes_report(tree, info.config),
        }))
        return 0
    where = (f"after iteration {iteration}'s {args.phase} phase" if args.phase
             else f"after {iteration} iterations")
    print(f"run {args.run_id}: {tree.problem}  {where}  ({len(tree.nodes)} nodes, "
          f"{tree.events_applied} events)")
    rule = info.config.selection.upper()
    for node in nodes_report(tree, info.config):
        score = "-" if node["uct"] is None else f"{node['uct']:.3f}"
        print(f"{'  ' * node['depth']}#{node['id']} [{node['kind']} N={node['visits']} "
              f"Q={node['q']:.3f} {rule}={score}] {node['text'][:70]!r}")
    return 0


def _phase_iteration(tree: Any) -> int:
    """The 0-based iteration whose phase event a ``--phase`` replay stopped after."""
    return int(tree.iterations_done) - (1 if tree.next_phase == "select" else 0)


def _summary_tokens(summary: dict[str, Any]) -> dict[str, Any]:
    return {"best_answer": summary["best_answer"], "solved": summary["solved"],
            "tokens": summary["tokens"]}
