"""Step-level beam search, written as out-of-cycle expansions of one ``Search``'s tree.

Each beam node gets k sampled next steps (an ``Expanded`` event with origin ``beam``);
every child is scored by the search's state value (its evaluator: with self-evaluation this
is Tree of Thoughts' breadth-first search), or, where that gives none, by MCTS's reward (a
terminal child by the verifier, 1 or 0; any other by the mean token confidence of its own
step). Dead children (rejected by the step check) are never kept. The best ``beam_width``
open children form the next beam. When the beam runs out (every path ended) and budget is left,
a fresh beam starts from the root with new samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.core.events import ROOT_ID, ChildSpec
from engine.core.rewards import combine
from engine.strategies.search import Search
from engine.strategies.settings import StrategySettings


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
        open_ = [c for c in candidates
                 if not tree.nodes[c.node].terminal and tree.nodes[c.node].dead is None]
        open_.sort(key=lambda c: (-c.score, c.node))
        return [c.node for c in open_[: self.settings.beam_width]]

    @staticmethod
    def _score(spec: ChildSpec) -> float:
        # The search's own state value where its evaluator gives one (self-evaluation makes
        # this Tree of Thoughts' BFS); otherwise MCTS's combined reward: the verifier where
        # it decides, else confidence (a pure verifier score would rate every open step 0).
        if spec.value is not None:
            return spec.value
        value, _ = combine("combined", spec.confidences, spec.verdict if spec.terminal else None)
        return value

    def _expand(self, node_id: int) -> tuple[ChildSpec, ...]:
        """Sample k next steps under ``node_id`` and add them as one beam expansion."""
        search = self.search
        # One seeded stream per expansion, so a rerun with the same seed gives the same tree.
        event = search.expand_out_of_cycle(
            node_id, f"beam search: sampled {search.config.children} next steps",
            search.generator("beam", self.expansions), "beam",
        )
        self.expansions += 1
        return event.children


