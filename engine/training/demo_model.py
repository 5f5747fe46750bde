"""The bundled demo model: a small GPT-2 that solves Game of 24 step by step.

``train_demo_model`` builds the data (traces of every solvable puzzle but the 100 held
out, and one-line state evaluations from ``engine.training.demo_data``), a tokenizer (characters,
whole numbers, the format's phrases) and a small ``GPT2LMHeadModel``, trains it on the CPU
for a step or wall-clock budget, and writes a checkpoint that ``from_pretrained`` loads
offline.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from engine.tasks import game24
from engine.training.demo_data import ASSETS, make_evaluation_example, training_puzzles

logger = logging.getLogger(__name__)

DEMO_MODEL_DIR = ASSETS / "models" / "game24-demo"

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
    n_positions: int = 384  # the longest reflection trace is about 150 tokens
    batch_size: int = 32
    learning_rate: float = 3e-3
    # Share of examples that take a dead end and reflect: raised from 0.3 when evaluation
    # lines came in (restarts after the reflection line fell to 78% at 0.3, 81-86% at 0.4).
    reflection_share: float = 0.45
    exploration_share: float = 0.15  # share of examples that take random legal steps
    # Self-evaluation ("Evaluate: 5 6 9 -> sure"): this many batches of one-line examples
    # for every eight batches of traces. They are short, so a batch holds more of them.
    evaluation_batches: int = 1
    evaluation_batch_size: int = 128
    # How often a state has 1, 2, 3 or 4 numbers left, and the share that are sure. Sure
    # states are rare among those reachable, so they are drawn on purpose.
    evaluation_size_weights: tuple[float, float, float, float] = (0.1, 0.3, 0.35, 0.25)
    evaluation_sure_share: float = 0.5


# Numbers of up to three digits are one token each ("13", "169"); longer ones split into
# runs of three ("2197" is "219" "7"). Arithmetic then maps whole numbers to whole numbers,
# which a small model learns far faster than digit by digit. The fixed phrases of the trace
# format are one token each, so that compute goes to the steps, not to spelling.
NUMBER_TOKENS = [str(n) for n in range(10, 100)] + [f"{n:02d}" for n in range(10)] + [
    f"{n:03d}" for n in range(1000)
]
PHRASE_TOKENS = [
    game24.INPUT_PREFIX, game24.STEP_PREFIX, game24.ANSWER_PREFIX, " (left: ",
    game24.REFLECTION_LINE, game24.EVALUATE_PREFIX, game24.EVALUATE_ARROW,
    *(" " + word for word in game24.VERDICT_WORDS),
]
_PIECE = "|".join([*(re.escape(p) for p in PHRASE_TOKENS), r"\d{1,3}", r"[\s\S]"])


def build_tokenizer() -> object:
    """A ``PreTrainedTokenizerFast``: a token per character, number up to 999, or phrase."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pieces = [PAD, EOS, UNK, *CHARACTERS, *NUMBER_TOKENS, *PHRASE_TOKENS]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(pieces))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(_PIECE), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        bos_token=EOS,
        clean_up_tokenization_spaces=False,
    )


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


def _path_weight(path: Sequence[game24.Move]) -> float:
    """How often a solution is drawn: small whole numbers first, as a person would.

    Their arithmetic is easier to learn, and a policy that prefers one kind of solution
    is sharper than one spread evenly over every path (some puzzles have hundreds).
    """
    if any(m.result.denominator != 1 for m in path):
        return 0.1
    return 1.0 if all(m.result <= 30 for m in path) else 0.3


def solution_lines(numbers: Sequence[int], rng: random.Random) -> list[str]:
    """A random correct solution: its step lines and the answer line."""
    paths = game24.solutions(game24.sort_numbers([Fraction(n) for n in numbers]))
    path = rng.choices(paths, weights=[_path_weight(p) for p in paths])[0]
    steps = [game24.format_step(m, swap=rng.random() < 0.5) for m in path]
    return [*steps, game24.format_answer(numbers, path)]


# A training example is a list of (text, trained) segments: the loss is taken on the
# tokens of trained segments only. Every example starts with the input line, untrained.
Segments = list[tuple[str, bool]]
# An encoded example: token ids, and whether each one carries loss.
Encoded = tuple[list[int], list[bool]]


def _choice_masked_step(move: game24.Move, swap: bool) -> Segments:
    """A step whose choice of operands is context only; its result and list are trained.

    Dead-end and exploratory steps teach arithmetic and the remaining list on every
    kind of move, without teaching the model to choose such moves.
    """
    line = game24.format_step(move, swap=swap)
    cut = line.index("=")
    return [(line[:cut], False), (line[cut:] + "\n", True)]


def make_example(numbers: Sequence[int], rng: random.Random, config: TrainConfig) -> Segments:
    """One training example: a solution, a dead end then reflection, or an exploration.

    - solution: every line after the input is trained;
    - reflection (``config.reflection_share``): legal dead-end steps whose operand choice
      is untrained, then the reflection line and a full solution, trained;
    - exploration (``config.exploration_share``): one to three random legal steps, operand
      choice untrained, so that arithmetic is learned beyond the moves that solve.
    """
    shown = sorted(numbers)
    segments: Segments = [(game24.prompt_for(shown), False)]
    draw = rng.random()
    if draw < config.exploration_share:
        state = game24.sort_numbers([Fraction(n) for n in shown])
        for _ in range(rng.randint(1, 3)):
            move = rng.choice(game24.legal_moves(state))
            segments += _choice_masked_step(move, swap=rng.random() < 0.5)
            state = move.remaining
        return segments
    if draw < config.exploration_share + config.reflection_share:
        for move in dead_end(shown, rng):
            segments += _choice_masked_step(move, swap=rng.random() < 0.5)
        segments.append((game24.REFLECTION_LINE + "\n", True))
    segments.append(("\n".join(solution_lines(shown, rng)) + "\n", True))
    return segments


def make_trace(numbers: Sequence[int], rng: random.Random, reflection_share: float) -> str:
    """One complete trace (a solution, perhaps after a dead end and reflection) as text."""
    config = TrainConfig(reflection_share=reflection_share, exploration_share=0.0)
    return "".join(text for text, _ in make_example(numbers, rng, config))


def encode_example(segments: Segments, tokenizer: Any) -> Encoded:
    """Token ids (then EOS) and which of them carry loss.

    Segments split only before ``=`` and after a newline, never inside a number, so
    encoding them one by one gives the same ids as encoding the whole text. An
    exploration ends without an answer, so it gets no EOS: nothing is learned about how
    it would go on. An evaluation line is complete after its verdict, so it gets one.
    """
    encoded = tokenizer([text for text, _ in segments], add_special_tokens=False)["input_ids"]
    ids: list[int] = []
    trained: list[bool] = []
    for piece, (_, train) in zip(encoded, segments, strict=True):
        ids += piece
        trained += [train] * len(piece)
    complete = segments[0][0].startswith(game24.EVALUATE_PREFIX) or any(
        game24.ANSWER_PREFIX in text for text, _ in segments)
    if complete:
        ids.append(tokenizer.eos_token_id)
        trained.append(True)
    return ids, trained


def _length_bucketed_batches(
    puzzles: Sequence[tuple[int, ...]],
    rng: random.Random,
    config: TrainConfig,
    tokenizer: Any,
) -> list[tuple[bool, list[Encoded]]]:
    """Eight batches of traces grouped by length, so that padding wastes little compute,
    and ``config.evaluation_batches`` batches of evaluation lines, in random order; each
    batch is flagged True when it holds evaluation lines."""
    examples = [
        encode_example(make_example(rng.choice(puzzles), rng, config), tokenizer)
        for _ in range(8 * config.batch_size)
    ]
    examples.sort(key=lambda e: len(e[0]))
    size = config.batch_size
    batches = [(False, examples[i : i + size]) for i in range(0, len(examples), size)]
    for _ in range(config.evaluation_batches):
        batches.append((True, [
            encode_example(make_evaluation_example(
                rng, puzzles, config.evaluation_size_weights, config.evaluation_sure_share,
            ), tokenizer)
            for _ in range(config.evaluation_batch_size)
        ]))
    rng.shuffle(batches)
    return batches


def _collate(batch: Sequence[Encoded], pad_id: int) -> dict[str, Any]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 where untrained)."""
    import torch

    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for row, (ids, trained) in enumerate(batch):
        n = len(ids)
        input_ids[row, :n] = torch.tensor(ids)
        attention[row, :n] = 1
        kept = [t if keep else -100 for t, keep in zip(ids, trained, strict=True)]
        labels[row, :n] = torch.tensor(kept)
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


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
    cpu_started = time.process_time()
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    tokenizer = build_tokenizer()
    puzzles = training_puzzles()
    pad_id: int = tokenizer.pad_token_id  # type: ignore[attr-defined]
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
    step, evaluation_steps, loss_value = 0, 0, float("nan")
    pending: list[tuple[bool, list[Encoded]]] = []
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
            pending = _length_bucketed_batches(puzzles, rng, config, tokenizer)
        is_evaluation, examples = pending.pop()
        evaluation_steps += is_evaluation
        batch = _collate(examples, pad_id)
        out = model(**batch)
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
        "evaluation_steps": evaluation_steps,
        "steps_per_s": round(step / wall_s, 2),
        "final_loss": round(loss_value, 4),
        "wall_s": round(wall_s, 1),
        # CPU seconds of all threads: beside wall_s, it shows how busy the machine was.
        "cpu_s": round(time.process_time() - cpu_started, 1),
        "training_puzzles": len(puzzles),
        "parameters": sum(p.numel() for p in model.parameters()),
        "torch_threads": torch.get_num_threads(),
    }
    (out_dir / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    return record
