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
from typing import Any

from engine.errors import MctsLabError

SUBCOMMAND_MODULES = (
    "app.cli.train",
    "app.cli.search",
    "app.cli.app_cmd",
    "app.cli.runs",
    "app.cli.replay",
    "app.cli.resume",
    "app.cli.fork",
    "app.cli.steer",
    "app.cli.export",
    "app.cli.import_cmd",
    "app.cli.delete",
    "app.cli.eval",
    "app.cli.bench",
)


BROKEN_PIPE_EXIT = 141
"""Exit status when stdout's reader has gone: 128 + SIGPIPE, what a shell reports for a
tool that SIGPIPE ended."""


def add_common(parser: argparse.ArgumentParser) -> None:
    """``--db`` and ``--json``, which every command that reads or writes runs accepts."""
    add_db(parser)
    add_json(parser)


def add_db(parser: argparse.ArgumentParser) -> None:
    """``--db``: the database the command's runs are in."""
    parser.add_argument(
        "--db", default=None, metavar="URL_OR_PATH",
        help="SQLAlchemy URL or SQLite file path (default: $MCTSLAB_DB or a file under "
        "your user data directory)",
    )


MODEL_HELP = ("the bundled `demo`, a local model directory, a cached hub id, or an "
              "OpenAI-compatible server (vLLM, SGLang) by its URL: http://HOST:PORT/v1, "
              "optionally http://HOST:PORT/v1?model=NAME")


def add_model(parser: Any, default_help: str = "default: bundled demo") -> None:
    """``--model`` and ``--served-model``: what ``load_model`` loads."""
    parser.add_argument("--model", default=None, metavar="NAME_PATH_OR_URL",
                        help=f"{MODEL_HELP} ({default_help})")
    parser.add_argument("--served-model", default=None, metavar="NAME",
                        help="with a server URL as --model: which of its models (default: "
                        "its only one)")


def load_model(args: argparse.Namespace, default: str | None = None) -> Any:
    """The backend ``--model`` / ``--served-model`` name (``default`` when not given)."""
    from engine.backends import load_backend

    return load_backend(args.model or default, getattr(args, "served_model", None))


def add_json(parser: argparse.ArgumentParser) -> None:
    """``--json``: print the result as one JSON document."""
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output on stdout (default: off, readable text)")


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, written ``(default: ...)`` (as
    ``search_option`` writes a search setting's): appended from the option's default when
    its help does not say it already; a flag's is ``off``, no value's is ``none``."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (not action.option_strings or action.required or "(default: " in text
                or action.default is argparse.SUPPRESS or text == argparse.SUPPRESS):
            return text
        if isinstance(action, argparse._StoreTrueAction):
            shown = "off"
        elif action.default is None:
            shown = "none"
        else:
            shown = "%(default)s"
        return f"{text} (default: {shown})".strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mctslab",
        description="Step, see and replay Monte Carlo Tree Search over a language model.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for command in sub.choices.values():
        command.formatter_class = DefaultsHelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # OpenMP threads that spin while they wait are ruinous on a shared CPU: beside another
    # busy process, training ran 6 times slower and sampling 80 times slower (1.6 s a step
    # instead of 0.27; 40 s instead of 0.5 s for 16 samples). Set before torch is imported,
    # which loads the OpenMP runtime; a value already set is kept.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        try:
            args = build_parser().parse_args(argv)
        finally:
            sys.stdout.flush()  # --help's text: a closed pipe shows here, not at exit
        code = int(args.handler(args))
        sys.stdout.flush()  # a closed pipe shows here, not at exit after this handler
        return code
    except BrokenPipeError:
        # The reader went away (`mctslab runs | head -1`): stop quietly, as a tool killed
        # by SIGPIPE does. Point stdout at devnull so that the flush at exit cannot fail
        # again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return BROKEN_PIPE_EXIT
    except MctsLabError as err:
        print(f"mctslab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mctslab: interrupted", file=sys.stderr)
        return 130


