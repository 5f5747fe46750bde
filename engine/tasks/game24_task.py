"""Game of 24 as a search task: the prompt, the answer line, and the exact verifier."""

from __future__ import annotations

from engine.tasks import game24
from engine.tasks.task import Judgement, last_line_starting

GAME24_INSTRUCTION = (
    "Use the four numbers and + - * / to make 24, one step per line, each step written "
    "'Step: a op b=c (left: remaining numbers)', then a line 'Answer: expression=24'.\n"
    "Example:\nInput: 1 5 7 9\nStep: 7-1=6 (left: 5 6 9)\nStep: 9-5=4 (left: 4 6)\n"
    "Step: 6*4=24 (left: 24)\nAnswer: (7-1)*(9-5)=24\n\n"
)


class Game24Task:
    """Make 24 from four numbers; every answer is verified exactly."""

    name = "game24"

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
