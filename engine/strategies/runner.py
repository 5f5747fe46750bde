"""Decoding strategies side by side, each one a tree in the same engine.

Every strategy runs a ``Search`` and leaves behind a stream of events that folds into its
tree, so the app can show (and storage can replay) greedy decoding, Best-of-N, beam search
and MCTS alike:

- ``greedy``: one iteration with k=1 at temperature 0: the root expands into the greedy
  first step, then a greedy rollout finishes the answer.
- ``best-of-n``: ``max_depth=0`` (the root is never expanded), so every iteration is one
  sampled rollout from the root; iterations continue until the token budget is spent.
- ``mcts``: the given config, iterations until the budget (or ``max_iterations``) is spent.
- ``beam``: step-level beam search (``engine.strategies.beam``).
- ``mctsr``: MCTSr over whole answers (``engine.strategies.mctsr``): the given config with
  ``algorithm="mctsr"``, iterations until the budget is spent.

The budget counts *generated* tokens (``TokenCounter.generated``, samples times their
multiplicity). A strategy checks it before each unit of work (an iteration, a beam
expansion), so it may overshoot by one unit; a parallel MCTS round (``parallel`` B > 1) is
one unit of up to B iterations, cut to what the budget has left at the search's pace
(``budget_round_cap``). With ``stop_when_solved`` a strategy also
stops at its first verified-correct answer: a solve rate under an exact verifier is the
same either way, and the time saved is large.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from engine.backends.protocol import Backend
from engine.core.config import SearchConfig
from engine.core.events import Event, Expanded, Simulated
from engine.core.tree import ROOT_ID, Tree, best_answer
from engine.errors import InputError
from engine.strategies.beam import BeamSearch
from engine.strategies.search import Search
from engine.strategies.settings import (
    DEFAULT_MAX_ITERATIONS,
    STRATEGIES,
    StrategyName,
    StrategySettings,
)

__all__ = ["DEFAULT_MAX_ITERATIONS", "STRATEGIES", "StrategyResult", "StrategySettings",
           "parse_strategies", "run_strategy", "strategy_config"]


@dataclass
class StrategyResult:
    """One strategy on one puzzle: its verdict, its cost and its whole event stream."""

    strategy: StrategyName
    problem: str
    """The problem as the task normalised it (the tree's root text)."""
    solved: bool
    """A verified-correct answer was found anywhere in the tree."""
    answer: str | None
    """The answer the tree reports (``tree.best_answer``)."""
    tokens_generated: int
    tokens_forwarded: int
    tokens_unique: int
    tokens_unvisited: int
    """Generated tokens of expanded children that were never visited (not counting dead
    ones): what expansion spent without using. Beam search visits nothing (0)."""
    tokens_dead: int
    """Generated tokens of children that the step check rejected."""
    wall_s: float
    iterations: int
    """MCTS/Best-of-N/greedy: completed iterations; beam: beam-node expansions."""
    stopped_early: bool
    """Stopped at a verified-correct answer before the budget was spent."""
    config: SearchConfig
    """The config of the underlying ``Search`` (what a saved run records)."""
    events: list[Event]
    tree: Tree
    """The strategy's tree; ``fold(problem, events)`` gives the same tree."""


def strategy_config(name: StrategyName, base: SearchConfig,
                    settings: StrategySettings | None = None) -> SearchConfig:
    """The ``Search`` config a strategy runs with, derived from MCTS's config ``base``
    (``mcts`` runs whichever algorithm ``base`` names; the others set theirs)."""
    if name == "mctsr":
        return base.model_copy(update={"algorithm": "mctsr"})
    base = base.model_copy(update={"algorithm": "mcts"}) if name != "mcts" else base
    if name == "greedy":
        return base.model_copy(update={"children": 1, "temperature": 0.0})
    if name == "best-of-n":
        # Rollouts from the root: the root's state value is the same for all of them, so
        # it is left out; the step check still stops a rollout at its first rejected step.
        return base.model_copy(update={"max_depth": 0, "leaf_value": "rollout"})
    if name == "beam":
        children = settings.beam_children if settings is not None else base.children
        return base.model_copy(update={"children": children})
    return base


def run_strategy(
    name: StrategyName, model: Backend, problem: str, settings: StrategySettings
) -> StrategyResult:
    """Run strategy ``name`` on ``problem`` within ``settings``; return its result."""
    config = strategy_config(name, settings.mcts_config, settings)
    search = Search(model, config, problem)
    started = time.perf_counter()
    if name == "greedy":
        search.run(1)
        stopped_early = False
        iterations = 1
    elif name == "beam":
        iterations, stopped_early = BeamSearch(search, settings).run()
    else:
        iterations, stopped_early = _run_iterations(search, settings)
    wall_s = time.perf_counter() - started
    answer, verdict = best_answer(search.tree)
    counter = search.session.counter
    return StrategyResult(
        strategy=name, problem=search.tree.problem, solved=verdict is True, answer=answer,
        tokens_generated=counter.generated, tokens_forwarded=counter.forwarded,
        tokens_unique=counter.unique, tokens_unvisited=_unvisited_tokens(search.tree, name),
        tokens_dead=sum(n.tokens_spent for n in search.tree.nodes if n.dead),
        wall_s=wall_s, iterations=iterations,
        stopped_early=stopped_early, config=config, events=list(search.events),
        tree=search.tree,
    )


def _run_iterations(search: Search, settings: StrategySettings) -> tuple[int, bool]:
    """Whole iterations until the budget, the iteration cap, a verified answer (with
    ``stop_when_solved``) or an exhausted tree; (iterations, stopped early)."""
    counter = search.session.counter
    solved = [False]

    def on_event(event: Event) -> None:
        solved[0] = solved[0] or _verified(event)

    def should_stop() -> bool:
        return (counter.generated >= settings.token_budget
                or (settings.stop_when_solved and solved[0]))

    search.run(settings.max_iterations - search.tree.iterations_done, on_event, should_stop,
               round_cap=lambda: budget_round_cap(counter.generated, settings.token_budget,
                                                  search.tree.iterations_done))
    return search.tree.iterations_done, settings.stop_when_solved and solved[0]


def budget_round_cap(generated: int, budget: int, iterations_done: int) -> int:
    """The most iterations a parallel round may have so that it spends about what is left
    of the token budget, at the search's own pace so far (tokens per iteration); before any
    iteration there is no pace, and the round may be full. A plain search's round is one
    iteration whatever this says."""
    if iterations_done == 0 or generated == 0:
        return 1_000_000
    per_iteration = generated / iterations_done
    return max(1, math.ceil((budget - generated) / per_iteration))


def _unvisited_tokens(tree: Tree, name: StrategyName) -> int:
    if name == "beam":
        return 0
    return sum(n.tokens_spent for n in tree.nodes
               if n.visits == 0 and n.dead is None and n.id != ROOT_ID)


def signals(config: SearchConfig) -> str:
    """The signals a search uses, named for a results table."""
    if config.algorithm == "mctsr":
        parts = [f"verifier, then {config.evaluator} self-reward x{config.reward_samples}"]
        if config.step_check == "on":
            parts.append("step check")
        return ", ".join(parts)
    parts = [f"reward {config.reward}"]
    if config.step_check == "on":
        parts.append("step check")
    # Rollouts from the root alone (Best-of-N) create no state that a value could rank.
    if config.max_depth > 0 and (config.leaf_value != "rollout"
                                 or config.evaluator != "outcome"):
        parts.append(f"{config.evaluator} values")
        if config.leaf_value != "rollout":
            parts.append(f"leaf {config.leaf_value}"
                         + (f" (lambda {config.value_weight})" if config.leaf_value == "mixed"
                            else ""))
    return ", ".join(parts)


def _verified(event: Event) -> bool:
    """Whether an event brought a verified-correct answer into the tree."""
    if isinstance(event, Simulated):
        return event.rollout.verdict is True
    if isinstance(event, Expanded):
        return any(c.verdict is True for c in event.children)
    return False


def parse_strategies(text: str) -> list[StrategyName]:
    """``greedy,best-of-n,...`` as a list; raise ``InputError`` naming a bad entry."""
    names: list[StrategyName] = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        match = next((s for s in STRATEGIES if s == name), None)
        if match is None:
            raise InputError(f"unknown strategy {name!r}: use {', '.join(STRATEGIES)}")
        names.append(match)
    if not names:
        raise InputError(f"no strategy given: use some of {', '.join(STRATEGIES)}")
    return names
