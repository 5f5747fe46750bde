"""The ``mctslab`` command line: one subcommand per module, registered below.

Every subcommand module has ``register(subparsers)``; handlers take the parsed arguments
and return an exit code. Errors a user can cause (``MctsLabError``) print one line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from engine.errors import MctsLabError

SUBCOMMAND_MODULES = (
    "app.cli.train",
    "app.cli.search",
    "app.cli.app_cmd",
    "app.cli.runs",
    "app.cli.replay",
    "app.cli.resume",
    "app.cli.fork",
    "app.cli.export",
    "app.cli.import_cmd",
    "app.cli.delete",
    "app.cli.eval",
    "app.cli.bench",
)


def add_common(parser: argparse.ArgumentParser) -> None:
    """``--db`` and ``--json``, which every subcommand accepts."""
    parser.add_argument(
        "--db", default=None, metavar="URL_OR_PATH",
        help="SQLAlchemy URL or SQLite file path (default: $MCTSLAB_DB or a file under "
        "your user data directory)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mctslab",
        description="Step, see and replay Monte Carlo Tree Search over a language model.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # OpenMP threads that spin while they wait are ruinous on a shared CPU: beside another
    # busy process, training ran 6 times slower and sampling 80 times slower (1.6 s a step
    # instead of 0.27; 40 s instead of 0.5 s for 16 samples). Set before torch is imported,
    # which loads the OpenMP runtime; a value already set is kept.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except MctsLabError as err:
        print(f"mctslab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mctslab: interrupted", file=sys.stderr)
        return 130


