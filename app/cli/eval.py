"""``mctslab eval``: greedy, Best-of-N, beam search, MCTS and MCTSr side by side on a
puzzle file, every strategy under the same generated-token budget (run, saved and turned
into rows by ``app.runs.strategies``, which the app's Compare page uses too)."""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.cli import add_common, add_model, load_model
from app.cli.search import add_search_options, search_settings
from engine.strategies.settings import STRATEGIES, StrategySettings

EARLY_STOP_NOTE = (
    "each strategy stops at its first verified-correct answer (the exact verifier makes "
    "the solve rate the same as spending the whole budget; it only saves time)"
)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "eval", help="compare greedy, Best-of-N, beam search, MCTS and MCTSr on puzzles",
        description="Run every strategy on every puzzle under the same budget of generated "
        "tokens and report the solve rate, tokens generated and forwarded, and wall time. "
        + EARLY_STOP_NOTE[0].upper() + EARLY_STOP_NOTE[1:] + ".",
    )
    parser.add_argument("--puzzles", required=True, metavar="FILE",
                        help="Game of 24 puzzles, one per line (# starts a comment)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help="comma-separated, some of: " + ", ".join(STRATEGIES)
                        + " (default: all)")
    parser.add_argument("--token-budget", type=int, required=True, metavar="T",
                        help="generated tokens per strategy per puzzle")
    parser.add_argument("--iterations", type=int, default=None, metavar="N",
                        help="most MCTS / Best-of-N iterations (default: the budget decides)")
    parser.add_argument("--beam-width", type=int, default=StrategySettings.beam_width,
                        help="B: paths kept per depth")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="first N puzzles")
    parser.add_argument("--offset", type=int, default=0, metavar="N",
                        help="skip the first N puzzles (to split a run across processes)")
    add_model(parser)
    parser.add_argument("--out", default=None, metavar="FILE.csv|.json",
                        help="write the per-puzzle rows (and, for .json, the summary)")
    parser.add_argument("--save-runs", action="store_true",
                        help="store every search as a run in the database")
    parser.add_argument("--no-early-stop", action="store_true",
                        help="spend the whole budget even after a verified-correct answer")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default: 1, the demo model is tiny)")
    add_search_options(parser.add_argument_group(
        "search settings", "MCTS's settings, as `mctslab search` takes them; the other "
        "strategies take its seed, reward, step and rollout limits; mctsr takes them with "
        "--algorithm mctsr"), defaults=True)
    add_common(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import torch

    from app.runs.strategies import strategy_settings
    from engine.strategies.runner import parse_strategies

    _check_args(args)
    names = parse_strategies(args.strategies)
    chosen = _chosen_puzzles(args)
    torch.set_num_threads(max(1, args.threads))
    settings = strategy_settings(args.token_budget, search_settings(args),
                                 iterations=args.iterations, beam_width=args.beam_width,
                                 early_stop=not args.no_early_stop)
    store = None
    if args.save_runs:
        from storage import open_store

        store = open_store(args.db)
    model = load_model(args)

    def make_report(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return report_of(args, model, len(chosen), names, rows)

    def checkpoint(rows: list[dict[str, Any]]) -> None:
        # Rewritten after every puzzle, so a long run that is stopped keeps what it did.
        if args.out:
            write_rows(Path(args.out), rows, make_report(rows))

    rows = _evaluate(model, chosen, names, settings, store, checkpoint)
    report = make_report(rows)
    checkpoint(rows)
    if args.json:
        print(json.dumps(report))
    else:
        print(render_table(report))
    return 0


def _check_args(args: argparse.Namespace) -> None:
    """Raise ``InputError`` for an eval-specific flag out of range (the search settings are
    checked by ``make_config``)."""
    from engine.errors import InputError

    if args.token_budget < 1:
        raise InputError("--token-budget must be at least 1 generated token.")
    if args.iterations is not None and args.iterations < 1:
        raise InputError("--iterations must be at least 1.")
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1.")
    if args.offset < 0:
        raise InputError("--offset cannot be negative.")
    if args.beam_width < 1:
        raise InputError("--beam-width must be at least 1.")
    if args.out and Path(args.out).suffix.lower() not in (".csv", ".json"):
        raise InputError(f"--out {args.out}: use a file name ending in .csv or .json.")


def _chosen_puzzles(args: argparse.Namespace) -> list[tuple[int, str]]:
    """(index in the file, puzzle text) of the puzzles ``--offset`` and ``--limit`` pick."""
    from engine.errors import InputError
    from engine.tasks.game24 import load_puzzles

    try:
        puzzles = [" ".join(str(n) for n in p) for p in load_puzzles(args.puzzles)]
    except OSError as err:
        raise InputError(f"Cannot read --puzzles {args.puzzles}: {err.strerror}.") from None
    end = None if args.limit is None else args.offset + args.limit
    chosen = list(enumerate(puzzles))[args.offset:end]
    if not chosen:
        raise InputError(f"No puzzles to run in {args.puzzles} with --offset {args.offset}.")
    return chosen


def report_of(args: argparse.Namespace, model: Any, puzzles: int, names: Sequence[str],
              rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The eval report: the settings, the per-strategy summary and every row."""
    return {
        "token_budget": args.token_budget, "puzzles_file": args.puzzles,
        "puzzles": puzzles, "offset": args.offset, "seed": args.seed,
        "children": args.children, "beam_width": args.beam_width, "reward": args.reward,
        "selection": args.selection,
        "max_iterations": args.iterations, "model": model.name,
        "model_fingerprint": model.fingerprint, "device": model.device,
        "early_stop": None if args.no_early_stop else EARLY_STOP_NOTE,
        "puzzles_done": len({r["index"] for r in rows}),
        "strategies": summarise(rows, names), "rows": rows,
    }


def _evaluate(model: Any, chosen: Sequence[tuple[int, str]], names: Sequence[Any],
              settings: Any, store: Any,
              checkpoint: Callable[[list[dict[str, Any]]], None]) -> list[dict[str, Any]]:
    """Every strategy on every puzzle, one progress-bar tick per (puzzle, strategy)."""
    from tqdm import tqdm

    from app.runs.strategies import row_of, run_and_save

    rows: list[dict[str, Any]] = []
    with tqdm(total=len(chosen) * len(names), desc="eval", unit="search", file=sys.stderr,
              leave=False) as bar:
        for index, problem in chosen:
            for name in names:
                result, run_id = run_and_save(name, model, problem, settings, store)
                rows.append(row_of(index, result, run_id))
                bar.set_postfix_str(f"{name} {problem} {'solved' if result.solved else '-'}")
                bar.update(1)
            checkpoint(rows)
    return rows


def summarise(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """Per strategy: solve rate, mean tokens generated and forwarded, total wall seconds."""
    summary: dict[str, Any] = {}
    for name in names:
        mine = [r for r in rows if r["strategy"] == name]
        if not mine:
            continue
        solved = sum(1 for r in mine if r["solved"])

        def mean(key: str, rows: Sequence[dict[str, Any]] = mine) -> float:
            return round(statistics.fmean(r[key] for r in rows), 1)

        summary[name] = {
            "solve_rate": round(solved / len(mine), 4),
            "solved": solved,
            "puzzles": len(mine),
            "tokens_generated_mean": mean("tokens_generated"),
            "tokens_forwarded_mean": mean("tokens_forwarded"),
            "tokens_unique_mean": mean("tokens_unique"),
            "wall_s": round(sum(r["wall_s"] for r in mine), 2),
            "wall_s_mean": round(statistics.fmean(r["wall_s"] for r in mine), 3),
            "iterations_mean": round(statistics.fmean(r["iterations"] for r in mine), 2),
            "tokens_judged_mean": mean("tokens_judged"),
            "tokens_unvisited_mean": mean("tokens_unvisited"),
            "tokens_dead_mean": mean("tokens_dead"),
            "signals": mine[0]["signals"],
        }
    return summary


def write_rows(path: Path, rows: Sequence[dict[str, Any]], report: dict[str, Any]) -> None:
    """CSV: one row per (puzzle, strategy). JSON: the whole report, rows included."""
    from app.runs.strategies import ROW_FIELDS

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(report, indent=1), encoding="utf-8")
        return
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=ROW_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def render_table(report: dict[str, Any]) -> str:
    """The summary as an aligned text table."""
    lines = [
        f"{report['puzzles']} puzzles, budget {report['token_budget']} generated tokens per "
        f"strategy per puzzle, model {report['model']} on {report['device']}",
        f"{'strategy':<10} {'solved':>9} {'rate':>7} {'gen/puzzle':>11} {'fwd/puzzle':>11} "
        f"{'wall s':>8}  signals",
    ]
    for name, s in report["strategies"].items():
        lines.append(
            f"{name:<10} {s['solved']:>4}/{s['puzzles']:<4} {100 * s['solve_rate']:>6.1f}% "
            f"{s['tokens_generated_mean']:>11.1f} {s['tokens_forwarded_mean']:>11.1f} "
            f"{s['wall_s']:>8.1f}  {s['signals']}"
        )
    if report["early_stop"]:
        lines.append(f"note: {report['early_stop']}.")
    return "\n".join(lines)
