"""The one labelling of a reported answer: a wrong or unverified candidate is never called
"the answer", and a wrong Game-of-24 expression says what it equals."""

from __future__ import annotations

import pytest

from engine.tasks.answers import label_answer
from engine.tasks.game24 import answer_fault


@pytest.mark.parametrize(("answer", "fault"), [
    ("((5*4)-5)-4=24", "equals 11; uses 4 4 5 5, not 4 5 6 10"),
    ("(5*4)+(10-6)=24", None),
    ("(10-6)*5+4=24", None),
    ("(5*4)+(10-6)=23", "claims 23, not 24"),
    ("4*6=24", "uses 4 6, not 4 5 6 10"),
    ("(5*4)+(10-6", "not of the form EXPRESSION=24"),
    ("10/(5-5)+4*6=24", "division by zero"),
])
def test_game24_fault_says_why(answer: str, fault: str | None) -> None:
    assert answer_fault((4, 5, 6, 10), answer) == fault


def test_a_wrong_best_answer_is_a_labelled_candidate_not_the_answer() -> None:
    label = label_answer("game24", "4 5 6 10", "((5*4)-5)-4=24", False)
    assert label.verdict == "wrong"
    assert label.reason == "equals 11; uses 4 4 5 5, not 4 5 6 10"
    assert label.line == ("no verified answer; best candidate (wrong: equals 11; uses 4 4 5 5, "
                          "not 4 5 6 10): ((5*4)-5)-4=24")
    assert label.short == "((5*4)-5)-4=24 (wrong: equals 11; uses 4 4 5 5, not 4 5 6 10)"
    assert "best answer" not in label.line


def test_correct_unverified_and_no_answer() -> None:
    correct = label_answer("game24", "10 4 6 5", "(5*4)+(10-6)=24", True)
    assert (correct.verdict, correct.line, correct.short) == (
        "correct", "best answer (verified correct): (5*4)+(10-6)=24", "(5*4)+(10-6)=24")
    free = label_answer("freeform", "What is 2+2?", "4", None)
    assert (free.verdict, free.short) == ("unverified", "4 (unverified)")
    assert free.line == "no verified answer; best candidate (unverified): 4"
    # The reason is the task's own why_wrong (freeform compares with the reference).
    wrong = label_answer("freeform", "What is 2+2?", "5", False, "4")
    assert wrong.short == "5 (wrong: it does not match the reference answer '4')"
    nothing = label_answer("game24", "4 5 6 10", None, None)
    assert (nothing.verdict, nothing.line, nothing.short) == (
        "none", "no verified answer (no answer reached yet)", "no answer yet")
