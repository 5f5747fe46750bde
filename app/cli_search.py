"""``mctslab search``: run a search on one problem, save it, print the result."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from app.cli import add_common


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "search", help="run MCTS on one problem and save the run",
        description="Run Monte Carlo Tree Search over the model's reasoning steps and save "
        "every event to the database (one transaction per iteration).",
    )
    parser.add_argument("problem", help="the problem, e.g. '4 5 6 10' for Game of 24")
    parser.add_argument("--task", default="game24", choices=["game24", "freeform"])
    parser.add_argument("--iterations", type=int, default=40, help="MCTS iterations (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--children", type=int, default=4, help="samples per expansion (k)")
    parser.add_argument("--c", type=float, default=1.0, dest="exploration",
                        help="exploration constant")
    parser.add_argument("--selection", default="uct", choices=["uct", "puct"])
    parser.add_argument("--granularity", default="step", choices=["step", "mini-step"])
    parser.add_argument("--mini-step-tokens", type=int, default=32, choices=[32, 64])
    parser.add_argument("--reflection", default="off", choices=["off", "on"])
    parser.add_argument("--reward", default="combined",
                        choices=["confidence", "verifier", "combined"])
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max-depth", type=int, default=12)
    parser.add_argument("--no-cache-reuse", action="store_true",
                        help="recompute every prefix (to measure what reuse saves)")
    parser.add_argument("--reference", default=None, help="freeform: the correct answer")
    parser.add_argument("--model", default=None, metavar="PATH_OR_ID",
                        help="local model directory or cached hub id (default: bundled demo)")
    parser.add_argument("--title", default=None, help="a title for the saved run")
    add_common(parser)
    parser.set_defaults(handler=_run)


def config_from_args(args: argparse.Namespace) -> Any:
    from engine.config import make_config

    return make_config(
        task=args.task, selection=args.selection, exploration=args.exploration,
        children=args.children, max_depth=args.max_depth, granularity=args.granularity,
        mini_step_tokens=args.mini_step_tokens, temperature=args.temperature,
        reward=args.reward, reflection=args.reflection, seed=args.seed,
        cache_reuse=not args.no_cache_reuse, reference_answer=args.reference,
    )


def _run(args: argparse.Namespace) -> int:
    from engine.errors import InputError
    from engine.lm import HFModel
    from engine.report import nodes_report, search_summary
    from engine.search import Search
    from storage import open_store

    if args.iterations < 1:
        raise InputError("--iterations must be at least 1.")
    config = config_from_args(args)
    store = open_store(args.db)
    model = HFModel(args.model)
    search = Search(model, config, args.problem)
    run_id = store.create_run(
        problem=search.tree.problem, config=config, model_name=model.name,
        model_fingerprint=model.fingerprint, title=args.title,
    )
    started = time.monotonic()
    run_iterations(store, run_id, search, args.iterations)
    wall_s = time.monotonic() - started
    result: dict[str, Any] = {"run_id": run_id, **search_summary(search.tree),
                              "wall_s": round(wall_s, 3)}
    if args.json:
        result["nodes"] = nodes_report(search.tree, config)
        print(json.dumps(result))
    else:
        print(render_summary(search, result))
    return 0


def run_iterations(store: Any, run_id: int, search: Any, iterations: int) -> None:
    """Run ``iterations`` iterations, saving each one's events in one transaction; mark the
    run finished, interrupted (Ctrl-C) or failed."""
    from tqdm import tqdm

    from engine.report import search_summary

    status = "failed"
    try:
        with tqdm(total=iterations, desc="MCTS", unit="it", file=sys.stderr,
                  leave=False) as bar:
            for _ in range(iterations):
                events = search.step_iteration()
                summary = search_summary(search.tree)
                store.append_events(run_id, events, iterations_done=search.tree.iterations_done,
                                    best_answer=summary["best_answer"], solved=summary["solved"])
                bar.update(1)
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        store.set_status(run_id, status)


def render_summary(search: Any, result: dict[str, Any]) -> str:
    """A readable summary and the most visited path."""
    tree = search.tree
    lines = [
        f"run {result['run_id']}: {tree.problem}  ({tree.iterations_done} iterations, "
        f"{len(tree.nodes)} nodes, {result['wall_s']:.1f}s)",
        f"best answer: {result['best_answer']}  solved: {result['solved']}",
        "tokens: forwarded {forwarded}, unique {unique}, generated {generated}".format(
            **result["tokens"]),
        "most visited path:",
    ]
    node = tree.root
    while node.children:
        node = max((tree.nodes[c] for c in node.children), key=lambda n: (n.visits, n.q))
        lines.append(f"  [{node.kind} N={node.visits} Q={node.q:.3f}] {node.text}")
    return "\n".join(lines)
