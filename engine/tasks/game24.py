"""Game of 24: an exact solver, the step-per-line trace format, and the verifier.

A trace is one reasoning step per line::

    Input: 1 5 7 9
    Step: 7-1=6 (left: 5 6 9)
    Step: 9-5=4 (left: 4 6)
    Step: 6*4=24 (left: 24)
    Answer: (7-1)*(9-5)=24

Numbers are exact fractions. In a ``left:`` list and as a result a number is written
``7``, ``-2`` or ``8/3``; as an operand, anything but a non-negative integer is put in
brackets (``(8/3)/4=2/3``) so that a step reads one way only. The same verifier checks
training data, scores rollouts and grades evaluations.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

from engine.errors import InputError

# The reflection line is part of the trace format (re-exported for the trainer).
from engine.tasks.reflection import REFLECTION_LINE as REFLECTION_LINE
from engine.tasks.task import VERDICT_WORDS as VERDICT_WORDS

TARGET = Fraction(24)
MIN_NUMBER = 1
MAX_NUMBER = 13
INPUT_PREFIX = "Input: "
STEP_PREFIX = "Step: "
ANSWER_PREFIX = "Answer: "
# Self-evaluation, Tree-of-Thoughts style: ``Evaluate: 5 6 9 -> sure``. The model reads
# the prompt up to the arrow and writes one verdict word (with its leading space).
EVALUATE_PREFIX = "Evaluate: "
EVALUATE_ARROW = " ->"

_NUMBER = r"-?\d+(?:/\d+)?"
_OPERAND = r"(\d+|\(" + _NUMBER + r"\))"
_STEP_RE = re.compile(
    r"^Step: " + _OPERAND + r"([-+*/])" + _OPERAND + r"=(" + _NUMBER + r") \(left: ((?:"
    + _NUMBER + r")(?: " + _NUMBER + r")*)\)$"
)
_ANSWER_RE = re.compile(r"^Answer: ([0-9+\-*/() ]+)=(" + _NUMBER + r")$")


@dataclass(frozen=True)
class Move:
    """One arithmetic step: ``left op right = result``, leaving ``remaining`` numbers."""

    left: Fraction
    op: str
    right: Fraction
    result: Fraction
    remaining: tuple[Fraction, ...]


@dataclass(frozen=True)
class StepCheck:
    """The verdict on one ``Step:`` line given the numbers available before it."""

    legal: bool
    reason: str
    remaining: tuple[Fraction, ...] = ()


def format_number(x: Fraction) -> str:
    """``7``, ``-2`` or ``8/3``."""
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def format_operand(x: Fraction) -> str:
    """A number as an operand: bracketed unless it is a non-negative integer."""
    text = format_number(x)
    return text if x.denominator == 1 and x >= 0 else f"({text})"


def parse_number(text: str) -> Fraction:
    """Parse ``7``, ``-2``, ``8/3`` or ``(8/3)``; raise ``ValueError`` on anything else."""
    text = text.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    if not re.fullmatch(_NUMBER, text):
        raise ValueError(f"not a number: {text!r}")
    num, _, den = text.partition("/")
    if den and int(den) == 0:
        raise ValueError(f"zero denominator: {text!r}")
    value = Fraction(int(num), int(den) if den else 1)
    if den and value.denominator != int(den) and format_number(value) != text:
        # "4/2" is not how we write 2: the canonical form is part of the format.
        raise ValueError(f"fraction not in lowest terms: {text!r}")
    return value


def sort_numbers(numbers: Sequence[Fraction]) -> tuple[Fraction, ...]:
    return tuple(sorted(numbers))


def apply_op(a: Fraction, op: str, b: Fraction) -> Fraction | None:
    """``a op b`` exactly, or ``None`` for a division by zero."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return None if b == 0 else a / b
    raise ValueError(f"unknown operator {op!r}")


def parse_puzzle(text: str) -> tuple[int, ...]:
    """Four integers 1-13 separated by spaces or commas, or an ``Input:`` line.

    Raises ``InputError`` with a message that says what is wrong.
    """
    body = text.strip()
    if body.startswith(INPUT_PREFIX.strip()):
        body = body[len(INPUT_PREFIX.strip()):]
    parts = [p for p in re.split(r"[\s,]+", body) if p]
    if len(parts) != 4:
        raise InputError(
            f"A Game-of-24 puzzle is exactly four whole numbers from 1 to 13, e.g. '4 5 6 10'; "
            f"got {len(parts)} item(s) in {text.strip()[:60]!r}."
        )
    numbers: list[int] = []
    for part in parts:
        if not re.fullmatch(r"\d{1,3}", part):
            raise InputError(f"'{part[:20]}' is not a whole number from 1 to 13.")
        value = int(part)
        if not MIN_NUMBER <= value <= MAX_NUMBER:
            raise InputError(f"{value} is outside 1-13; Game of 24 uses numbers 1 to 13.")
        numbers.append(value)
    return tuple(numbers)


def prompt_for(numbers: Sequence[int]) -> str:
    """The text the model continues: the input line and a newline."""
    return INPUT_PREFIX + " ".join(str(n) for n in numbers) + "\n"


def evaluation_prompt(state: Sequence[Fraction | int]) -> str:
    """``Evaluate: 5 6 9 ->``: the numbers sorted, written as in a ``left:`` list."""
    numbers = sort_numbers([Fraction(n) for n in state])
    return EVALUATE_PREFIX + " ".join(format_number(x) for x in numbers) + EVALUATE_ARROW


def verdict(state: Sequence[Fraction | int]) -> str:
    """The right verdict word for ``state``: ``sure`` when 24 can still be reached."""
    return VERDICT_WORDS[0] if is_solvable(state) else VERDICT_WORDS[1]


@cache
def legal_moves(state: tuple[Fraction, ...]) -> tuple[Move, ...]:
    """Every move from ``state`` in the canonical direction (a >= b for - ; both for /).

    Cached, like ``solutions``: training draws dead ends and random steps from the same
    few thousand states over and over.
    """
    moves: list[Move] = []
    for i in range(len(state)):
        for j in range(i + 1, len(state)):
            a, b = max(state[i], state[j]), min(state[i], state[j])
            rest = [state[k] for k in range(len(state)) if k not in (i, j)]
            candidates = [(a, "+", b), (a, "*", b), (a, "-", b), (a, "/", b), (b, "/", a)]
            for left, op, right in candidates:
                result = apply_op(left, op, right)
                if result is None:
                    continue
                moves.append(Move(left, op, right, result, sort_numbers([*rest, result])))
    return tuple(_dedupe(moves))


def _dedupe(moves: list[Move]) -> list[Move]:
    seen: set[tuple[Fraction, str, Fraction, tuple[Fraction, ...]]] = set()
    unique: list[Move] = []
    for m in moves:
        key = (m.left, m.op, m.right, m.remaining)
        if key not in seen:
            seen.add(key)
            unique.append(m)
    return unique


@cache
def solutions(state: tuple[Fraction, ...]) -> tuple[tuple[Move, ...], ...]:
    """Every move sequence from the sorted ``state`` that ends in exactly 24."""
    if len(state) == 1:
        return ((),) if state[0] == TARGET else ()
    found: list[tuple[Move, ...]] = []
    for move in legal_moves(state):
        for tail in solutions(move.remaining):
            found.append((move, *tail))
    return tuple(found)


def is_solvable(numbers: Sequence[int | Fraction]) -> bool:
    return bool(solutions(sort_numbers([Fraction(n) for n in numbers])))


def format_step(move: Move, swap: bool = False) -> str:
    """``Step: a op b=r (left: ...)``; ``swap`` writes a commutative move as ``b op a``."""
    left, right = move.left, move.right
    if swap and move.op in "+*":
        left, right = right, left
    remaining = " ".join(format_number(x) for x in move.remaining)
    return (
        f"{STEP_PREFIX}{format_operand(left)}{move.op}{format_operand(right)}"
        f"={format_number(move.result)} (left: {remaining})"
    )


def answer_expression(numbers: Sequence[int], moves: Sequence[Move]) -> str:
    """The moves as one expression over the input numbers, e.g. ``(7-1)*(9-5)``."""
    pool: list[tuple[Fraction, str]] = [(Fraction(n), str(n)) for n in numbers]
    for move in moves:
        left_expr = _take(pool, move.left)
        right_expr = _take(pool, move.right)
        pool.append((move.result, f"({left_expr}{move.op}{right_expr})"))
    if len(pool) != 1:
        raise ValueError("moves do not reduce the numbers to one value")
    expr = pool[0][1]
    return expr[1:-1] if expr.startswith("(") and expr.endswith(")") else expr


def _take(pool: list[tuple[Fraction, str]], value: Fraction) -> str:
    for i, (v, expr) in enumerate(pool):
        if v == value:
            del pool[i]
            return expr
    raise ValueError(f"{format_number(value)} is not available")


def format_answer(numbers: Sequence[int], moves: Sequence[Move]) -> str:
    return f"{ANSWER_PREFIX}{answer_expression(numbers, moves)}={format_number(moves[-1].result)}"


def check_step(available: Sequence[Fraction], line: str) -> StepCheck:
    """Verify one ``Step:`` line exactly against the numbers available before it.

    Checks the syntax, that both operands are available (a number used twice must be
    there twice), the arithmetic, and that the ``left:`` list is the right multiset.
    """
    match = _STEP_RE.match(line.strip())
    if match is None:
        return StepCheck(False, "not a step of the form 'Step: a+b=c (left: ...)'")
    try:
        left, right = parse_number(match.group(1)), parse_number(match.group(3))
        claimed = parse_number(match.group(4))
        listed = [parse_number(t) for t in match.group(5).split()]
    except ValueError as err:
        return StepCheck(False, str(err))
    pool = Counter(available)
    for operand in (left, right):
        if pool[operand] <= 0:
            return StepCheck(False, f"{format_number(operand)} is not among the numbers left")
        pool[operand] -= 1
    result = apply_op(left, match.group(2), right)
    if result is None:
        return StepCheck(False, "division by zero")
    if result != claimed:
        return StepCheck(False, f"arithmetic: the result is {format_number(result)}")
    pool[result] += 1
    expected = sort_numbers(list(pool.elements()))
    if sort_numbers(listed) != expected:
        shown = " ".join(format_number(x) for x in expected)
        return StepCheck(False, f"wrong remaining list: should be ({shown})")
    return StepCheck(True, "ok", expected)


def step_operands(line: str) -> tuple[Fraction, Fraction] | None:
    """The two operands of a well-formed ``Step:`` line (arithmetic not checked), or None."""
    match = _STEP_RE.match(line.strip())
    if match is None:
        return None
    try:
        return parse_number(match.group(1)), parse_number(match.group(3))
    except ValueError:
        return None


def evaluate_expression(expr: str) -> tuple[Fraction, list[int]]:
    """Evaluate an arithmetic expression exactly; return its value and its integer literals.

    Raises ``ValueError`` for anything but integers, + - * / and brackets, or a division
    by zero.
    """
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"not an arithmetic expression: {expr!r}") from err
    literals: list[int] = []

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            literals.append(node.value)
            return Fraction(node.value)
        if isinstance(node, ast.BinOp):
            ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
            op = ops.get(type(node.op))
            if op is None:
                raise ValueError("only + - * / are allowed")
            value = apply_op(walk(node.left), op, walk(node.right))
            if value is None:
                raise ValueError("division by zero")
            return value
        raise ValueError(f"unexpected element in {expr!r}")

    return walk(tree), literals


def check_answer(numbers: Sequence[int], line: str) -> bool:
    """True when an ``Answer:`` line uses each input number exactly once and equals 24."""
    match = _ANSWER_RE.match(line.strip())
    if match is None:
        return False
    try:
        value, literals = evaluate_expression(match.group(1))
        claimed = parse_number(match.group(2))
    except ValueError:
        return False
    return value == TARGET and claimed == TARGET and Counter(literals) == Counter(numbers)


def answer_error(numbers: Sequence[int], line: str) -> str | None:
    """Why an ``Answer:`` line is not a solution (``None`` when ``check_answer`` accepts it):
    what the expression equals, or which rule it breaks."""
    match = _ANSWER_RE.match(line.strip())
    if match is None:
        return "the answer is not of the form 'expression = 24' with + - * / and brackets"
    expr = match.group(1).strip()
    try:
        value, literals = evaluate_expression(expr)
        claimed = parse_number(match.group(2))
    except ValueError as err:
        return f"{expr} cannot be evaluated: {err}"
    if Counter(literals) != Counter(numbers):
        used = " ".join(str(n) for n in sorted(literals))
        puzzle = " ".join(str(n) for n in sorted(numbers))
        return (f"it uses {used or 'no numbers'}, but each of the puzzle's numbers "
                f"{puzzle} must be used exactly once")
    if value != TARGET:
        return f"{expr} equals {format_number(value)}, not 24"
    if claimed != TARGET:
        return f"it claims {format_number(claimed)}, but the goal is 24"
    return None


@dataclass(frozen=True)
class TraceCheck:
    """The verdict on a whole trace: every line legal, and solved when it ends in 24."""

    valid: bool
    solved: bool
    reason: str


def check_trace(text: str) -> TraceCheck:
    """Verify a whole trace, reflection lines included (they restart from the input)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return TraceCheck(False, False, "empty trace")
    try:
        numbers = parse_puzzle(lines[0])
    except InputError as err:
        return TraceCheck(False, False, str(err))
    available = sort_numbers([Fraction(n) for n in numbers])
    for line in lines[1:]:
        if line == REFLECTION_LINE:
            available = sort_numbers([Fraction(n) for n in numbers])
        elif line.startswith(ANSWER_PREFIX):
            solved = check_answer(numbers, line) and available == (TARGET,)
            return TraceCheck(solved, solved, "ok" if solved else "wrong answer")
        else:
            step = check_step(available, line)
            if not step.legal:
                return TraceCheck(False, False, f"{line!r}: {step.reason}")
            available = step.remaining
    return TraceCheck(False, False, "no answer line")


def load_puzzles(path: str) -> list[tuple[int, ...]]:
    """Puzzles from a file, one per line; ``#`` starts a comment."""
    puzzles: list[tuple[int, ...]] = []
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.split("#", 1)[0].strip()
            if line:
                puzzles.append(parse_puzzle(line))
    return puzzles
