"""``mctslab delete``: delete a saved run and all its events (after a confirmation)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.cli import add_common


def register(sub: Any) -> None:
    remove = sub.add_parser("delete", help="delete a saved run",
                            description="Delete a run and all its events.")
    remove.add_argument("run_id", type=int, metavar="RUN_ID")
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_common(remove)
    remove.set_defaults(handler=_delete)


def _delete(args: argparse.Namespace) -> int:
    from engine.errors import InputError
    from storage import open_store

    store = open_store(args.db)
    info = store.get_run(args.run_id)
    if not args.yes:
        if not sys.stdin.isatty():
            raise InputError(f"add --yes to delete run {args.run_id} without a prompt.")
        answer = input(f"delete run {info.id} ({info.problem!r}, {info.iterations_done} "
                       "iterations)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not deleted")
            return 1
    store.delete_run(args.run_id)
    if args.json:
        print(json.dumps({"run_id": args.run_id, "deleted": True}))
    else:
        print(f"run {args.run_id} deleted")
    return 0
