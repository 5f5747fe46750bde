"""The demo model's card: ``quality.json`` and ``README.md`` written beside the weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.tasks import game24

TARGETS = (
    # (measure, key, lowest, highest)
    ("greedy decoding solves", "greedy_solve_rate", 0.20, 0.50),
    ("sampled steps (T=1) legal", "sampled_step_legal_rate", 0.50, 1.0),
    ("restarts after the reflection line", "reflection_restart_rate", 0.80, 1.0),
    ("self-evaluation right, reachable states", "self_eval_accuracy", 0.85, 1.0),
    ("self-evaluation right, unseen states", "self_eval_unseen_accuracy", 0.80, 1.0),
)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _against_targets(quality: dict[str, Any], training: dict[str, Any]) -> str:
    """One line per target of the demo-model issues: the figure, the target, met or not."""
    lines = ["| target | this checkpoint | met |", "| --- | --- | --- |"]
    for label, key, low, high in TARGETS:
        wanted = f"{low:.0%}-{high:.0%}" if high < 1.0 else f"at least {low:.0%}"
        value = quality.get(key)
        met = "yes" if value is not None and low <= value <= high else "**no**"
        lines.append(f"| {label}: {wanted} | {_percent(value)} | {met} |")
    minutes = training["wall_s"] / 60
    met = "yes" if minutes <= 15 else "**no**"
    lines.append(f"| training time: at most 15 minutes | {minutes:.1f} min | {met} |")
    return "\n".join(lines)


def _self_eval_rows(quality: dict[str, Any]) -> str:
    """The self-evaluation table: all states, seen and unseen ones, then by size."""
    lines = ["| states | count | sure | right | right on sure | right on impossible |",
             "| --- | --- | --- | --- | --- | --- |"]
    parts = [("all reachable", "self_eval_"), ("seen in training", "self_eval_seen_"),
             ("never seen", "self_eval_unseen_")]
    rows = [(label, {k[len(prefix):]: v for k, v in quality.items() if k.startswith(prefix)})
            for label, prefix in parts]
    rows += [(f"{n} number{'s' if n != '1' else ''} left", part)
             for n, part in quality["self_eval_by_size"].items()]
    for label, part in rows:
        lines.append(
            f"| {label} | {part['states']:,} | {part['sure_states']:,} | "
            f"{_percent(part['accuracy'])} | {_percent(part['sure_accuracy'])} | "
            f"{_percent(part['impossible_accuracy'])} |")
    return "\n".join(lines)


def _self_eval_section(quality: dict[str, Any]) -> str:
    n, sure = quality["self_eval_states"], quality["self_eval_sure_states"]
    constant = (n - sure) / n
    auc = quality["self_eval_auc"]
    return f"""### Self-evaluation
Every state reachable by legal moves from the 100 held-out puzzles, each puzzle's own four
numbers included: {n:,} distinct states (multisets), {sure:,} of them sure. The value of a
state is `engine.training.self_eval.self_evaluate`: P(` sure`) / (P(` sure`) + P(` impossible`)) for
the token after `Evaluate: <numbers> ->`, one forward pass; the verdict is sure above
{quality['self_eval_threshold']}. Labels come from the exact solver.

{_self_eval_rows(quality)}

Balanced accuracy (the mean of the two per-class figures):
{_percent(quality['self_eval_balanced_accuracy'])}; the chance that a sure state is valued
above an impossible one (AUC): {'-' if auc is None else f'{auc:.3f}'}. Most reachable states
are impossible, so answering "impossible" everywhere would be right on {constant:.0%} of
them: read the per-class figures.

**Seen** means that the training generator can draw the state: it is one of the sources
(every multiset of four numbers from 1-13 except the 100 held-out puzzles) or reachable
from one by legal moves (`engine.training.demo_data.generator_states`). It does not mean that this
run drew it. {quality['self_eval_seen_states']:,} of the {n:,} states are seen; the held-out
puzzles themselves never are. Measured in {quality['self_eval_wall_s']} s.
"""


def _data_section(training: dict[str, Any]) -> str:
    cfg = training["train_config"]
    weights = ", ".join(f"{w:g}" for w in cfg["evaluation_size_weights"])
    n = cfg["evaluation_batches"]
    batches = "one batch" if n == 1 else f"{n} batches"
    return f"""## Data
Every multiset of four numbers from 1-13 that has a solution (1,362), minus the 100 puzzles
of `assets/data/game24_tot_901_1000.txt` (the Tree-of-Thoughts evaluation split), leaves
{training['training_puzzles']} training puzzles. Examples are drawn afresh at every step.
Traces come in three kinds:

- **solution** (the rest): an exact solution, one step per line
  (`Step: a op b=c (left: ...)`, then `Answer: expression=24`). Solutions with small whole
  numbers are drawn more often (weight 1 when every intermediate result is a whole number
  up to 30, 0.3 for larger whole numbers, 0.1 with fractions), so the policy is sharp and
  its arithmetic learnable;
- **reflection** (share {cfg['reflection_share']}): legal steps into a dead end (24 can no
  longer be reached), then the line `{game24.REFLECTION_LINE}`, then a solution from the
  original numbers;
- **exploration** (share {cfg['exploration_share']}): one to three random legal
  steps and nothing more.

The loss is taken only on what the model should learn to write: never on the input line,
and on dead-end and exploration steps only after the `=` (the result and the numbers
left), not on the choice of operands. Those steps teach arithmetic on every kind of move
without teaching the model to choose such moves. Every complete trace is checked by
`engine.tasks.game24`.

**Evaluation lines** fill {batches} of {cfg['evaluation_batch_size']} lines for every
8 batches of traces: `Evaluate: 5 6 9 -> sure` or
`... -> impossible`, the numbers of a state sorted, the label from the exact solver, the
loss only on the verdict, the newline and the end of text. A state has 1, 2, 3 or 4
numbers left with weights {weights}; {cfg['evaluation_sure_share']:.0%} are sure (half that
with one number left, where only `24` is). States are drawn by random legal moves from the
*sources*: the training puzzles and every multiset of four numbers from 1-13 that has no
solution. A held-out puzzle is never an evaluation example; a smaller state reachable from
one is an example only because it is also reachable from some source.
"""


_USE = """## Use
`AutoModelForCausalLM.from_pretrained(dir)` and `AutoTokenizer.from_pretrained(dir)` load it
offline. Prompt: `Input: 4 5 6 10` and a newline; one step per line follows. To value a
state: `engine.training.self_eval.self_evaluate(HFModel(dir), [(5, 6, 9)])`, or the prompt
`engine.tasks.game24.evaluation_prompt(state)` and the next token.
"""
"""The card's last section: how to load and use the model."""


def _training_section(training: dict[str, Any]) -> str:
    """The card's command, schedule, steps and times."""
    cfg = training["train_config"]
    steps_flag = f" --steps {cfg['max_steps']}" if cfg.get("max_steps") else ""
    return f"""## Training
Command: `mctslab train-demo-model --out assets/models/game24-demo{steps_flag}
--minutes {cfg['minutes']:g} --seed {cfg['seed']}` on a 2-core CPU
({training['torch_threads']} torch threads).
Batch {cfg['batch_size']}, AdamW, peak learning rate {cfg['learning_rate']}, warm-up then a
cosine schedule over the step budget (the wall-clock budget when no step budget is given).
Steps: {training['steps']}, {training.get('evaluation_steps', 0)} of them on evaluation
lines ({training.get('steps_per_s', '-')} steps/s); final batch loss
{training['final_loss']}; wall time {training['wall_s']} s, CPU time
{training.get('cpu_s', '-')} s (all threads). The machine is shared, so wall time varies
with its load; the step budget makes the run repeatable. The command sets
`OMP_WAIT_POLICY=PASSIVE` (threads that spin while they wait made training several times
slower beside another busy process).

"""


def write_model_card(model_dir: Path, quality: dict[str, Any]) -> Path:
    """Write ``quality.json`` and ``README.md`` (the model card) beside the weights."""
    training = json.loads((model_dir / "training.json").read_text())
    (model_dir / "quality.json").write_text(json.dumps(quality, indent=2) + "\n")
    cfg = training["train_config"]
    samples = quality["samples_per_puzzle"]
    restart = quality["reflection_restart_rate"]
    card = f"""# game24-demo: the bundled MCTS Lab demo model

A small GPT-2 ({cfg['n_layer']} layers, width {cfg['n_embd']}, {cfg['n_head']} heads,
{training['parameters']:,} parameters) trained from scratch on this project's own Game-of-24
traces. It is a *useful prior that makes mistakes*: most of its steps are legal, but greedy
decoding often fails, so search has something to win. It also judges a state, Tree-of-
Thoughts style (`Evaluate: 5 6 9 -> sure` or `impossible`), so it can serve as its own
value function.

Tokenizer (built with `tokenizers`, wrapped as a `PreTrainedTokenizerFast`): one token per
character, except that a number of up to three digits is one token (`13`, `169`; longer
numbers split into runs of three digits) and so is each fixed phrase of the format
(`Input: `, `Step: `, ` (left: `, `Answer: `, the reflection line, `Evaluate: `, ` ->`,
` sure`, ` impossible`). Arithmetic then maps whole numbers to whole numbers, which a model
this small learns far faster than digit by digit, and a verdict is one token.

{_data_section(training)}
{_training_section(training)}## Measured quality (the 100 held-out puzzles)
Command: `mctslab train-demo-model --out assets/models/game24-demo --eval-only`
({quality['wall_s']} s for generation, then the self-evaluation).

| measure | value |
| --- | --- |
| greedy decoding solves | {quality['greedy_solve_rate']:.0%} |
| best of {samples} samples (T=1) solves | {quality[f'best_of_{samples}_solve_rate']:.0%} |
| sampled steps (T=1) that are legal | {quality['sampled_step_legal_rate']:.0%} |
| lines after the reflection line that restart from the input numbers | {restart:.0%} |
| self-evaluation right on reachable states | {_percent(quality['self_eval_accuracy'])} |

Legal steps are counted in each sampled solution up to its first illegal step (exact
fractions, operands taken from the numbers left, the remaining list right). A restart is a
first line after the reflection line that is a well-formed step whose two operands are
among the four input numbers (its arithmetic is judged by the legal-step figure, not here).

{_self_eval_section(quality)}
## Against the targets
{_against_targets(quality, training)}

{_USE}"""
    path = model_dir / "README.md"
    path.write_text(card)
    return path
