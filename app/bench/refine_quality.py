"""How good is the demo model's rewrite after the reflection line, against a fresh attempt?

``python -m app.bench.refine_quality`` samples whole attempts (to the answer line, as
MCTSr's expansion does, without the step check) from three contexts, for each held-out
puzzle:

- ``fresh``: the problem alone (a Best-of-N attempt, or MCTSr's rewrite of an answer with
  no legal step);
- ``after 1 legal step``: the problem, one legal first step taken from a fresh attempt,
  the reflection line (MCTSr's rewrite of an answer whose first step was legal);
- ``after no step``: the problem, then the reflection line straight away (what the
  dummy answer's rewrite would read if it went through the reflection line).

It prints, per context, the share of attempts verified correct and the share whose first
line is a legal step. Seeded per puzzle (``--seed``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

CONTEXTS = ("fresh", "after 1 legal step", "after no step")


def measure(puzzles: int, samples: int, seed: int) -> dict[str, dict[str, Any]]:
    import torch

    from engine.backends.hf import HFModel
    from engine.backends.protocol import StopRule
    from engine.core.config import make_config
    from engine.core.seeding import stream_seed
    from engine.strategies.search import Search
    from engine.tasks.game24 import load_puzzles
    from engine.tasks.reflection import REFLECTION_LINE

    torch.set_num_threads(1)
    model = HFModel()
    held_out = load_puzzles("assets/data/game24_tot_901_1000.txt")[:puzzles]
    counts: dict[str, dict[str, Any]] = {
        c: {"attempts": 0, "solved": 0, "legal_first_step": 0} for c in CONTEXTS}
    for puzzle in held_out:
        problem = " ".join(map(str, puzzle))
        search = Search(model, make_config(seed=seed), problem)
        task = search.task
        rule = StopRule("rollout", 256, task.is_final_line, None)

        def draw(context: str, purpose: str, search: Any = search, rule: Any = rule,
                 problem: str = problem) -> list[Any]:
            path: list[tuple[int, list[int]]] = [(0, search.prompt_ids)]
            if context:
                path.append((-1 - len(context), model.encode_continuation(context)))
            gen = torch.Generator().manual_seed(stream_seed(seed, problem, 0, purpose))
            drawn: list[Any] = search.session.sample(path, samples, rule, 1.0, gen)
            return drawn

        fresh = draw("", "fresh")
        legal = next((s.text.split("\n")[0] for s in fresh
                      if task.step_check("", s.text.split("\n")[0]) is None), None)
        batches = {"fresh": fresh,
                   "after no step": draw(REFLECTION_LINE + "\n", "no step")}
        if legal is not None:
            batches["after 1 legal step"] = draw(legal + "\n" + REFLECTION_LINE + "\n",
                                                 "one step")
        for context, batch in batches.items():
            for sample in batch:
                first = sample.text.split("\n")[0]
                verdict = task.judge(sample.text, sample.ended == "eos").verdict
                c = counts[context]
                c["attempts"] += sample.count
                c["solved"] += sample.count * (verdict is True)
                c["legal_first_step"] += sample.count * (task.step_check("", first) is None)
    for c in counts.values():
        c["solved_rate"] = round(c["solved"] / max(c["attempts"], 1), 3)
        c["legal_first_step_rate"] = round(c["legal_first_step"] / max(c["attempts"], 1), 3)
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puzzles", type=int, default=100, help="the first N held-out ones")
    parser.add_argument("--samples", type=int, default=8, help="attempts per context")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    counts = measure(args.puzzles, args.samples, args.seed)
    if args.json:
        print(json.dumps(counts))
        return 0
    print("| context | attempts | verified correct | first line a legal step |")
    print("| --- | ---: | ---: | ---: |")
    for context, c in counts.items():
        print(f"| {context} | {c['attempts']} | {c['solved_rate']:.1%} | "
              f"{c['legal_first_step_rate']:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
