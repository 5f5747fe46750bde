"""``mctslab fork``: a new run from a saved run's first K iterations, with changed
settings."""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.cli import add_common, add_model, load_model
from app.cli.search import add_search_options, search_settings


def register(sub: Any) -> None:
    fork = sub.add_parser(
        "fork", help="start a new run from a saved run's first K iterations",
        description="Copy the first K iterations of a run into a new run with changed "
        "search settings (unchanged ones are the parent's), and optionally continue it.",
    )
    fork.add_argument("run_id", type=int, metavar="RUN_ID")
    fork.add_argument("--at", type=int, required=True, metavar="K",
                      help="how many of the parent's iterations to keep")
    fork.add_argument("--iterations", type=int, default=0, metavar="N",
                      help="iterations to run on the fork now (default: 0, just create it)")
    add_model(fork, "default: the parent's")
    add_search_options(fork, defaults=False)
    add_common(fork)
    fork.set_defaults(handler=_fork)


def _fork(args: argparse.Namespace) -> int:
    from app.cli.runs import run_row
    from engine.core.config import make_config
    from engine.errors import InputError
    from storage import open_store

    if args.iterations < 0:
        raise InputError("--iterations must not be negative.")
    store = open_store(args.db)
    parent = store.get_run(args.run_id)
    changes = search_settings(args)
    config = make_config(**{**parent.config.model_dump(), **changes})
    fork_id = store.fork_run(args.run_id, args.at, config)
    if args.iterations == 0:
        # Nobody is stepping the fork now and nothing was cut short: it is paused, ready
        # for `mctslab resume`.
        store.set_status(fork_id, "paused")
        info = store.get_run(fork_id)
        if args.json:
            print(json.dumps(run_row(info)))
        else:
            print(f"run {fork_id}: fork of run {args.run_id} at iteration {args.at}; "
                  f"`mctslab resume {fork_id} --iterations N` continues it")
        return 0
    from app.cli.search import run_and_report
    from app.runs.resume import resume_search

    model = load_model(args, parent.model_name)
    search = resume_search(store, fork_id, model)
    return run_and_report(args, store, fork_id, search, args.iterations)
