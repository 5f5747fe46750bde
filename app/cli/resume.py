"""``mctslab resume``: continue a saved run for more iterations."""

from __future__ import annotations

import argparse
from typing import Any

from app.cli import add_common, add_model, load_model


def register(sub: Any) -> None:
    resume = sub.add_parser("resume", help="continue a saved run",
                            description="Continue a saved run for N more iterations.")
    resume.add_argument("run_id", type=int, metavar="RUN_ID")
    resume.add_argument("--iterations", type=int, required=True, metavar="N")
    add_model(resume, "default: the run's own")
    add_common(resume)
    resume.set_defaults(handler=_resume)


def _resume(args: argparse.Namespace) -> int:
    from app.cli.search import run_and_report
    from app.runs.resume import resume_search
    from engine.errors import InputError
    from storage import open_store

    if args.iterations < 1:
        raise InputError("--iterations must be at least 1.")
    store = open_store(args.db)
    info = store.get_run(args.run_id)
    model = load_model(args, info.model_name)
    search = resume_search(store, args.run_id, model)
    return run_and_report(args, store, args.run_id, search, args.iterations)
