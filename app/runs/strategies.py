"""Strategies side by side as ``mctslab eval`` runs them: one code path for the CLI's eval
and the app's Compare page.

- ``strategy_settings``: what every strategy on a puzzle shares (the token budget, MCTS's
  config built by ``make_config`` from the search settings given, the iteration cap, the
  beam width, early stop), built the same way for both.
- ``run_and_save``: ``engine.strategies.runner.run_strategy``, then the search stored as a
  finished run (``save_run``) when a store is given.
- ``row_of``: the result as one row of the eval report (``ROW_FIELDS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.backends.protocol import Backend
from engine.core.config import make_config
from engine.strategies.runner import (
    DEFAULT_MAX_ITERATIONS,
    StrategyResult,
    StrategySettings,
    run_strategy,
    signals,
)
from engine.strategies.settings import StrategyName
from storage import RunStore

ROW_FIELDS = (
    "index", "problem", "strategy", "solved", "answer", "tokens_generated",
    "tokens_forwarded", "tokens_unique", "tokens_judged", "tokens_unvisited", "tokens_dead",
    "wall_s", "iterations", "stopped_early", "run_id", "signals",
)


def strategy_settings(token_budget: int, search: Mapping[str, Any], *,
                      iterations: int | None = None, beam_width: int = StrategySettings.beam_width,
                      early_stop: bool = True) -> StrategySettings:
    """The settings every strategy runs under: MCTS's config is ``make_config(**search)``
    (``search``: ``SearchConfig`` fields; the ones left out take their defaults, as the
    CLI's flags do); ``iterations`` None lets the budget decide."""
    return StrategySettings(
        token_budget=token_budget, mcts_config=make_config(**search),
        max_iterations=iterations or DEFAULT_MAX_ITERATIONS,
        beam_width=beam_width, stop_when_solved=early_stop,
    )


def run_and_save(name: StrategyName, model: Backend, problem: str,
                 settings: StrategySettings,
                 store: RunStore | None) -> tuple[StrategyResult, int | None]:
    """Run strategy ``name`` on ``problem``; store it (with a store) and return the result
    and its run id (None without a store)."""
    result = run_strategy(name, model, problem, settings)
    run_id = save_run(store, model, result) if store is not None else None
    return result, run_id


def row_of(index: int, result: StrategyResult, run_id: int | None) -> dict[str, Any]:
    """One per-puzzle row (``ROW_FIELDS``), naming the signals the strategy used."""
    return {
        "index": index, "problem": result.problem, "strategy": result.strategy,
        "solved": result.solved, "answer": result.answer,
        "tokens_generated": result.tokens_generated,
        "tokens_forwarded": result.tokens_forwarded, "tokens_unique": result.tokens_unique,
        "tokens_judged": result.tree.tokens.judged, "tokens_unvisited": result.tokens_unvisited,
        "tokens_dead": result.tokens_dead,
        "wall_s": round(result.wall_s, 3), "iterations": result.iterations,
        "stopped_early": result.stopped_early, "run_id": run_id,
        "signals": signals(result.config),
    }


def save_run(store: RunStore, model: Backend, result: StrategyResult) -> int:
    """Store one strategy's search as a finished run; return its id."""
    run_id = int(store.create_run(
        problem=result.problem, config=result.config, model_name=model.name,
        model_fingerprint=model.fingerprint,
        title=f"eval {result.strategy}: {result.problem}",
    ))
    store.append_events(run_id, result.events, iterations_done=result.tree.iterations_done,
                        best_answer=result.answer, solved=result.solved)
    store.set_status(run_id, "finished")
    return run_id
