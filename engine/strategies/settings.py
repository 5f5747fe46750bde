"""What every strategy on a puzzle shares, so that a comparison between them is fair."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from engine.core.config import SearchConfig, make_config

StrategyName = Literal["greedy", "best-of-n", "beam", "mcts", "mctsr"]
STRATEGIES: tuple[StrategyName, ...] = ("greedy", "best-of-n", "beam", "mcts", "mctsr")
"""Every strategy ``mctslab eval`` can run (``engine.strategies.runner``)."""

DEFAULT_MAX_ITERATIONS = 10_000
"""Iteration cap for budget-driven strategies when none is given (the budget decides)."""


@dataclass(frozen=True)
class StrategySettings:
    """What every strategy on a puzzle shares, so that the comparison is fair."""

    token_budget: int
    """Generated tokens a strategy may spend (it may overshoot by one iteration/expansion)."""
    mcts_config: SearchConfig = field(default_factory=make_config)
    """MCTS's config; the other strategies take its seed, reward, step and rollout limits."""
    max_iterations: int = DEFAULT_MAX_ITERATIONS
    """Most MCTS (and Best-of-N) iterations, whatever budget is left."""
    beam_width: int = 4
    """Beam search: open paths kept per depth (B)."""
    beam_children: int = 4
    """Beam search: next steps sampled per beam node (ToT samples several per state; MCTS's
    own k, 1 with progressive widening, would make every beam one path)."""
    stop_when_solved: bool = True
    """Stop at the first verified-correct answer (solve rates are unchanged)."""
