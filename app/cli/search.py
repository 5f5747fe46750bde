"""``mctslab search``: run a search on one problem, save it, print the result."""

from __future__ import annotations

import argparse
import json
import sys
import time
import typing
from typing import Any

from app.cli import add_common, add_model, load_model
from engine.core.config import SearchConfig


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "search", help="run MCTS on one problem and save the run",
        description="Run Monte Carlo Tree Search over the model's reasoning steps and save "
        "every event to the database (one transaction per iteration).",
    )
    parser.add_argument("problem", help="the problem, e.g. '4 5 6 10' for Game of 24")
    parser.add_argument("--task", **search_option("task", defaults=True))
    parser.add_argument("--iterations", type=int, default=40, help="MCTS iterations (default: 40)")
    add_search_options(parser, defaults=True)
    parser.add_argument("--no-cache-reuse", action="store_true",
                        help="recompute every prefix (to measure what reuse saves)")
    add_model(parser)
    parser.add_argument("--title", default=None, help="a title for the saved run")
    add_common(parser)
    parser.set_defaults(handler=_run)


# Search settings as command-line flags: one flag per ``SearchConfig`` field, whose type,
# choices, default and help come from the field itself (``search_option``), so the CLI and
# the config cannot drift apart; `search`, `fork` and `eval` share this one table.
FLAG_NAMES = {"exploration": "--c", "reference_answer": "--reference"}
"""Fields whose flag is not ``--`` and the field's name with dashes."""
NOT_FLAGS = {"task": "`search --task` (a fork keeps its task; eval is Game of 24)",
             "cache_reuse": "`search --no-cache-reuse`"}
"""Fields with a flag of their own, or none, and why."""
SEARCH_OPTIONS: dict[str, str] = {
    FLAG_NAMES.get(field, "--" + field.replace("_", "-")): field
    for field in SearchConfig.model_fields if field not in NOT_FLAGS
}
"""Flag -> ``SearchConfig`` field."""


def search_option(field: str, *, defaults: bool) -> dict[str, Any]:
    """``add_argument`` keywords for ``SearchConfig`` field ``field``: its type (a
    ``Literal``'s values as choices), its description as help, and its default (with
    ``defaults=False``, none: the flag is left out of the args unless given)."""
    info = SearchConfig.model_fields[field]
    annotation = info.annotation
    options: dict[str, Any] = {}
    description = (info.description or field).replace("%", "%%")
    if typing.get_origin(annotation) is typing.Literal:
        choices = list(typing.get_args(annotation))
        options.update(choices=choices, type=type(choices[0]))
    elif annotation in (int, float):
        options["type"] = annotation
    elif annotation not in (str, str | None):
        raise TypeError(f"SearchConfig.{field}: no command-line form for {annotation}")
    if defaults:
        options.update(default=info.default, help=f"{description} (default: %(default)s)")
    else:
        options.update(default=argparse.SUPPRESS,
                       help=f"{description} (default: the parent run's)")
    return options


def add_search_options(parser: argparse._ActionsContainer, *, defaults: bool) -> None:
    """Add every search setting; ``defaults=False`` leaves unset flags out of the args
    (``mctslab fork`` keeps the parent's value for those)."""
    for flag, field in SEARCH_OPTIONS.items():
        parser.add_argument(flag, dest=field, **search_option(field, defaults=defaults))


def search_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The search settings given on the command line (all of them with defaults=True)."""
    return {field: getattr(args, field) for field in SEARCH_OPTIONS.values()
            if hasattr(args, field)}


def config_from_args(args: argparse.Namespace) -> Any:
    from engine.core.config import make_config

    return make_config(task=args.task, cache_reuse=not args.no_cache_reuse,
                       **search_settings(args))


def _run(args: argparse.Namespace) -> int:
    from engine.errors import InputError
    from engine.strategies.search import Search
    from storage import open_store

    if args.iterations < 1:
        raise InputError("--iterations must be at least 1.")
    config = config_from_args(args)
    store = open_store(args.db)
    model = load_model(args)
    search = Search(model, config, args.problem)
    run_id = store.create_run(
        problem=search.tree.problem, config=config, model_name=model.name,
        model_fingerprint=model.fingerprint, title=args.title,
    )
    return run_and_report(args, store, run_id, search, args.iterations)


def run_and_report(args: argparse.Namespace, store: Any, run_id: int, search: Any,
                   iterations: int) -> int:
    """Run ``iterations`` iterations on a stored run (``search``, ``resume``, ``fork``) and
    print the result: JSON with ``--json``, else a readable summary."""
    from engine.core.report import nodes_report, search_summary
    from engine.tasks.answers import answer_fields

    started = time.monotonic()
    stopped = run_iterations(store, run_id, search, iterations)
    wall_s = time.monotonic() - started
    result: dict[str, Any] = {"run_id": run_id, **search_summary(search.tree),
                              **answer_fields(answer_label(search)),
                              "stopped": stopped, "wall_s": round(wall_s, 3)}
    if args.json:
        result["nodes"] = nodes_report(search.tree, search.config)
        print(json.dumps(result))
    else:
        print(render_summary(search, result))
    return 0


def run_iterations(store: Any, run_id: int, search: Any, iterations: int) -> str | None:
    """Run ``iterations`` iterations, saving each one's events in one transaction; mark the
    run finished, interrupted (Ctrl-C) or failed. Stop early when the search has nothing
    left to do (every branch ended; MCTSr: a verified-correct answer) and return why."""
    from tqdm import tqdm

    from engine.core.report import search_summary
    from engine.core.tree import ROOT_ID

    status = "failed"
    stopped = None
    try:
        with tqdm(total=iterations, desc=search.config.algorithm.upper(), unit="it",
                  file=sys.stderr, leave=False) as bar:
            target = search.tree.iterations_done + iterations
            while search.tree.iterations_done < target:
                if search.exhausted:
                    stopped = search.closed()[ROOT_ID]
                    break
                before = search.tree.iterations_done
                events = search.step_iteration(target - before)  # a round when parallel
                summary = search_summary(search.tree)
                store.append_events(run_id, events, iterations_done=search.tree.iterations_done,
                                    best_answer=summary["best_answer"], solved=summary["solved"])
                bar.update(search.tree.iterations_done - before)
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        store.set_status(run_id, status)
    return stopped


def answer_label(search: Any) -> Any:
    """The search's best answer, labelled (``engine.tasks.answers.label_answer``)."""
    from engine.core.tree import best_answer
    from engine.tasks.answers import label_answer

    answer, verdict = best_answer(search.tree)
    return label_answer(search.config.task, search.tree.problem, answer, verdict,
                        search.config.reference_answer)


def render_summary(search: Any, result: dict[str, Any]) -> str:
    """A readable summary and the most visited path: a best answer only when it is
    verified correct, else "no verified answer" and the labelled best candidate."""
    tree = search.tree
    lines = [
        f"run {result['run_id']}: {tree.problem}  ({tree.iterations_done} iterations, "
        f"{len(tree.nodes)} nodes, {result['wall_s']:.1f}s)",
        answer_label(search).line,
        "tokens: forwarded {forwarded}, unique {unique}, generated {generated}".format(
            **result["tokens"]),
        *([f"stopped early: {result['stopped']}"] if result.get("stopped") else []),
        "most visited path:",
    ]
    node = tree.root
    while node.children:
        node = max((tree.nodes[c] for c in node.children), key=lambda n: (n.visits, n.q))
        lines.append(f"  [{node.kind} N={node.visits} Q={node.q:.3f}] {node.text}")
    return "\n".join(lines)
