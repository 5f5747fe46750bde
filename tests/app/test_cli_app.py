"""``mctslab app``: its options, and Streamlit's, reach the right place."""

from __future__ import annotations

from app.cli import build_parser
from app.cli.app_cmd import streamlit_command


def test_unknown_options_go_to_streamlit_and_db_is_kept() -> None:
    args = build_parser().parse_args(["app", "--db", "x.db", "--server.port", "8600"])
    assert args.db == "x.db"
    assert args.streamlit_options == ["--server.port", "8600"]
    assert build_parser().parse_args(["app"]).streamlit_options == []


def test_the_server_is_local_headless_and_sends_no_statistics() -> None:
    command = streamlit_command(["--server.port", "8600"])
    # Streamlit's own command line, after importing what the first screen needs.
    assert command[1:4] == ["-m", "app.web.serve", "run"]
    assert command[4].endswith("app/web/streamlit_app.py")
    for option in ("--server.address=localhost", "--server.headless=true",
                   "--browser.gatherUsageStats=false", "--runner.magicEnabled=false"):
        assert option in command
    # The user's options come last, so they win over the defaults.
    assert command[-2:] == ["--server.port", "8600"]
    assert command.index("--server.port=8501") < command.index("--server.port")
