"""Tasks: how a problem becomes a prompt, how a step is classified, how answers are judged."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from engine import game24
from engine.errors import InputError
from engine.events import NodeKind

MAX_PROBLEM_CHARS = 20_000

GAME24_INSTRUCTION = (
    "Use the four numbers and + - * / to make 24, one step per line, each step written "
    "'Step: a op b=c (left: remaining numbers)', then a line 'Answer: expression=24'.\n"
    "Example:\nInput: 1 5 7 9\nStep: 7-1=6 (left: 5 6 9)\nStep: 9-5=4 (left: 4 6)\n"
    "Step: 6*4=24 (left: 24)\nAnswer: (7-1)*(9-5)=24\n\n"
)
FREEFORM_INSTRUCTION = (
    "Solve the problem step by step, one step per line, and finish with a line "
    "'Answer: <your answer>'.\n"
)


@dataclass(frozen=True)
class Judgement:
    """What a piece of text amounts to: its answer (if any) and whether it is right."""

    answer: str | None
    verdict: bool | None
    """True: verified correct; False: verified wrong (or ended with no answer, where the task
    can tell); None: the task cannot tell."""


class Task(Protocol):
    name: str
    problem: str

    def prompt(self, chat: bool) -> str:
        """The text the model continues (``chat``: an instruct model, wrapped by the LM)."""
        ...

    def is_final_line(self, line: str) -> bool:
        """A finished line that ends a solution (an answer line)."""
        ...

    def judge(self, generated: str, ended: bool) -> Judgement:
        """Judge the text generated after the prompt; ``ended``: the model stopped itself."""
        ...


def node_kind(task: Task, text: str, granularity: str) -> NodeKind:
    """The kind of a new node from its own text."""
    if text.strip() == game24.REFLECTION_LINE:
        return "reflection"
    if granularity == "step" and task.is_final_line(text):
        return "answer"
    return "mini_step" if granularity == "mini-step" else "step"


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
        line = _last_line_starting(generated, game24.ANSWER_PREFIX.strip())
        if line is None:
            # Game of 24 is decided: no answer line means not solved.
            return Judgement(None, False)
        answer = line[len(game24.ANSWER_PREFIX.strip()):].strip()
        return Judgement(answer, game24.check_answer(self.numbers, line))


class FreeformTask:
    """Any text problem; the answer comes from an ``Answer:`` line or ``\\boxed{}``."""

    name = "freeform"

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
        answer = _boxed(generated)
        line = _last_line_starting(generated, "Answer:")
        if line is not None:
            answer = line[len("Answer:"):].strip()
        if answer is None or self.reference is None:
            return Judgement(answer, None)
        return Judgement(answer, _normalise(answer) == _normalise(self.reference))


def _last_line_starting(text: str, prefix: str) -> str | None:
    """The last *finished* line (followed by a newline or the end of text) with ``prefix``."""
    found = None
    for line in text.splitlines():
        if line.strip().startswith(prefix):
            found = line.strip()
    return found


def _boxed(text: str) -> str | None:
    found = None
    for match in re.finditer(r"\\boxed\{", text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                found = text[start:i]
                break
    return found


def _normalise(answer: str) -> str:
    return re.sub(r"[\s$.]+$", "", re.sub(r"\s+", " ", answer.strip().lower()))


def make_task(name: str, problem: str, reference_answer: str | None = None) -> Task:
    """The task object for ``name``; raise ``InputError`` for a bad problem or task name."""
    if name == "game24":
        return Game24Task(problem)
    if name == "freeform":
        return FreeformTask(problem, reference_answer)
    raise InputError(f"Unknown task {name!r}: use 'game24' or 'freeform'.")
