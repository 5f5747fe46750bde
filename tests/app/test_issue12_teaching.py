"""Issue 12, items 5 and 6: the simulation and backpropagation explanations say what
happened, and every expression they write equals the number beside it."""

from __future__ import annotations

import re

from app.web.learn_examples import PROBLEM, example_events
from app.web.teaching import explain, explain_backprop, explain_simulation
from engine.core.config import make_config
from engine.core.events import Backpropagated, Rollout, Simulated
from engine.core.tree import fold

TRAILING_EXPR = re.compile(r"[0-9.()+\-*/× ]+$")
LEADING_NUMBER = re.compile(r"^\**(-?[0-9]+(?:\.[0-9]+)?)")


def expressions(line: str) -> list[tuple[str, float]]:
    """Every ``arithmetic = number`` in ``line`` whose left side has an operator."""
    found = []
    parts = line.split(" = ")
    for left, right in zip(parts, parts[1:], strict=False):
        expr = TRAILING_EXPR.search(left)
        number = LEADING_NUMBER.match(right)
        if expr is None or number is None:
            continue
        text = expr.group(0).strip()
        if not re.search(r"[0-9]", text) or not re.search(r"[+\-*/×]", text.lstrip("-")):
            continue
        found.append((text, float(number.group(1))))
    return found


def check_arithmetic(text: str) -> int:
    checked = 0
    for line in text.splitlines():
        for expr, shown in expressions(line):
            value = eval(expr.replace("×", "*"), {"__builtins__": {}})  # noqa: S307
            # Inputs are rounded to 3 decimals; so is the result.
            assert abs(value - shown) <= 0.002, f"{expr} = {value}, shown {shown}: {line}"
            checked += 1
    return checked


def test_the_expression_checker_rejects_the_old_backprop_line() -> None:
    old = "- #0: N 3 → 4, Q = (1.710 + 1.000) / 4 = 0.570 → **0.677**"
    assert expressions(old) == [("(1.710 + 1.000) / 4", 0.570)]


def test_every_backprop_expression_equals_the_number_beside_it() -> None:
    events = example_events()
    config = make_config()
    checked = 0
    for upto, event in enumerate(events, 1):
        if isinstance(event, Backpropagated):
            tree = fold(PROBLEM, events[:upto])
            text = explain_backprop(tree, event)
            checked += check_arithmetic(text)
            for node_id in event.path:
                line = next(x for x in text.splitlines() if x.startswith(f"- #{node_id}:"))
                assert line.endswith(f"**{tree.nodes[node_id].q:.3f}**"), line
            assert check_arithmetic(explain(tree, event, config)) >= 1
    assert checked >= 8


def test_a_first_visit_has_no_q_before_it() -> None:
    events = example_events()
    first = next(i for i, e in enumerate(events, 1) if isinstance(e, Backpropagated))
    event = events[first - 1]
    assert isinstance(event, Backpropagated)
    text = explain_backprop(fold(PROBLEM, events[:first]), event)
    line = next(x for x in text.splitlines() if x.startswith("- #1:"))
    assert "N 0 → 1" in line and "Q: —" in line and "0.000 →" not in line


def freeform_simulated(text: str, answer: str | None, verdict: bool | None, value: float,
                       reward: str) -> Simulated:
    tokens = tuple(text[i:i + 3] for i in range(0, len(text), 3))
    return Simulated(0, 0, Rollout(text, tokens, (value,) * len(tokens), value, answer,
                                   verdict, reward))


def test_a_rollout_without_an_answer_line_does_not_claim_an_answer() -> None:
    event = freeform_simulated("The sky is blue because of scattering", None, None, 0.8,
                               "confidence")
    text = explain_simulation(event, make_config(task="freeform"), "Why is the sky blue?")
    assert "to an answer" not in text
    assert "no answer line" in text.lower()
    # The rollout's own text is shown, as a code span.
    assert "`` The sky is blue because of scattering ``" in text or \
        "` The sky is blue because of scattering `" in text


def test_a_wrong_game24_answer_says_what_the_expression_equals() -> None:
    event = freeform_simulated("Step: 10-4=6 (left: 5 6 6)\nAnswer: (10-4)*6-5=24\n",
                               "(10-4)*6-5=24", False, 0.0, "verifier")
    text = explain_simulation(event, make_config(), PROBLEM)
    assert "Why wrong: ` equals 31 `" in text  # the task's why_wrong, as a code span


def test_a_wrong_game24_answer_that_breaks_a_rule_says_which() -> None:
    event = freeform_simulated("Answer: 4*6=24\n", "4*6=24", False, 0.0, "verifier")
    text = explain_simulation(event, make_config(), PROBLEM)
    assert "uses 4 6" in text and "4 5 6 10" in text


def test_confidence_reward_on_a_known_wrong_answer_says_so() -> None:
    event = freeform_simulated("Answer: (10-4)*6-5=24\n", "(10-4)*6-5=24", False, 0.937,
                               "confidence")
    text = explain_simulation(event, make_config(reward="confidence"), PROBLEM)
    assert "v = **0.937**" in text
    assert "the verifier knows this answer is wrong" in text
