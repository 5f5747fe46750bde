"""Any text problem: the answer comes from an ``Answer:`` line or ``\\boxed{}``."""

from __future__ import annotations

import re

from engine.errors import InputError
from engine.tasks.task import (
    CRITIQUE_REQUEST,
    MAX_PROBLEM_CHARS,
    REWRITE_REQUEST,
    Judgement,
    boxed,
    last_line_starting,
)

FREEFORM_INSTRUCTION = (
    "Solve the problem step by step, one step per line, and finish with a line "
    "'Answer: <your answer>'.\n"
)


class FreeformTask:
    """Any text problem; verified only against a reference answer, when one is given."""

    name = "freeform"
    has_step_check = False

    def __init__(self, problem: str, reference_answer: str | None = None) -> None:
        text = problem.strip()
        if not text:
            raise InputError("The problem is empty: type a question for the model.")
        if len(text) > MAX_PROBLEM_CHARS:
            raise InputError(f"The problem is {len(text)} characters; the limit is "
                             f"{MAX_PROBLEM_CHARS}.")
        self.problem = text
        self.reference = reference_answer.strip() if reference_answer else None

    def prompt(self, chat: bool) -> str:
        if chat:
            return FREEFORM_INSTRUCTION + self.problem
        return f"Problem: {self.problem}\n{FREEFORM_INSTRUCTION}"

    def is_final_line(self, line: str) -> bool:
        stripped = line.strip()
        return stripped.startswith("Answer:") or "\\boxed{" in stripped

    def judge(self, generated: str, ended: bool) -> Judgement:
        answer = boxed(generated)
        line = last_line_starting(generated, "Answer:")
        if line is not None:
            answer = line[len("Answer:"):].strip()
        if answer is None or self.reference is None:
            return Judgement(answer, None)
        return Judgement(answer, _normalise(answer) == _normalise(self.reference))


    def why_wrong(self, answer: str | None) -> str | None:
        """Why ``answer`` is not verified correct; ``None`` when it matches the reference."""
        if answer is None:
            return "there is no Answer line (nor a \\boxed{} answer)"
        if self.reference is None:
            return "there is no reference answer to check it against"
        if _normalise(answer) == _normalise(self.reference):
            return None
        return f"it does not match the reference answer {self.reference!r}"

    def step_check(self, generated: str, step: str) -> str | None:
        return None  # free text has no rule to check a step against

    def value_prompt(self, generated: str) -> str | None:
        return (f"Problem: {self.problem}\nPartial solution:\n{generated.strip()}\n"
                "Can this partial solution still reach a correct answer? Reply sure or "
                "impossible.\nVerdict:")

    def critique_prompt(self, answer: str) -> str:
        head = self.prompt(True)
        return head + "\n\n" + CRITIQUE_REQUEST.format(answer=answer)

    def rewrite_prompt(self, answer: str, critique: str) -> str:
        head = self.prompt(True)
        return head + "\n\n" + REWRITE_REQUEST.format(
            answer=answer, critique=critique)


def _normalise(answer: str) -> str:
    return re.sub(r"[\s$.]+$", "", re.sub(r"\s+", " ", answer.strip().lower()))
