"""Saved runs on the command line: ``runs``, ``replay``, ``resume``, ``fork``, ``export``,
``import``, ``delete``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from app.cli import add_common
from app.cli.search import add_search_options, search_settings

PHASE_CHOICES = ["select", "expand", "simulate", "backprop"]

# Search options a fork may change: flag -> (config field, argparse keyword arguments).


def register(sub: Any) -> None:
    runs = sub.add_parser("runs", help="list saved runs",
                          description="List the runs saved in the database, newest first.")
    add_common(runs)
    runs.set_defaults(handler=_runs)

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

    resume = sub.add_parser("resume", help="continue a saved run",
                            description="Continue a saved run for N more iterations.")
    resume.add_argument("run_id", type=int, metavar="RUN_ID")
    resume.add_argument("--iterations", type=int, required=True, metavar="N")
    resume.add_argument("--model", default=None, metavar="PATH_OR_ID",
                        help="model to continue with (default: the run's own)")
    add_common(resume)
    resume.set_defaults(handler=_resume)

    fork = sub.add_parser(
        "fork", help="start a new run from a saved run's first K iterations",
        description="Copy the first K iterations of a run into a new run with changed "
        "search settings (unchanged ones are the parent's), and optionally continue it.",
    )
    fork.add_argument("run_id", type=int, metavar="RUN_ID")
    fork.add_argument("--at", type=int, required=True, metavar="K",
                      help="how many of the parent's iterations to keep")
    fork.add_argument("--iterations", type=int, default=0, metavar="N",
                      help="iterations to run on the fork now (default 0: just create it)")
    fork.add_argument("--model", default=None, metavar="PATH_OR_ID",
                      help="model to continue with (default: the parent's)")
    add_search_options(fork, defaults=False)
    add_common(fork)
    fork.set_defaults(handler=_fork)

    export = sub.add_parser("export", help="write a saved run to a JSON file",
                            description="Write a run (settings and every event) to a file.")
    export.add_argument("run_id", type=int, metavar="RUN_ID")
    export.add_argument("-o", "--output", required=True, metavar="FILE")
    add_common(export)
    export.set_defaults(handler=_export)

    imp = sub.add_parser("import", help="save a run from an exported JSON file",
                         description="Check an exported run completely, then save it as a "
                         "new run; nothing is saved if anything in the file is wrong.")
    imp.add_argument("file", metavar="FILE")
    add_common(imp)
    imp.set_defaults(handler=_import)

    remove = sub.add_parser("delete", help="delete a saved run",
                            description="Delete a run and all its events.")
    remove.add_argument("run_id", type=int, metavar="RUN_ID")
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_common(remove)
    remove.set_defaults(handler=_delete)


def run_row(info: Any) -> dict[str, Any]:
    """The JSON of one run in ``mctslab runs``."""
    return {
        "run_id": info.id, "title": info.title, "problem": info.problem, "task": info.task,
        "model": info.model_name, "status": info.status,
        "iterations": info.iterations_done, "best_answer": info.best_answer,
        "solved": info.solved, "seed": info.seed, "parent_run_id": info.parent_run_id,
        "fork_iteration": info.fork_iteration, "created_at": info.created_at.isoformat(),
        "updated_at": info.updated_at.isoformat(),
    }


def _runs(args: argparse.Namespace) -> int:
    from storage import open_store

    rows = [run_row(info) for info in open_store(args.db).list_runs()]
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("no saved runs yet; `mctslab search PROBLEM` makes one")
        return 0
    print(f"{'id':>5}  {'status':<11} {'iters':>5}  {'solved':<6} {'created (UTC)':<16}  "
          "problem / best answer")
    for row in rows:
        created = row["created_at"][:16].replace("T", " ")
        title = row["title"] or row["problem"]
        print(f"{row['run_id']:>5}  {row['status']:<11} {row['iterations']:>5}  "
              f"{str(row['solved']):<6} {created:<16}  {title[:50]}  -> {row['best_answer']}")
    return 0


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
    for node in nodes_report(tree, info.config):
        uct = "-" if node["uct"] is None else f"{node['uct']:.3f}"
        print(f"{'  ' * node['depth']}#{node['id']} [{node['kind']} N={node['visits']} "
              f"Q={node['q']:.3f} UCT={uct}] {node['text'][:70]!r}")
    return 0


def _phase_iteration(tree: Any) -> int:
    """The 0-based iteration whose phase event a ``--phase`` replay stopped after."""
    return int(tree.iterations_done) - (1 if tree.next_phase == "select" else 0)


def _summary_tokens(summary: dict[str, Any]) -> dict[str, Any]:
    return {"best_answer": summary["best_answer"], "solved": summary["solved"],
            "tokens": summary["tokens"]}


def _resume(args: argparse.Namespace) -> int:
    from app.runs.resume import resume_search
    from engine.backends.hf import HFModel
    from engine.errors import InputError
    from storage import open_store

    if args.iterations < 1:
        raise InputError("--iterations must be at least 1.")
    store = open_store(args.db)
    info = store.get_run(args.run_id)
    model = HFModel(args.model or info.model_name)
    search = resume_search(store, args.run_id, model)
    return _continue(args, store, args.run_id, search, args.iterations)


def _continue(args: argparse.Namespace, store: Any, run_id: int, search: Any,
              iterations: int) -> int:
    """Run more iterations on a stored run and print what ``mctslab search`` prints."""
    from app.cli.search import render_summary, run_iterations
    from engine.core.report import nodes_report, search_summary

    started = time.monotonic()
    run_iterations(store, run_id, search, iterations)
    wall_s = time.monotonic() - started
    result: dict[str, Any] = {"run_id": run_id, **search_summary(search.tree),
                              "wall_s": round(wall_s, 3)}
    if args.json:
        result["nodes"] = nodes_report(search.tree, search.config)
        print(json.dumps(result))
    else:
        print(render_summary(search, result))
    return 0


def _fork(args: argparse.Namespace) -> int:
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
        # Nobody is stepping the fork now: leave it ready for `mctslab resume`.
        store.set_status(fork_id, "interrupted")
        info = store.get_run(fork_id)
        if args.json:
            print(json.dumps(run_row(info)))
        else:
            print(f"run {fork_id}: fork of run {args.run_id} at iteration {args.at}; "
                  f"`mctslab resume {fork_id} --iterations N` continues it")
        return 0
    from app.runs.resume import resume_search
    from engine.backends.hf import HFModel

    model = HFModel(args.model or parent.model_name)
    search = resume_search(store, fork_id, model)
    return _continue(args, store, fork_id, search, args.iterations)


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


def _import(args: argparse.Namespace) -> int:
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
