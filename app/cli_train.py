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
        "write step-per-line traces (some with a dead end and a reflection), and train a "
        "character-level GPT-2 from scratch for a fixed wall-clock budget.",
    )
    parser.add_argument("--out", required=True, help="directory to write the checkpoint to")
    parser.add_argument("--minutes", type=float, default=12.0,
                        help="wall-clock training budget (default 12)")
    parser.add_argument("--steps", type=int, default=None,
                        help="stop after this many optimiser steps (for a quick check)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from engine.demo_model import TrainConfig, train_demo_model
    from engine.errors import InputError

    if args.minutes <= 0 or (args.steps is not None and args.steps <= 0):
        raise InputError("--minutes and --steps must be positive.")
    config = TrainConfig(minutes=args.minutes, max_steps=args.steps, seed=args.seed)

    def progress(step: int, loss: float, elapsed: float) -> None:
        print(f"step {step:5d}  loss {loss:.4f}  {elapsed:6.0f}s", file=sys.stderr, flush=True)

    record = train_demo_model(Path(args.out), config, progress=progress)
    print(json.dumps(record, indent=2))
    return 0
