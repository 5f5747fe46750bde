"""Strategies x signals x budgets x seeds on the held-out puzzles, with pooled sign tests.

``python -m app.bench.ablation --out results.json`` runs every strategy (greedy, Best-of-N,
beam, MCTS, MCTSr) with each set of signals (outcome only, + step check, + self-evaluation, +
both) at each token budget and seed, through the same ``run_strategy`` as ``mctslab
eval``, one puzzle-strategy per task on a pool of worker processes. It writes every row
and prints markdown tables: solve counts per seed, pooled counts with their spread over
seeds, and exact two-sided sign tests of MCTS (and MCTSr) against each other strategy on
the puzzle-seeds only one of the two solved.

Each search's random stream comes from (seed, puzzle) (``engine.core.seeding``), so the
100 puzzles of one seed are independent trials.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

SIGNALS: dict[str, dict[str, Any]] = {
    "outcome only": {"step_check": "off", "evaluator": "outcome", "leaf_value": "rollout"},
    "+ step check": {"step_check": "on", "evaluator": "step-check", "leaf_value": "rollout"},
    "+ self-eval": {"step_check": "off", "evaluator": "self-eval", "leaf_value": "mixed"},
    "+ both": {"step_check": "on", "evaluator": "self-eval", "leaf_value": "mixed"},
}
STRATEGY_NAMES = ("greedy", "best-of-n", "beam", "mcts", "mctsr")
"""MCTSr takes the same signals: its self-reward is the evaluator (the verifier where it
decides), and the step check stops an attempt at its first rejected step."""

_MODEL: Any = None


def _init_worker(setup: Callable[[], None] | None = None) -> None:
    import torch

    from engine.backends.hf import HFModel

    global _MODEL
    torch.set_num_threads(1)
    if setup is not None:
        setup()
    _MODEL = HFModel()


def run_one(task: tuple[str, str, int, int, int, dict[str, Any], int]) -> dict[str, Any]:
    """One strategy on one puzzle: (strategy, signals, budget, seed, index, overrides,
    max_iterations) -> a result row."""
    from engine.core.config import make_config
    from engine.strategies.runner import run_strategy
    from engine.strategies.settings import StrategySettings
    from engine.tasks.game24 import load_puzzles

    strategy, signals, budget, seed, index, overrides, max_iterations = task
    puzzle = load_puzzles(str(_puzzle_file()))[index]
    config = make_config(seed=seed, **{**SIGNALS[signals], **overrides})
    settings = StrategySettings(token_budget=budget, mcts_config=config,
                                max_iterations=max_iterations)
    result = run_strategy(strategy, _MODEL, " ".join(map(str, puzzle)), settings)  # type: ignore[arg-type]
    return {"strategy": strategy, "signals": signals, "budget": budget, "seed": seed,
            "puzzle": index, "solved": result.solved, "generated": result.tokens_generated,
            "forwarded": result.tokens_forwarded, "unvisited": result.tokens_unvisited,
            "dead": result.tokens_dead, "iterations": result.iterations,
            "judged": result.tree.tokens.judged,
            "solved_by": solved_by(result.tree) if strategy == "mctsr" else None}


def solved_by(tree: Any) -> str | None:
    """In an MCTSr tree, which kind of answer was verified correct: ``first`` (the first
    answer), ``reflection`` (a rewrite after the reflection line), ``fresh`` (a rewrite of
    an answer with no legal step, from the problem alone) or ``critique`` (a chat model's
    rewrite); ``None`` when nothing was."""
    from engine.strategies.mctsr import NOTHING_TO_REFLECT
    from engine.tasks.reflection import REFLECTION_LINE

    node = next((n for n in tree.nodes if n.verdict is True and n.id != 0), None)
    if node is None:
        return None
    return {None: "first", REFLECTION_LINE: "reflection",
            NOTHING_TO_REFLECT: "fresh"}.get(node.critique, "critique")


def _puzzle_file() -> Path:
    return Path(__file__).resolve().parents[2] / "assets" / "data" / "game24_tot_901_1000.txt"


def sign_test(only_a: int, only_b: int) -> float:
    """Exact two-sided sign test: the chance of a split at least this uneven if each
    discordant puzzle were a fair coin."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return float(min(1.0, 2 * tail))


def compare(rows: Sequence[dict[str, Any]], a: str, b: str, signals: str, budget: int
            ) -> dict[str, Any]:
    """Strategy ``a`` against ``b`` with the same signals and budget, pooled over seeds."""
    solved: dict[tuple[str, int, int], bool] = {
        (r["strategy"], r["seed"], r["puzzle"]): r["solved"] for r in rows
        if r["signals"] == signals and r["budget"] == budget}
    keys = sorted({(s, p) for (name, s, p) in solved if name == a}
                  & {(s, p) for (name, s, p) in solved if name == b})
    only_a = sum(solved[(a, s, p)] and not solved[(b, s, p)] for s, p in keys)
    only_b = sum(solved[(b, s, p)] and not solved[(a, s, p)] for s, p in keys)
    per_seed = {s: (sum(solved[(a, s, p)] for ss, p in keys if ss == s),
                    sum(solved[(b, s, p)] for ss, p in keys if ss == s))
                for s in sorted({s for s, _ in keys})}
    return {"a": a, "b": b, "signals": signals, "budget": budget, "trials": len(keys),
            "a_solved": sum(v[0] for v in per_seed.values()),
            "b_solved": sum(v[1] for v in per_seed.values()),
            "only_a": only_a, "only_b": only_b, "p": sign_test(only_a, only_b),
            "per_seed": per_seed}


def table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown: solved per strategy x signals at each budget, pooled (and per seed)."""
    out = []
    budgets = sorted({r["budget"] for r in rows})
    for budget in budgets:
        out.append(f"\n### {budget} tokens\n")
        out.append("| strategy | " + " | ".join(SIGNALS) + " |")
        out.append("| --- |" + " ---: |" * len(SIGNALS))
        for strategy in STRATEGY_NAMES:
            cells = []
            for signals in SIGNALS:
                mine = [r for r in rows if r["strategy"] == strategy
                        and r["signals"] == signals and r["budget"] == budget]
                if not mine:
                    cells.append("-")
                    continue
                seeds = sorted({r["seed"] for r in mine})
                counts = [sum(r["solved"] for r in mine if r["seed"] == s) for s in seeds]
                spread = f" (sd {statistics.stdev(counts):.1f})" if len(counts) > 1 else ""
                cells.append(f"{sum(counts)}/{len(mine)} [{', '.join(map(str, counts))}]"
                             + spread)
            out.append(f"| {strategy} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None, setup: Callable[[], None] | None = None,
         prog: str | None = None) -> int:
    """Run the grid; ``setup`` (a module-level function) runs first in every worker
    (``app.bench.counterfactual`` uses it to change the engine for an analysis)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default=",".join(STRATEGY_NAMES))
    parser.add_argument("--signals", default=",".join(SIGNALS),
                        help="comma-separated names from: " + "; ".join(SIGNALS))
    parser.add_argument("--budgets", default="300,800")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--puzzles", type=int, default=100, help="the first N held-out ones")
    parser.add_argument("--max-iterations", type=int, default=10_000)
    parser.add_argument("--set", default="{}", help="JSON of extra SearchConfig settings")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    tasks = [(strategy, signals, int(budget), int(seed), index, json.loads(args.set),
              args.max_iterations)
             for strategy in args.strategies.split(",")
             for signals in args.signals.split(",")
             for budget in args.budgets.split(",")
             for seed in args.seeds.split(",")
             for index in range(args.puzzles)]
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(args.workers, initializer=_init_worker,
                             initargs=(setup,)) as pool:
        for i, row in enumerate(pool.map(run_one, tasks, chunksize=4), 1):
            rows.append(row)
            if i % 50 == 0 or i == len(tasks):
                print(f"{i}/{len(tasks)} in {time.perf_counter() - started:.0f}s",
                      file=sys.stderr, flush=True)
    comparisons = [compare(rows, mine, other, signals, budget)
                   for mine in ("mcts", "mctsr")
                   for other in ("best-of-n", "beam", "greedy", "mcts") if other != mine
                   for signals in args.signals.split(",")
                   for budget in sorted({r["budget"] for r in rows})]
    args.out.write_text(json.dumps({"rows": rows, "comparisons": comparisons,
                                    "settings": json.loads(args.set),
                                    "wall_s": round(time.perf_counter() - started)}, indent=1))
    print(table(rows))
    for c in comparisons:
        if c["trials"]:
            print(f"{c['a']} vs {c['b']} ({c['signals']}, {c['budget']}): {c['a_solved']} vs "
                  f"{c['b_solved']} of {c['trials']}, only {c['only_a']} / {c['only_b']}, "
                  f"p = {c['p']:.2g}, per seed {c['per_seed']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
