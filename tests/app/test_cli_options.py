"""The command line: one table of search options (``search``, ``fork``, ``eval``), one
module per saved-run command, and the selection rule named in ``replay``'s text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from synthetic_runs import closed_answer_events, save

from app.cli import build_parser, main
from app.cli.search import SEARCH_OPTIONS, search_settings
from engine.core.config import SearchConfig, make_config
from storage import open_store

EVAL_REQUIRED = ["--puzzles", "p.txt", "--token-budget", "10"]


def help_text(capsys: pytest.CaptureFixture[str], command: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["eval", "search"])
def test_help_shows_the_search_config_defaults(command: str, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "500")  # no help text wrapped inside
    text = help_text(capsys, command)
    # Each option: its line and, when the flag is long, its help on the next line.
    options = {block.split()[0]: " ".join(block.split())
               for block in re.split(r"^  (?=-)", text, flags=re.M)[1:]}
    for flag, field in SEARCH_OPTIONS.items():
        default = SearchConfig.model_fields[field].default
        assert options[flag].endswith(f"(default: {default})"), options[flag]
    # The five flags eval once declared by hand, with its own defaults, are among them.
    assert {"--c", "--children", "--reward", "--selection", "--seed"} <= set(SEARCH_OPTIONS)


def test_eval_parses_to_the_search_config_defaults_and_takes_every_setting() -> None:
    args = build_parser().parse_args(["eval", *EVAL_REQUIRED])
    assert make_config(**search_settings(args)) == SearchConfig()
    assert set(search_settings(args)) == set(SEARCH_OPTIONS.values())
    args = build_parser().parse_args(["eval", *EVAL_REQUIRED, "--selection", "puct", "--c",
                                      "2.5", "--children", "3", "--seed", "9"])
    config = make_config(**search_settings(args))
    assert (config.selection, config.exploration, config.children, config.seed) == \
        ("puct", 2.5, 3, 9)


def test_a_choice_outside_the_config_is_refused_by_the_parser(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", *EVAL_REQUIRED, "--selection", "ucb"])
    assert "invalid choice: 'ucb'" in capsys.readouterr().err


SAVED_RUN_COMMANDS = {  # argv -> the module that handles it
    ("runs",): "runs",
    ("replay", "1"): "replay",
    ("resume", "1", "--iterations", "1"): "resume",
    ("fork", "1", "--at", "0"): "fork",
    ("export", "1", "-o", "run.json"): "export",
    ("import", "run.json"): "import_cmd",
    ("delete", "1"): "delete",
}


def test_each_saved_run_command_has_its_own_module() -> None:
    parser = build_parser()
    for argv, module in SAVED_RUN_COMMANDS.items():
        assert parser.parse_args(argv).handler.__module__ == f"app.cli.{module}", argv


def test_replay_names_the_runs_selection_rule(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "runs.db")
    puct = make_config(selection="puct")
    save(open_store(db), closed_answer_events(puct), "puct run", puct)
    assert main(["replay", "1", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "PUCT=" in out and "UCT=" not in out.replace("PUCT=", "")
