"""Measure the demo model on held-out puzzles and write its model card.

Three figures from the engine's own sampler (the same code the search uses): greedy
solve rate; the share of sampled (T=1) steps that are legal; and the share of
continuations after the reflection line that restart from the input numbers. And one
from ``self_evaluate``: how often the model's verdict (sure / impossible) on a state
reachable from a held-out puzzle is right.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import torch

from engine.backends.hf import HFModel
from engine.backends.protocol import StopRule
from engine.tasks import Game24Task, game24
from engine.training.demo_data import generator_states, reachable_states
from engine.training.demo_model import dead_end
from engine.training.self_eval import self_evaluate


def _legal_steps(numbers: Sequence[int], text: str) -> tuple[int, int]:
    """(legal, attempted) step lines of one sampled solution, up to its first illegal step."""
    available = game24.sort_numbers([Fraction(n) for n in numbers])
    legal = attempted = 0
    for line in text.splitlines():
        if line.startswith(game24.STEP_PREFIX):
            attempted += 1
            check = game24.check_step(available, line)
            if not check.legal:
                break
            legal += 1
            available = check.remaining
        elif line == game24.REFLECTION_LINE:
            available = game24.sort_numbers([Fraction(n) for n in numbers])
        else:
            break
    return legal, attempted


def _restarts(numbers: Sequence[int], line: str) -> bool:
    """A step whose two operands are among the input numbers: search starts over."""
    operands = game24.step_operands(line)
    if operands is None:
        return False
    pool = list(numbers)
    for operand in operands:
        if operand.denominator != 1 or int(operand) not in pool:
            return False
        pool.remove(int(operand))
    return True


def measure_quality(
    model: HFModel,
    puzzles: Sequence[tuple[int, ...]],
    samples: int = 8,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Greedy and best-of-``samples`` solve rates, legal-step rate at T=1, restart rate,
    and self-evaluation on the states reachable from ``puzzles``."""
    started = time.monotonic()
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    greedy = best_of = legal = attempted = restarts = 0
    for i, numbers in enumerate(puzzles):
        task = Game24Task(" ".join(map(str, numbers)))
        session = model.new_session(reuse=True)
        prompt = model.encode_prompt(task.prompt(model.chat))
        rule = StopRule("rollout", 256, task.is_final_line)
        first = session.sample([(0, prompt)], 1, rule, 0.0, generator)[0]
        greedy += bool(task.judge(first.text, first.ended == "eos").verdict)
        sampled = session.sample([(0, prompt)], samples, rule, 1.0, generator)
        best_of += any(task.judge(s.text, s.ended == "eos").verdict for s in sampled)
        for s in sampled:
            for _ in range(s.count):
                ok, tried = _legal_steps(numbers, s.text)
                legal, attempted = legal + ok, attempted + tried
        # After a dead end and the reflection line, does the next line restart correctly?
        wrong = "".join(game24.format_step(m) + "\n" for m in dead_end(numbers, rng))
        lead = model.encode_continuation(wrong + game24.REFLECTION_LINE + "\n")
        line_rule = StopRule("line", 64)
        after = session.sample([(0, prompt), (1, lead)], samples, line_rule, 1.0, generator)
        restarts += sum(s.count for s in after if _restarts(numbers, s.text))
        if progress is not None:
            progress(i + 1)
    n = len(puzzles)
    return {
        "puzzles": n,
        "greedy_solve_rate": greedy / n,
        f"best_of_{samples}_solve_rate": best_of / n,
        "sampled_step_legal_rate": legal / max(attempted, 1),
        "reflection_restart_rate": restarts / (n * samples),
        "samples_per_puzzle": samples,
        "seed": seed,
        "wall_s": round(time.monotonic() - started, 1),
        **measure_self_evaluation(model, puzzles),
    }


def _rates(rows: Sequence[tuple[bool, bool]]) -> dict[str, Any]:
    """Count and accuracy of (label is sure, verdict is sure) pairs, overall and per class."""
    sure = [r for r in rows if r[0]]
    impossible = [r for r in rows if not r[0]]

    def right(part: Sequence[tuple[bool, bool]]) -> float | None:
        return sum(label == said for label, said in part) / len(part) if part else None

    return {"states": len(rows), "sure_states": len(sure), "accuracy": right(rows),
            "sure_accuracy": right(sure), "impossible_accuracy": right(impossible)}


def _auc(labels: Sequence[bool], values: Sequence[float]) -> float | None:
    """The chance that a sure state gets a higher value than an impossible one (ties 1/2):
    what matters when the values rank nodes in a search."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):  # average ranks over ties
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    n_sure = sum(labels)
    n_impossible = len(labels) - n_sure
    if not n_sure or not n_impossible:
        return None
    rank_sum = sum(r for r, label in zip(ranks, labels, strict=True) if label)
    return (rank_sum - n_sure * (n_sure + 1) / 2) / (n_sure * n_impossible)


def measure_self_evaluation(
    model: HFModel, puzzles: Sequence[tuple[int, ...]], threshold: float = 0.5
) -> dict[str, Any]:
    """Self-evaluation on every state reachable from ``puzzles`` (their own included).

    Each distinct state (a multiset) counts once. The verdict is sure when the model's
    P(sure) over the two verdict tokens exceeds ``threshold``; the label is the exact
    solver's. "Seen" states are those the training generator can draw
    (``demo_data.generator_states``), whether or not a given run happened to draw them.
    """
    started = time.monotonic()
    states = sorted(set().union(*(reachable_states(p) for p in puzzles)))
    labels = [game24.is_solvable(s) for s in states]
    values = self_evaluate(model, states)
    said = [v > threshold for v in values]
    seen_set = generator_states()
    seen = [s in seen_set for s in states]
    rows = list(zip(labels, said, strict=True))
    overall = _rates(rows)
    result: dict[str, Any] = {f"self_eval_{k}": v for k, v in overall.items()}
    sure_rate, impossible_rate = overall["sure_accuracy"], overall["impossible_accuracy"]
    both = sure_rate is not None and impossible_rate is not None
    result["self_eval_balanced_accuracy"] = (sure_rate + impossible_rate) / 2 if both else None
    result["self_eval_auc"] = _auc(labels, values)
    for name, keep in (("seen", True), ("unseen", False)):
        part = _rates([r for r, s in zip(rows, seen, strict=True) if s == keep])
        result.update({f"self_eval_{name}_{k}": v for k, v in part.items()})
    result["self_eval_by_size"] = {
        str(n): _rates([r for r, s in zip(rows, states, strict=True) if len(s) == n])
        for n in (4, 3, 2, 1)
    }
    result["self_eval_threshold"] = threshold
    result["self_eval_wall_s"] = round(time.monotonic() - started, 1)
    return result
