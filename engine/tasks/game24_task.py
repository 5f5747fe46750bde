"""Game of 24 as a search task: the prompt, the answer line, and the exact verifier."""

from __future__ import annotations

from fractions import Fraction

from engine.tasks import game24
from engine.tasks.reflection import is_reflection
from engine.tasks.task import (
    CRITIQUE_REQUEST,
    REWRITE_REQUEST,
    Judgement,
    last_line_starting,
)

GAME24_INSTRUCTION = (
    "Use the four numbers and + - * / to make 24, one step per line, each step written "
    "'Step: a op b=c (left: remaining numbers)', then a line 'Answer: expression=24'.\n"
    "Example:\nInput: 1 5 7 9\nStep: 7-1=6 (left: 5 6 9)\nStep: 9-5=4 (left: 4 6)\n"
    "Step: 6*4=24 (left: 24)\nAnswer: (7-1)*(9-5)=24\n\n"
)


class Game24Task:
    """Make 24 from four numbers; every answer is verified exactly."""

    name = "game24"
    has_step_check = True

    def __init__(self, problem: str) -> None:
        # Ascending order: the demo model was trained on sorted inputs, and the puzzle is
        # the same multiset whatever the order it was typed in.
        self.numbers = tuple(sorted(game24.parse_puzzle(problem)))
        self.problem = " ".join(str(n) for n in self.numbers)

    def prompt(self, chat: bool) -> str:
        body = game24.prompt_for(self.numbers)
        return GAME24_INSTRUCTION + body if chat else body

    def is_final_line(self, line: str) -> bool:
        return line.strip().startswith(game24.ANSWER_PREFIX.strip())

    def judge(self, generated: str, ended: bool) -> Judgement:
        line = last_line_starting(generated, game24.ANSWER_PREFIX.strip())
        if line is None:
            # Game of 24 is decided: no answer line means not solved.
            return Judgement(None, False)
        answer = line[len(game24.ANSWER_PREFIX.strip()):].strip()
        return Judgement(answer, game24.check_answer(self.numbers, line))

    def why_wrong(self, answer: str | None) -> str | None:
        """Why ``answer`` (as ``judge`` found it) is not a solution; ``None`` if it is one."""
        if answer is None:
            return "there is no Answer line, and Game of 24 counts that as not solved"
        return game24.answer_fault(self.numbers, answer)

    def numbers_left(self, generated: str) -> tuple[Fraction, ...] | None:
        """The numbers available after the finished lines of ``generated``: the puzzle's,
        then each legal step's ``left:`` list; a reflection line starts over. ``None``
        after a step that breaks the rules (the state is then unknown, until a reflection
        line starts over)."""
        start: tuple[Fraction, ...] = tuple(Fraction(n) for n in self.numbers)
        state: tuple[Fraction, ...] | None = start
        for line in generated.split("\n")[:-1]:
            if is_reflection(line):
                state = start
            elif state is not None and line.startswith(game24.STEP_PREFIX):
                check = game24.check_step(state, line)
                state = check.remaining if check.legal else None
        return state

    def step_check(self, generated: str, step: str) -> str | None:
        line = step.strip()
        if is_reflection(line) or self.is_final_line(line):
            return None  # answers are verified, reflections start over
        state = self.numbers_left(generated)
        if state is None:
            return None
        check = game24.check_step(state, line)
        return None if check.legal else check.reason

    def value_prompt(self, generated: str) -> str | None:
        state = self.numbers_left(generated)
        return None if state is None else game24.evaluation_prompt(state)

    def critique_prompt(self, answer: str) -> str:
        head = GAME24_INSTRUCTION + self.prompt(False)
        return head + "\n\n" + CRITIQUE_REQUEST.format(answer=answer)

    def rewrite_prompt(self, answer: str, critique: str) -> str:
        head = GAME24_INSTRUCTION + self.prompt(False)
        return head + "\n\n" + REWRITE_REQUEST.format(
            answer=answer, critique=critique)
