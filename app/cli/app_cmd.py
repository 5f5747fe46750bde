"""``mctslab app``: start the web app on http://localhost:8501 (bound to localhost only)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from app.cli import add_db

APP_SCRIPT = Path(__file__).resolve().parents[1] / "web" / "streamlit_app.py"
# Local only, no browser opened by the server, no usage statistics sent anywhere; no
# "magic" (a bare string or value on its own line in a page script is not drawn: the pages
# draw only what they call).
STREAMLIT_DEFAULTS = (
    "--server.address=localhost",
    "--server.port=8501",
    "--server.headless=true",
    "--browser.gatherUsageStats=false",
    "--global.developmentMode=false",
    "--client.toolbarMode=minimal",
    "--runner.magicEnabled=false",
    # Widgets whose default is the run's own value (What if's c) also keep the user's value
    # through the session state (``state.keep_widget_values``), as Streamlit documents;
    # its warning about exactly that would print a stack trace once per server.
    "--global.disableWidgetStateDuplicationWarning=true",
)


class _StreamlitOptionsParser(argparse.ArgumentParser):
    """Keeps the options it does not know (``--server.port 8600``) for Streamlit."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extra = super().parse_known_args(args, namespace)
        if "--json" in extra:
            # Not Streamlit's either: say so here rather than pass it on.
            self.error("--json: the app serves pages and prints nothing to parse; "
                       "`mctslab runs --json` lists the runs it saved")
        parsed.streamlit_options = list(extra)
        return parsed, []


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "app", help="start the web app on http://localhost:8501",
        description="Start the MCTS Lab web app (Streamlit), bound to localhost. Options "
        "this command does not know go to Streamlit, e.g. --server.port 8600.",
    )
    parser.__class__ = _StreamlitOptionsParser
    add_db(parser)  # no --json: the app prints nothing to parse
    parser.set_defaults(handler=_run, streamlit_options=[])


def streamlit_command(options: list[str]) -> list[str]:
    """The command that serves the app; the user's Streamlit options come last and win.
    ``app.web.serve`` is Streamlit's own command line after importing what the first screen
    needs, so a browser's first visit does not wait for those imports."""
    return [sys.executable, "-m", "app.web.serve", "run", str(APP_SCRIPT), *STREAMLIT_DEFAULTS,
            *options]


def _run(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.db:
        env["MCTSLAB_DB"] = args.db
    env.setdefault("HF_HUB_OFFLINE", "1")
    command = streamlit_command(args.streamlit_options)
    # Replace this process with Streamlit, so that a signal sent to `mctslab app`
    # (Ctrl-C, terminate from a test or a supervisor) stops the server itself.
    os.execve(command[0], command, env)
