"""The bundled demo model: a character-level GPT-2 that solves Game of 24 step by step.

``train_demo_model`` builds the data (every solvable puzzle but the 100 held out),
a character tokenizer and a small ``GPT2LMHeadModel``, trains it on the CPU for a fixed
wall-clock budget, and writes a checkpoint that ``from_pretrained`` loads offline.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from engine import game24

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEMO_MODEL_DIR = ASSETS / "models" / "game24-demo"
HELDOUT_PUZZLES = ASSETS / "data" / "game24_tot_901_1000.txt"

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
# Every printable ASCII character but the vertical whitespace we do not use.
CHARACTERS = [c for c in string.printable if c not in "\r\x0b\x0c\t"]


@dataclass(frozen=True)
class TrainConfig:
    """What a training run does; stored in the checkpoint beside the weights."""

    minutes: float = 10.0  # wall-clock budget; training stops when it is spent
    max_steps: int | None = None  # stop earlier after this many optimiser steps
    seed: int = 0
    n_layer: int = 3
    n_embd: int = 128
    n_head: int = 4
    n_positions: int = 384  # the longest reflection trace is about 330 characters
    batch_size: int = 32
    learning_rate: float = 3e-3
    reflection_share: float = 0.2  # share of traces that take a dead end and reflect


def build_tokenizer() -> object:
    """A character-level ``PreTrainedTokenizerFast`` (one token per character)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([PAD, EOS, UNK, *CHARACTERS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        bos_token=EOS,
        clean_up_tokenization_spaces=False,
    )


def all_puzzles() -> list[tuple[int, ...]]:
    """Every multiset of four numbers from 1..13 that has a solution."""
    candidates = itertools.combinations_with_replacement(range(1, 14), 4)
    return [p for p in candidates if game24.is_solvable(p)]


def training_puzzles() -> list[tuple[int, ...]]:
    """Every solvable puzzle except the held-out evaluation split."""
    held_out = {tuple(sorted(p)) for p in game24.load_puzzles(str(HELDOUT_PUZZLES))}
    return [p for p in all_puzzles() if p not in held_out]


def dead_end(numbers: Sequence[int], rng: random.Random) -> list[game24.Move]:
    """Legal moves that lead away from every solution: 1 to 3 of them, ending unsolved."""
    state = game24.sort_numbers([Fraction(n) for n in numbers])
    moves: list[game24.Move] = []
    while len(state) > 1:
        options = game24.legal_moves(state)
        blocked = [m for m in options if not game24.solutions(m.remaining)]
        move = rng.choice(blocked or options)
        moves.append(move)
        state = move.remaining
        # Stop early sometimes: reflection can follow any step, not only a final one.
        if blocked and len(state) > 1 and rng.random() < 0.25:
            break
    if len(state) == 1 and state[0] == game24.TARGET:
        return dead_end(numbers, rng)
    return moves


def solution_lines(numbers: Sequence[int], rng: random.Random) -> list[str]:
    """A random correct solution: its step lines and the answer line."""
    paths = game24.solutions(game24.sort_numbers([Fraction(n) for n in numbers]))
    path = rng.choice(paths)
    steps = [game24.format_step(m, swap=rng.random() < 0.5) for m in path]
    return [*steps, game24.format_answer(numbers, path)]


def make_trace(numbers: Sequence[int], rng: random.Random, reflection_share: float) -> str:
    """One training trace, ending with a newline; reflection traces dead-end first."""
    shown = sorted(numbers)  # the task always prompts with the numbers in ascending order
    lines = [game24.prompt_for(shown).rstrip("\n")]
    if rng.random() < reflection_share:
        lines += [game24.format_step(m, swap=rng.random() < 0.5) for m in dead_end(shown, rng)]
        lines.append(game24.REFLECTION_LINE)
    lines += solution_lines(shown, rng)
    return "\n".join(lines) + "\n"


_INPUT_LINE_MAX = 24  # "Input: 13 13 13 13" and its newline fit well inside


def _before_first_newline(input_ids: Any, tokenizer: Any) -> Any:
    """Mask of the positions up to and including each row's first newline (the prompt)."""
    import torch

    newline = tokenizer.convert_tokens_to_ids("\n")
    head = input_ids[:, :_INPUT_LINE_MAX]
    seen = torch.cumsum((head == newline).long(), dim=1)
    # Positions before the newline, and the newline itself, belong to the prompt.
    return (seen == 0) | ((seen == 1) & (head == newline))


def _length_bucketed_batches(
    puzzles: Sequence[tuple[int, ...]], rng: random.Random, config: TrainConfig
) -> list[list[str]]:
    """Eight batches of traces grouped by length, so that padding wastes little compute."""
    texts = [
        make_trace(rng.choice(puzzles), rng, config.reflection_share) + EOS
        for _ in range(8 * config.batch_size)
    ]
    texts.sort(key=len)
    batches = [texts[i : i + config.batch_size] for i in range(0, len(texts), config.batch_size)]
    rng.shuffle(batches)
    return batches


def train_demo_model(
    out_dir: Path,
    config: TrainConfig,
    progress: Callable[[int, float, float], None] | None = None,
) -> dict[str, object]:
    """Train the demo model and write it to ``out_dir``; return the training record.

    ``progress(step, loss, elapsed_s)`` is called every few steps.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    started = time.monotonic()
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    tokenizer = build_tokenizer()
    puzzles = training_puzzles()
    logger.info("training on %d puzzles", len(puzzles))
    model_config = GPT2Config(
        vocab_size=len(tokenizer),  # type: ignore[arg-type]
        n_positions=config.n_positions,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        # No dropout: the data are drawn afresh every step, so there is nothing to overfit.
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.eos_token_id,  # type: ignore[attr-defined]
        eos_token_id=tokenizer.eos_token_id,  # type: ignore[attr-defined]
        pad_token_id=tokenizer.pad_token_id,  # type: ignore[attr-defined]
    )
    model = GPT2LMHeadModel(model_config)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    budget_s = config.minutes * 60.0
    step, loss_value = 0, float("nan")
    pending: list[list[str]] = []
    model.train()
    while True:
        elapsed = time.monotonic() - started
        if elapsed >= budget_s or (config.max_steps is not None and step >= config.max_steps):
            break
        # Learning rate follows the share of the budget spent (steps, or else wall-clock
        # time): warm-up, then cosine. A step budget makes a run repeatable on a busy machine.
        if config.max_steps is not None:
            frac = step / config.max_steps
        else:
            frac = min(1.0, elapsed / budget_s)
        warm = min(1.0, (step + 1) / 100)
        lr = config.learning_rate * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for group in optimiser.param_groups:
            group["lr"] = lr
        if not pending:
            pending = _length_bucketed_batches(puzzles, rng, config)
        texts = pending.pop()
        batch = tokenizer(texts, return_tensors="pt", padding=True)  # type: ignore[operator]
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        # The input line is random; learning to predict it only adds noise to the gradient.
        labels[:, :_INPUT_LINE_MAX] = labels[:, :_INPUT_LINE_MAX].masked_fill(
            _before_first_newline(batch["input_ids"], tokenizer), -100
        )
        out = model(**batch, labels=labels)
        optimiser.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        step += 1
        loss_value = float(out.loss.detach())
        if progress is not None and step % 25 == 0:
            progress(step, loss_value, time.monotonic() - started)
    wall_s = time.monotonic() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()  # type: ignore[no-untyped-call]
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)  # type: ignore[attr-defined]
    record: dict[str, object] = {
        "train_config": asdict(config),
        "steps": step,
        "final_loss": round(loss_value, 4),
        "wall_s": round(wall_s, 1),
        "training_puzzles": len(puzzles),
        "parameters": sum(p.numel() for p in model.parameters()),
        "torch_threads": torch.get_num_threads(),
    }
    (out_dir / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    return record
