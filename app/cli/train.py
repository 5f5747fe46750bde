"""``mctslab train-demo-model``: train the bundled Game-of-24 model on this machine."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "train-demo-model", help="train the bundled Game-of-24 demo model on this CPU",
        description="Enumerate every solvable Game-of-24 puzzle except the 100 held out, "
        "write step-per-line traces (some with a dead end and a reflection) and one-line "
        "state evaluations ('Evaluate: 5 6 9 -> sure'), and train a small GPT-2 from "
        "scratch for a fixed step or wall-clock budget.",
    )
    parser.add_argument("--out", required=True, help="directory to write the checkpoint to")
    parser.add_argument("--minutes", type=float, default=13.0,
                        help="wall-clock training budget (default: 13)")
    parser.add_argument("--steps", type=int, default=None,
                        help="stop after this many optimiser steps (for a quick check)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--skip-eval", action="store_true",
                        help="do not measure the model on the held-out puzzles afterwards")
    parser.add_argument("--eval-only", action="store_true",
                        help="measure an existing checkpoint in --out and rewrite its card")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from engine.errors import InputError
    from engine.training.demo_model import TrainConfig, train_demo_model

    if args.minutes <= 0 or (args.steps is not None and args.steps <= 0):
        raise InputError("--minutes and --steps must be positive.")
    config = TrainConfig(minutes=args.minutes, max_steps=args.steps, seed=args.seed)

    def progress(step: int, loss: float, elapsed: float) -> None:
        print(f"step {step:5d}  loss {loss:.4f}  {elapsed:6.0f}s", file=sys.stderr, flush=True)

    out = Path(args.out)
    record: dict[str, object] = {}
    if not args.eval_only:
        record = train_demo_model(out, config, progress=progress)
    elif not (out / "training.json").is_file():
        raise InputError(f"{out} holds no trained demo model (no training.json).")
    if not args.skip_eval:
        record["quality"] = _evaluate(out, args.seed)
    print(json.dumps(record, indent=2))
    return 0


def _evaluate(out: Path, seed: int) -> dict[str, object]:
    from tqdm import tqdm

    from engine.backends.hf import HFModel
    from engine.tasks import game24
    from engine.training.demo_card import write_model_card
    from engine.training.demo_data import HELDOUT_PUZZLES
    from engine.training.quality import measure_quality

    puzzles = game24.load_puzzles(str(HELDOUT_PUZZLES))
    model = HFModel(str(out))
    with tqdm(total=len(puzzles), desc="evaluating", file=sys.stderr, leave=False) as bar:
        quality = measure_quality(model, puzzles, seed=seed,
                                  progress=lambda n: bar.update(n - bar.n))
    write_model_card(out, quality)
    return quality
