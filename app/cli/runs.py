"""``mctslab runs``: the saved runs, newest first."""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.cli import add_common

# The phases ``mctslab replay --phase`` takes; kept here too for tests/storage, which reads
# it from this module.
from app.cli.replay import PHASE_CHOICES as PHASE_CHOICES


def register(sub: Any) -> None:
    runs = sub.add_parser("runs", help="list saved runs",
                          description="List the runs saved in the database, newest first.")
    runs.add_argument("--user", metavar="NAME",
                      help="only the runs this user made (the user column)")
    runs.add_argument("--problem", metavar="TEXT",
                      help="only the runs whose problem contains TEXT (ignoring case)")
    add_common(runs)
    runs.set_defaults(handler=_runs)


def run_row(info: Any) -> dict[str, Any]:
    """The JSON of one run in ``mctslab runs`` (and of a new run made by ``fork`` or
    ``import``); ``answer_verdict`` says whether ``best_answer`` is verified (see
    ``engine.tasks.answers``)."""
    from engine.tasks.answers import answer_fields, label_answer

    label = label_answer(info.task, info.problem, info.best_answer, info.solved,
                         info.config.reference_answer)
    return {
        "run_id": info.id, "title": info.title, "problem": info.problem, "task": info.task,
        "model": info.model_name, "user": info.user_name, "status": info.status,
        "iterations": info.iterations_done, "best_answer": info.best_answer,
        "solved": info.solved, **answer_fields(label), "answer_label": label.short,
        "seed": info.seed, "parent_run_id": info.parent_run_id,
        "fork_iteration": info.fork_iteration, "created_at": info.created_at.isoformat(),
        "updated_at": info.updated_at.isoformat(),
    }


def _runs(args: argparse.Namespace) -> int:
    from storage import open_store

    infos = open_store(args.db).list_runs(user=args.user, problem=args.problem)
    rows = [run_row(info) for info in infos]
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        if args.user is not None or args.problem is not None:
            print("no saved run matches --user/--problem; `mctslab runs` lists them all")
        else:
            print("no saved runs yet; `mctslab search PROBLEM` makes one")
        return 0
    print(f"{'id':>5}  {'status':<11} {'iters':>5}  {'solved':<6} {'created (UTC)':<16}  "
          f"{'user':<12}  problem -> best answer, or the best candidate labelled")
    for row in rows:
        created = row["created_at"][:16].replace("T", " ")
        title = row["title"] or row["problem"]
        user = (row["user"] or "?")[:12]
        print(f"{row['run_id']:>5}  {row['status']:<11} {row['iterations']:>5}  "
              f"{str(row['solved']):<6} {created:<16}  {user:<12}  {title[:50]}  -> "
              f"{row['answer_label']}")
    return 0
