"""The exact Game-of-24 verifier: accepts every generated trace, rejects corrupted ones."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from engine.errors import InputError
from engine.tasks import game24
from engine.training.demo_model import make_trace, training_puzzles

F = Fraction


def test_every_generated_trace_verifies() -> None:
    rng = random.Random(7)
    puzzles = training_puzzles()
    assert len(puzzles) == 1262  # 1,362 solvable minus the 100 held out
    for _ in range(2000):
        trace = make_trace(rng.choice(puzzles), rng, reflection_share=0.3)
        check = game24.check_trace(trace)
        assert check.valid and check.solved, (trace, check.reason)


def test_held_out_puzzles_are_not_trained_on() -> None:
    held = {tuple(sorted(p)) for p in game24.load_puzzles("assets/data/game24_tot_901_1000.txt")}
    assert len(held) == 100
    assert held.isdisjoint(training_puzzles())


def test_step_accepts_a_correct_step() -> None:
    check = game24.check_step((F(1), F(5), F(7), F(9)), "Step: 7-1=6 (left: 5 6 9)")
    assert check.legal and check.remaining == (F(5), F(6), F(9))


@pytest.mark.parametrize(
    ("available", "line", "reason"),
    [
        ((1, 5, 7, 9), "Step: 7-1=5 (left: 5 5 9)", "arithmetic"),
        ((1, 5, 7, 9), "Step: 7-7=0 (left: 0 1 5 9)", "not among"),  # 7 used twice
        ((1, 5, 7, 9), "Step: 7-1=6 (left: 5 9)", "remaining"),
        ((1, 5, 7, 9), "Step: 7-1=6 (left: 5 6 9 9)", "remaining"),
        ((1, 3, 4, 6), "Step: 3/4=6/8 (left: 1 6 6/8)", "lowest terms"),
        ((1, 3, 4, 6), "Step: 3/0=1 (left: 1 1 4 6)", "not among"),
        ((1, 5, 7, 9), "Step: 7 minus 1 is 6", "not a step"),
    ],
)
def test_step_rejects_corruptions(available: tuple[int, ...], line: str, reason: str) -> None:
    check = game24.check_step(tuple(F(n) for n in available), line)
    assert not check.legal
    assert reason in check.reason


def test_fraction_steps() -> None:
    check = game24.check_step((F(3, 4), F(1), F(6)), "Step: 1-(3/4)=1/4 (left: 1/4 6)")
    assert check.legal
    final = game24.check_step(check.remaining, "Step: 6/(1/4)=24 (left: 24)")
    assert final.legal and final.remaining == (F(24),)


def test_answers() -> None:
    assert game24.check_answer((1, 5, 7, 9), "Answer: (7-1)*(9-5)=24")
    assert game24.check_answer((1, 3, 4, 6), "Answer: 6/(1-(3/4))=24")
    assert not game24.check_answer((1, 5, 7, 9), "Answer: (7-1)*(9-5)=25")
    assert not game24.check_answer((1, 5, 7, 9), "Answer: (7-1)*(7-5)=24")  # 7 twice
    assert not game24.check_answer((4, 6, 1, 1), "Answer: 4*6=24")  # numbers unused
    assert not game24.check_answer((1, 5, 7, 9), "Answer: __import__('os')=24")


def test_corrupted_trace_is_rejected() -> None:
    good = ("Input: 1 5 7 9\nStep: 7-1=6 (left: 5 6 9)\nStep: 9-5=4 (left: 4 6)\n"
            "Step: 6*4=24 (left: 24)\nAnswer: (7-1)*(9-5)=24\n")
    assert game24.check_trace(good).solved
    assert not game24.check_trace(good.replace("9-5=4", "9-5=3")).valid
    assert not game24.check_trace(good.replace("Answer: (7-1)*(9-5)=24\n", "")).valid


@pytest.mark.parametrize("text", ["1 2 3", "1 2 3 4 5", "0 2 3 4", "1 2 3 14", "a b c d", ""])
def test_bad_puzzles_give_clear_errors(text: str) -> None:
    with pytest.raises(InputError):
        game24.parse_puzzle(text)


def test_solver_counts() -> None:
    assert game24.is_solvable((4, 5, 6, 10))
    assert game24.is_solvable((1, 3, 4, 6))  # needs fractions: 6/(1-3/4)
    assert not game24.is_solvable((1, 1, 1, 1))
