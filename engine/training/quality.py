"""Measure the demo model on held-out puzzles and write its model card.

Three figures, each from the engine's own sampler (the same code the search uses):
greedy solve rate; the share of sampled (T=1) steps that are legal; and the share of
continuations after the reflection line that restart from the input numbers.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch

from engine.backends.hf import HFModel
from engine.backends.protocol import StopRule
from engine.tasks import Game24Task, game24
from engine.training.demo_model import dead_end


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
    """Greedy and best-of-``samples`` solve rates, legal-step rate at T=1, restart rate."""
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
    }


TARGETS = (
    # (measure, key, lowest, highest)
    ("greedy decoding solves", "greedy_solve_rate", 0.20, 0.50),
    ("sampled steps (T=1) legal", "sampled_step_legal_rate", 0.50, 1.0),
    ("restarts after the reflection line", "reflection_restart_rate", 0.80, 1.0),
)


def _against_targets(quality: dict[str, Any], training: dict[str, Any]) -> str:
    """One line per target of the demo-model issue: the figure, the target, met or not."""
    lines = ["| target | this checkpoint | met |", "| --- | --- | --- |"]
    for label, key, low, high in TARGETS:
        wanted = f"{low:.0%}-{high:.0%}" if high < 1.0 else f"at least {low:.0%}"
        met = "yes" if low <= quality[key] <= high else "**no**"
        lines.append(f"| {label}: {wanted} | {quality[key]:.0%} | {met} |")
    minutes = training["wall_s"] / 60
    met = "yes" if minutes <= 15 else "**no**"
    lines.append(f"| training time: at most 15 minutes | {minutes:.1f} min | {met} |")
    return "\n".join(lines)


def write_model_card(model_dir: Path, quality: dict[str, Any]) -> Path:
    """Write ``quality.json`` and ``README.md`` (the model card) beside the weights."""
    training = json.loads((model_dir / "training.json").read_text())
    (model_dir / "quality.json").write_text(json.dumps(quality, indent=2) + "\n")
    cfg = training["train_config"]
    samples = quality["samples_per_puzzle"]
    restart = quality["reflection_restart_rate"]
    steps_flag = f" --steps {cfg['max_steps']}" if cfg.get("max_steps") else ""
    card = f"""# game24-demo: the bundled MCTS Lab demo model

A small GPT-2 ({cfg['n_layer']} layers, width {cfg['n_embd']}, {cfg['n_head']} heads,
{training['parameters']:,} parameters) trained from scratch on this project's own Game-of-24
traces. It is a *useful prior that makes mistakes*: most of its steps are legal, but greedy
decoding often fails, so search has something to win.

Tokenizer (built with `tokenizers`, wrapped as a `PreTrainedTokenizerFast`): one token per
character, except that a number of up to three digits is one token (`13`, `169`; longer
numbers split into runs of three digits) and so is each fixed phrase of the trace format
(`Input: `, `Step: `, ` (left: `, `Answer: ` and the reflection line). Arithmetic then maps
whole numbers to whole numbers, which a model this small learns far faster than digit by
digit, and a trace is about half as many tokens as characters.

## Data
Every multiset of four numbers from 1-13 that has a solution (1,362), minus the 100 puzzles
of `assets/data/game24_tot_901_1000.txt` (the Tree-of-Thoughts evaluation split), leaves
{training['training_puzzles']} training puzzles. Examples are drawn afresh at every step, in
three kinds:

- **solution** (the rest): an exact solution, one step per line
  (`Step: a op b=c (left: ...)`, then `Answer: expression=24`). Solutions with small whole
  numbers are drawn more often (weight 1 when every intermediate result is a whole number
  up to 30, 0.3 for larger whole numbers, 0.1 with fractions), so the policy is sharp and
  its arithmetic learnable;
- **reflection** (share {cfg['reflection_share']}): legal steps into a dead end (24 can no
  longer be reached), then the line `{game24.REFLECTION_LINE}`, then a solution from the
  original numbers;
- **exploration** (share {cfg.get('exploration_share', 0.0)}): one to three random legal
  steps and nothing more.

The loss is taken only on what the model should learn to write: never on the input line,
and on dead-end and exploration steps only after the `=` (the result and the numbers
left), not on the choice of operands. Those steps teach arithmetic on every kind of move
without teaching the model to choose such moves. Every complete trace is checked by
`engine.tasks.game24`.

## Training
Command: `mctslab train-demo-model --out assets/models/game24-demo{steps_flag}
--minutes {cfg['minutes']:g} --seed {cfg['seed']}` on a 2-core CPU
({training['torch_threads']} torch threads).
Batch {cfg['batch_size']}, AdamW, peak learning rate {cfg['learning_rate']}, warm-up then a
cosine schedule over the step budget
(the wall-clock budget when no step budget is given). Steps: {training['steps']}; final batch loss
{training['final_loss']}; wall time {training['wall_s']} s.

## Measured quality (the 100 held-out puzzles)
Command: `mctslab train-demo-model --out assets/models/game24-demo --eval-only`
({quality['wall_s']} s).

| measure | value |
| --- | --- |
| greedy decoding solves | {quality['greedy_solve_rate']:.0%} |
| best of {samples} samples (T=1) solves | {quality[f'best_of_{samples}_solve_rate']:.0%} |
| sampled steps (T=1) that are legal | {quality['sampled_step_legal_rate']:.0%} |
| lines after the reflection line that restart from the input numbers | {restart:.0%} |

Legal steps are counted in each sampled solution up to its first illegal step (exact
fractions, operands taken from the numbers left, the remaining list right). A restart is a
first line after the reflection line that is a well-formed step whose two operands are
among the four input numbers (its arithmetic is judged by the legal-step figure, not here).

## Against the targets
{_against_targets(quality, training)}

## Use
`AutoModelForCausalLM.from_pretrained(dir)` and `AutoTokenizer.from_pretrained(dir)` load it
offline. Prompt: `Input: 4 5 6 10` and a newline; one step per line follows.
"""
    path = model_dir / "README.md"
    path.write_text(card)
    return path
