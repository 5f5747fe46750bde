"""Decoding strategies side by side, each one a tree in the same engine.

Every strategy runs a ``Search`` and leaves behind a stream of events that folds into its
tree, so the app can show (and storage can replay) greedy decoding, Best-of-N, beam search
and MCTS alike:

- ``greedy``: one iteration with k=1 at temperature 0: the root expands into the greedy
  first step, then a greedy rollout finishes the answer.
- ``best-of-n``: ``max_depth=0`` (the root is never expanded), so every iteration is one
  sampled rollout from the root; iterations continue until the token budget is spent.
- ``mcts``: the given config, iterations until the budget (or ``max_iterations``) is spent.
- ``beam``: step-level beam search. Each beam node gets k sampled next steps (a manual
  ``Expanded`` event); every child is scored with MCTS's reward (a terminal child by the
  verifier, 1 or 0; any other by the mean token confidence of its own step) and the best
  ``beam_width`` open children form the next beam. When the beam runs out (every path
  ended) and budget is left, a fresh beam starts from the root with new samples.

The budget counts *generated* tokens (``TokenCounter.generated``, samples times their
multiplicity). A strategy checks it before each unit of work (an iteration, a beam
expansion), so it may overshoot by one unit. With ``stop_when_solved`` a strategy also
stops at its first verified-correct answer: a solve rate under an exact verifier is the
same either way, and the time saved is large.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

from engine.config import SearchConfig, make_config
from engine.errors import InputError
from engine.events import ChildSpec, Event, Expanded, Simulated
from engine.lm import HFModel
from engine.rewards import combine
from engine.search import Search
from engine.tree import ROOT_ID, Tree, best_answer

StrategyName = Literal["greedy", "best-of-n", "beam", "mcts"]
STRATEGIES: tuple[StrategyName, ...] = ("greedy", "best-of-n", "beam", "mcts")

DEFAULT_MAX_ITERATIONS = 10_000
"""Iteration cap for budget-driven strategies when none is given (the budget decides)."""
IDLE_ITERATIONS = 50
"""Iterations in a row that generate nothing (only terminal nodes left to revisit) after
which a budget-driven search stops: the budget could never be spent."""


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
    """Beam search: open paths kept per depth (B); each gets ``mcts_config.children``."""
    stop_when_solved: bool = True
    """Stop at the first verified-correct answer (solve rates are unchanged)."""


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


def strategy_config(name: StrategyName, base: SearchConfig) -> SearchConfig:
    """The ``Search`` config a strategy runs with, derived from MCTS's config ``base``."""
    if name == "greedy":
        return base.model_copy(update={"children": 1, "temperature": 0.0})
    if name == "best-of-n":
        return base.model_copy(update={"max_depth": 0})
    return base


def run_strategy(
    name: StrategyName, model: HFModel, problem: str, settings: StrategySettings
) -> StrategyResult:
    """Run strategy ``name`` on ``problem`` within ``settings``; return its result."""
    config = strategy_config(name, settings.mcts_config)
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
        tokens_unique=counter.unique, wall_s=wall_s, iterations=iterations,
        stopped_early=stopped_early, config=config, events=list(search.events),
        tree=search.tree,
    )


def _run_iterations(search: Search, settings: StrategySettings) -> tuple[int, bool]:
    """Whole iterations until the budget or the iteration cap; (iterations, stopped early)."""
    counter = search.session.counter
    idle = 0
    while (search.tree.iterations_done < settings.max_iterations
           and counter.generated < settings.token_budget and idle < IDLE_ITERATIONS):
        before = counter.generated
        events = search.step_iteration()
        if settings.stop_when_solved and any(_verified(e) for e in events):
            return search.tree.iterations_done, True
        idle = idle + 1 if counter.generated == before else 0
    return search.tree.iterations_done, False


def _verified(event: Event) -> bool:
    """Whether an event brought a verified-correct answer into the tree."""
    if isinstance(event, Simulated):
        return event.rollout.verdict is True
    if isinstance(event, Expanded):
        return any(c.verdict is True for c in event.children)
    return False


@dataclass(frozen=True)
class BeamCandidate:
    """A child scored for the next beam."""

    node: int
    score: float
    """The MCTS reward of the child: verifier 1/0 if terminal, else mean step confidence."""


class BeamSearch:
    """Step-level beam search written as manual expansions of one ``Search``'s tree."""

    def __init__(self, search: Search, settings: StrategySettings) -> None:
        self.search = search
        self.settings = settings
        self.expansions = 0

    def run(self) -> tuple[int, bool]:
        """Beam passes from the root until the budget is spent; (expansions, stopped early)."""
        counter = self.search.session.counter
        while counter.generated < self.settings.token_budget:
            solved, progressed = self._one_pass()
            if solved:
                return self.expansions, True
            if not progressed:  # every sample merged into nothing new: nothing left to try
                break
        return self.expansions, False

    def _one_pass(self) -> tuple[bool, bool]:
        """One beam from the root to the end of every path; (solved, anything generated)."""
        config = self.search.config
        counter = self.search.session.counter
        before = counter.generated
        beam = [ROOT_ID]
        depth = 0
        while beam and depth < max(config.max_depth, 1):
            candidates: list[BeamCandidate] = []
            for node_id in beam:
                if counter.generated >= self.settings.token_budget:
                    return False, counter.generated > before
                for spec in self._expand(node_id):
                    if spec.verdict is True and self.settings.stop_when_solved:
                        return True, True
                    candidates.append(BeamCandidate(spec.id, self._score(spec)))
            beam = self._next_beam(candidates)
            depth += 1
        return False, counter.generated > before

    def _next_beam(self, candidates: Sequence[BeamCandidate]) -> list[int]:
        """The ``beam_width`` best children that can still be extended."""
        tree = self.search.tree
        open_ = [c for c in candidates if not tree.nodes[c.node].terminal]
        open_.sort(key=lambda c: (-c.score, c.node))
        return [c.node for c in open_[: self.settings.beam_width]]

    @staticmethod
    def _score(spec: ChildSpec) -> float:
        # MCTS's combined reward: the verifier where it decides, otherwise confidence. (A
        # pure verifier score would rate every open step 0 and leave the beam to chance.)
        value, _ = combine("combined", spec.confidences, spec.verdict if spec.terminal else None)
        return value

    def _expand(self, node_id: int) -> tuple[ChildSpec, ...]:
        """Sample k next steps under ``node_id`` and add them as one manual expansion."""
        search = self.search
        event = search.expand_manually(
            node_id, f"beam search: sampled {search.config.children} next steps",
            self._generator(),
        )
        children = event.children
        self.expansions += 1
        return children

    def _generator(self) -> torch.Generator:
        # One seeded stream per expansion, so a rerun with the same seed gives the same tree.
        seed = (self.search.config.seed * 1_000_003 + self.expansions) * 8 + 5
        return torch.Generator().manual_seed(seed % (2**63))


def run_all(
    names: Sequence[StrategyName], model: HFModel, problem: str, settings: StrategySettings,
    on_result: Callable[[StrategyResult], None] | None = None,
) -> list[StrategyResult]:
    """Every strategy in ``names`` on one problem, in order."""
    results = []
    for name in names:
        result = run_strategy(name, model, problem, settings)
        if on_result is not None:
            on_result(result)
        results.append(result)
    return results


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
