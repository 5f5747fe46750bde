"""What the demo model is trained on: the puzzle split and the evaluation examples.

An evaluation example is one line, ``Evaluate: 5 6 9 -> sure``: a state (one to four
numbers left) and whether 24 can still be reached from it, as the exact solver says.
States are drawn by random legal moves from *sources*: every multiset of four numbers
from 1-13 except the 100 held-out puzzles. A held-out puzzle is therefore never an
example itself; a smaller state that can also be reached from it is one only because it
is reachable from some other source. ``generator_states`` is exactly the set of states the
generator can draw: what the quality measure calls "seen".
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from fractions import Fraction
from functools import cache
from pathlib import Path

from engine.tasks import game24

ASSETS = Path(__file__).resolve().parents[2] / "assets"
HELDOUT_PUZZLES = ASSETS / "data" / "game24_tot_901_1000.txt"

State = tuple[Fraction, ...]
# Segments of an evaluation example: the prompt (context) and the verdict (trained).
EvaluationSegments = list[tuple[str, bool]]


def held_out_puzzles() -> set[tuple[int, ...]]:
    """The 100 held-out puzzles (the Tree-of-Thoughts evaluation split), sorted."""
    return {tuple(sorted(p)) for p in game24.load_puzzles(str(HELDOUT_PUZZLES))}


def all_puzzles() -> list[tuple[int, ...]]:
    """Every multiset of four numbers from 1..13 that has a solution."""
    candidates = itertools.combinations_with_replacement(range(1, 14), 4)
    return [p for p in candidates if game24.is_solvable(p)]


def training_puzzles() -> list[tuple[int, ...]]:
    """Every solvable puzzle except the held-out evaluation split."""
    held_out = held_out_puzzles()
    return [p for p in all_puzzles() if p not in held_out]


@cache
def impossible_puzzles() -> tuple[tuple[int, ...], ...]:
    """Every multiset of four numbers from 1..13 with no solution (none is held out)."""
    candidates = itertools.combinations_with_replacement(range(1, 14), 4)
    held_out = held_out_puzzles()
    return tuple(p for p in candidates if p not in held_out and not game24.is_solvable(p))


def _state(numbers: Sequence[int]) -> State:
    return game24.sort_numbers([Fraction(n) for n in numbers])


def draw_state(
    rng: random.Random,
    size: int,
    sure: bool,
    solvable_sources: Sequence[tuple[int, ...]],
) -> State:
    """A state of ``size`` numbers that is sure (24 reachable) or impossible, as asked.

    A sure state is a walk from a solvable source through solvable states only (every
    state on the way to a sure one is sure). An impossible one is a random walk from any
    source whose last move is drawn among those that leave 24 unreachable, so every
    impossible state reachable from a source can be drawn.
    """
    if size == 4:
        return _state(rng.choice(solvable_sources if sure else impossible_puzzles()))
    while True:
        # Impossible states come from every source alike, solvable or not.
        impossible = impossible_puzzles()
        share = len(solvable_sources) / (len(solvable_sources) + len(impossible))
        pool = solvable_sources if sure or rng.random() < share else impossible
        state = _state(rng.choice(pool))
        for depth in range(4 - size):
            moves = game24.legal_moves(state)
            if sure or depth == 3 - size:
                moves = tuple(m for m in moves if game24.is_solvable(m.remaining) == sure)
            if not moves:
                break
            state = rng.choice(moves).remaining
        if len(state) == size:
            return state


def evaluation_segments(state: Sequence[Fraction | int]) -> EvaluationSegments:
    """``Evaluate: 5 6 9 ->`` (context) and `` sure`` or `` impossible`` (trained)."""
    return [(game24.evaluation_prompt(state), False), (" " + game24.verdict(state) + "\n", True)]


def make_evaluation_example(
    rng: random.Random,
    solvable_sources: Sequence[tuple[int, ...]],
    size_weights: Sequence[float],
    sure_share: float,
) -> EvaluationSegments:
    """One evaluation example: its size drawn by ``size_weights`` (1, 2, 3, 4 numbers
    left), sure with probability ``sure_share``.

    Only one state of one number is sure (24 itself), so the share of sure ones is halved
    there, or "24" would be every other one-number example.
    """
    size = rng.choices((1, 2, 3, 4), weights=size_weights)[0]
    share = sure_share / 2 if size == 1 else sure_share
    return evaluation_segments(draw_state(rng, size, rng.random() < share, solvable_sources))


def successor_states(states: set[State]) -> set[State]:
    """Every state one legal move away from one of ``states``."""
    return {m.remaining for s in states for m in game24.legal_moves(s)}


def reachable_states(numbers: Sequence[int]) -> set[State]:
    """The puzzle's own state and every state reachable from it by legal moves."""
    level = {_state(numbers)}
    found = set(level)
    while level:
        level = successor_states(level)
        found |= level
    return found


@cache
def generator_states() -> frozenset[State]:
    """Every state ``draw_state`` can return: the sources and all states reachable from
    them. About 80,000 states; computing them takes some 15 s."""
    held_out = held_out_puzzles()
    candidates = itertools.combinations_with_replacement(range(1, 14), 4)
    level = {_state(p) for p in candidates if p not in held_out}
    found = set(level)
    while level:
        level = successor_states(level)
        found |= level
    return frozenset(found)
