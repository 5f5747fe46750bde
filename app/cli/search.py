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
    add_search_options(parser, defaults=True)
    parser.add_argument("--no-cache-reuse", action="store_true",
                        help="recompute every prefix (to measure what reuse saves)")
    parser.add_argument("--model", default=None, metavar="PATH_OR_ID",
                        help="local model directory or cached hub id (default: bundled demo)")
    parser.add_argument("--title", default=None, help="a title for the saved run")
    add_common(parser)
    parser.set_defaults(handler=_run)


# Search settings as command-line flags: flag -> (SearchConfig field, argparse options).
# Help text and defaults come from SearchConfig itself, so the two cannot drift apart.
SEARCH_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "--seed": ("seed", {"type": int}),
    "--children": ("children", {"type": int}),
    "--c": ("exploration", {"type": float}),
    "--selection": ("selection", {"choices": ["uct", "puct"]}),
    "--granularity": ("granularity", {"choices": ["step", "mini-step"]}),
    "--mini-step-tokens": ("mini_step_tokens", {"type": int, "choices": [32, 64]}),
    "--reflection": ("reflection", {"choices": ["off", "on"]}),
    "--reward": ("reward", {"choices": ["confidence", "verifier", "combined"]}),
    "--evaluator": ("evaluator", {"choices": ["outcome", "confidence", "step-check",
                                              "self-eval"]}),
    "--step-check": ("step_check", {"choices": ["off", "on"]}),
    "--leaf-value": ("leaf_value", {"choices": ["rollout", "value", "mixed"]}),
    "--value-weight": ("value_weight", {"type": float}),
    "--temperature": ("temperature", {"type": float}),
    "--max-depth": ("max_depth", {"type": int}),
    "--reference": ("reference_answer", {}),
}


def add_search_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Add every search setting; ``defaults=False`` leaves unset flags out of the args
    (``mctslab fork`` keeps the parent's value for those)."""
    from engine.core.config import SearchConfig

    for flag, (field, options) in SEARCH_OPTIONS.items():
        info = SearchConfig.model_fields[field]
        default = info.default if defaults else argparse.SUPPRESS
        parser.add_argument(flag, dest=field, default=default,
                            help=info.description, **options)


def search_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The search settings given on the command line (all of them with defaults=True)."""
    return {field: getattr(args, field) for field, _ in SEARCH_OPTIONS.values()
            if hasattr(args, field)}


def config_from_args(args: argparse.Namespace) -> Any:
    from engine.core.config import make_config

    return make_config(task=args.task, cache_reuse=not args.no_cache_reuse,
                       **search_settings(args))


def _run(args: argparse.Namespace) -> int:
    from engine.backends.hf import HFModel
    from engine.core.report import nodes_report, search_summary
    from engine.errors import InputError
    from engine.strategies.search import Search
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

    from engine.core.report import search_summary

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
