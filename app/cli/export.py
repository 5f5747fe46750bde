"""``mctslab export``: a saved run (settings and every event) to a JSON file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.cli import add_common


def register(sub: Any) -> None:
    export = sub.add_parser("export", help="write a saved run to a JSON file",
                            description="Write a run (settings and every event) to a file.")
    export.add_argument("run_id", type=int, metavar="RUN_ID")
    export.add_argument("-o", "--output", required=True, metavar="FILE")
    add_common(export)
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    from storage import StorageError, open_store

    doc = open_store(args.db).export_run(args.run_id)
    target = Path(args.output)
    try:
        with target.open("w", encoding="utf-8") as handle:
            json.dump(doc, handle)
    except OSError as err:
        raise StorageError(f"cannot write {target}: {err.strerror or err}") from None
    if args.json:
        print(json.dumps({"run_id": args.run_id, "file": str(target),
                          "events": len(doc["events"])}))
    else:
        print(f"run {args.run_id}: {len(doc['events'])} events written to {target}")
    return 0
