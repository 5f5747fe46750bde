"""What every task provides to the search: a prompt, how an answer line looks, and a judge."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

MAX_PROBLEM_CHARS = 20_000


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
    has_step_check: bool
    """Whether ``step_check`` can reject anything (a rule for each step exists)."""

    def prompt(self, chat: bool) -> str:
        """The text the model continues (``chat``: an instruct model, wrapped by the LM)."""
        ...

    def is_final_line(self, line: str) -> bool:
        """A finished line that ends a solution (an answer line)."""
        ...

    def judge(self, generated: str, ended: bool) -> Judgement:
        """Judge the text generated after the prompt; ``ended``: the model stopped itself."""
        ...

    def why_wrong(self, answer: str | None) -> str | None:
        """In plain words, why ``answer`` (as ``judge`` found it; ``None``: no answer) is not
        verified correct, or ``None`` when it is."""
        ...

    def step_check(self, generated: str, step: str) -> str | None:
        """Why the rule of the task rejects ``step`` after the text ``generated`` so far
        (a dead branch), or ``None`` if it is fine or the task has no such rule."""
        ...

    def value_prompt(self, generated: str) -> str | None:
        """The prompt that asks the model to judge the state after ``generated`` (its next
        word one of ``VERDICT_WORDS``), or ``None`` if the state cannot be judged."""
        ...

    def critique_prompt(self, answer: str) -> str:
        """MCTSr with a chat model: the request for a critique of the whole ``answer``."""
        ...

    def rewrite_prompt(self, answer: str, critique: str) -> str:
        """MCTSr with a chat model: the request for a better answer, given ``answer`` and
        its ``critique``."""
        ...


CRITIQUE_REQUEST = (
    "Here is an attempt at the problem above:\n{answer}\n\nCriticise it strictly: point "
    "out every wrong step, wrong number or missing part, without solving the problem.")
REWRITE_REQUEST = (
    "Here is an attempt at the problem above:\n{answer}\n\nHere is a critique of it:\n"
    "{critique}\n\nWrite a better attempt that fixes these faults, in the same format.")
"""MCTSr's two chat prompts (self-refine): each task puts its own problem text first."""


VERDICT_WORDS = ("sure", "impossible")
"""The two verdicts a self-evaluation chooses between; its value is P(sure) normalised over
them (Tree of Thoughts' value prompt, with its middle class left out)."""


def last_line_starting(text: str, prefix: str) -> str | None:
    """The last *finished* line (followed by a newline or the end of text) with ``prefix``."""
    found = None
    for line in text.splitlines():
        if line.strip().startswith(prefix):
            found = line.strip()
    return found


def boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` in ``text`` (braces balanced)."""
    found = None
    for match in re.finditer(r"\\boxed\{", text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                found = text[start:i]
                break
    return found
