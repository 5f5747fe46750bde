"""How a reported answer is labelled: the one place that decides whether the CLI, the runs
list or the app may call an answer "the answer".

Only a verified-correct answer is "the best answer"; anything else is a candidate, labelled
wrong (with the reason, when the task can say: a Game-of-24 expression says what it
equals) or unverified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AnswerVerdict = Literal["correct", "wrong", "unverified", "none"]
ANSWER_VERDICTS: tuple[str, ...] = ("correct", "wrong", "unverified", "none")


@dataclass(frozen=True)
class AnswerLabel:
    """An answer with its verdict in words."""

    verdict: AnswerVerdict
    """correct (verified), wrong (verified wrong), unverified, or none (no answer yet)."""
    answer: str | None
    reason: str | None = None
    """Why a wrong answer is wrong (``equals 11``), when the task can say."""

    @property
    def tag(self) -> str:
        """``wrong: equals 11``, ``wrong``, ``unverified``, ``verified correct`` or ``no
        answer yet``."""
        if self.verdict == "wrong":
            return f"wrong: {self.reason}" if self.reason else "wrong"
        return {"correct": "verified correct", "unverified": "unverified",
                "none": "no answer yet"}[self.verdict]

    @property
    def line(self) -> str:
        """One line for a summary: ``best answer (verified correct): ...`` only for a
        correct answer, else ``no verified answer; best candidate (wrong: ...): ...``."""
        if self.verdict == "correct":
            return f"best answer ({self.tag}): {self.answer}"
        if self.verdict == "none":
            return "no verified answer (no answer reached yet)"
        return f"no verified answer; best candidate ({self.tag}): {self.answer}"

    @property
    def short(self) -> str:
        """For a table cell or a list: the answer, with its tag unless it is correct."""
        if self.verdict == "correct":
            return str(self.answer)
        if self.verdict == "none":
            return self.tag
        return f"{self.answer} ({self.tag})"


def label_answer(task: str, problem: str, answer: str | None, solved: bool | None,
                 reference_answer: str | None = None) -> AnswerLabel:
    """Label ``answer`` (a run's or a node's answer, the text after ``Answer:``) of a
    ``task`` run on ``problem``, whose verifier said ``solved`` (True, False, or None: not
    verified). The reason for a wrong answer is the task's own ``why_wrong``. Pure: the
    same arguments give the same label everywhere."""
    from engine.tasks import make_task

    if answer is None:
        return AnswerLabel("none", None)
    if solved is True:
        return AnswerLabel("correct", answer)
    if solved is None:
        return AnswerLabel("unverified", answer)
    return AnswerLabel("wrong", answer,
                       make_task(task, problem, reference_answer).why_wrong(answer))


def answer_fields(label: AnswerLabel) -> dict[str, str | None]:
    """The label as JSON fields beside ``best_answer``/``solved``: ``answer_verdict``
    (correct, wrong, unverified, none) and ``answer_reason`` (why it is wrong, or null)."""
    return {"answer_verdict": label.verdict, "answer_reason": label.reason}
