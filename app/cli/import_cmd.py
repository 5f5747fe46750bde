"""``mctslab import``: save a run from an exported JSON file (checked completely first)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.cli import add_common


def register(sub: Any) -> None:
    imp = sub.add_parser("import", help="save a run from an exported JSON file",
                         description="Check an exported run completely, then save it as a "
                         "new run; nothing is saved if anything in the file is wrong.")
    imp.add_argument("file", metavar="FILE")
    add_common(imp)
    imp.set_defaults(handler=_import)


def _import(args: argparse.Namespace) -> int:
    from app.cli.runs import run_row
    from storage import open_store
    from storage.transfer import read_export_file

    doc = read_export_file(args.file)
    store = open_store(args.db)
    run_id = store.import_run(doc)
    info = store.get_run(run_id)
    if args.json:
        print(json.dumps(run_row(info)))
    else:
        print(f"run {run_id}: imported {info.problem!r} ({info.iterations_done} iterations)")
    return 0
