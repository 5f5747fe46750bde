"""What the CLI prints (issue 12): the replay tree with each child under its parent, no
wrong answer called the best answer, quiet pipes, defaults in every help text, the replay
numbering, and truthful options, statuses and model errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from app.cli import BROKEN_PIPE_EXIT, build_parser, main
from engine.core.events import Expanded, Selected
from engine.tasks.game24 import evaluate_expression, format_number
from storage import open_store

REPO = Path(__file__).resolve().parents[2]
PROBLEM = "4 5 6 10"
NODE = re.compile(r"#(\d+)(?: \(parent #(\d+)\))? (root|step|mini_step|reflection|answer) ")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def searched_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real 40-iteration search with the bundled model on 4 5 6 10, seed 0 (run 1)."""
    db = str(tmp_path_factory.mktemp("cli") / "runs.db")
    assert main(["search", PROBLEM, "--seed", "0", "--db", db, "--json"]) == 0
    yield db


def printed_tree(text: str) -> list[tuple[int, int | None, int]]:
    """(id, parent shown, column of the id) for each node line, in printed order."""
    found = []
    for line in text.splitlines():
        match = NODE.search(line)
        if match and (match.start() == 0 or set(line[:match.start()]) <= set("│├└─ ")):
            parent = None if match.group(2) is None else int(match.group(2))
            found.append((int(match.group(1)), parent, match.start()))
    return found


def assert_children_under_parents(text: str, parents: dict[int, int | None]) -> None:
    rows = printed_tree(text)
    assert sorted(i for i, _, _ in rows) == sorted(parents), "every node printed once"
    for index, (node, shown, column) in enumerate(rows):
        assert shown == parents[node], f"#{node} shows parent #{shown}"
        above = next((r for r in reversed(rows[:index]) if r[2] < column), None)
        if parents[node] is None:
            assert above is None and column == 0
        else:
            assert above is not None and above[0] == parents[node], (
                f"#{node} is printed under #{above and above[0]}, its parent is "
                f"#{parents[node]}")


@pytest.mark.parametrize("moment", [[], ["--iteration", "10"], ["--iteration", "7", "--phase",
                                                                  "expand"], ["--rollouts"]])
def test_replay_prints_every_child_under_its_parent(
        searched_db: str, moment: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(searched_db)
    text = cli(capsys, "replay", "1", *moment, "--db", searched_db)
    iteration = int(moment[1]) if moment and moment[0] == "--iteration" else None
    phase = moment[3] if len(moment) == 4 else None
    tree = store.tree_at(1, iteration=iteration, phase=phase)
    assert len(tree.nodes) > 10 or iteration is not None
    assert_children_under_parents(text, {n.id: n.parent for n in tree.nodes})


def test_replay_says_what_the_shown_phase_selected_and_added(
        searched_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(searched_db)
    events = [e for e in store.load_events(1) if e.iteration == 6]  # iteration 7's events
    selected = next(e for e in events if isinstance(e, Selected))
    expanded = next(e for e in events if isinstance(e, Expanded))
    path = " → ".join(f"#{i}" for i in selected.path)
    text = cli(capsys, "replay", "1", "--iteration", "7", "--phase", "select", "--db",
               searched_db)
    assert "iteration 7 · after select" in text.splitlines()[0]
    assert f"iteration 7: selected {path}\n" in text
    text = cli(capsys, "replay", "1", "--iteration", "7", "--phase", "expand", "--db",
               searched_db)
    added = ", ".join(f"#{c.id}" for c in expanded.children) or "nothing new"
    assert f"iteration 7: selected {path}; expanded #{expanded.node}: added {added}" in text
    for child in expanded.children:
        line = next(li for li in text.splitlines() if f"#{child.id} (parent #" in li)
        assert "[added]" in line
    data = json.loads(cli(capsys, "replay", "1", "--iteration", "7", "--phase", "expand",
                          "--json", "--db", searched_db))
    assert data["selected_path"] == list(selected.path)
    assert data["added"] == [c.id for c in expanded.children]


def test_rollouts_are_listed_under_their_node(
        searched_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    tree = open_store(searched_db).tree_at(1)
    text = cli(capsys, "replay", "1", "--rollouts", "--db", searched_db)
    lines = text.splitlines()
    for node in tree.nodes:
        start = next(i for i, li in enumerate(lines) if NODE.search(li) and
                     NODE.search(li).group(1) == str(node.id))  # type: ignore[union-attr]
        below = []
        for line in lines[start + 1:]:
            if NODE.search(line):
                break
            below.append(line)
        assert len(below) == len(node.rollouts), node.id
        for line, rollout in zip(below, node.rollouts, strict=True):
            assert f"reward {rollout.value:.3f} ({rollout.reward})" in line
            assert repr(rollout.text) in line


# -- item 2: no wrong answer called the best answer ----------------------------------------

def test_a_wrong_candidate_is_never_the_best_answer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "runs.db")
    # Without the step check a rollout can end in a wrong answer line; three iterations
    # reach one and no correct answer.
    text = cli(capsys, "search", PROBLEM, "--seed", "0", "--iterations", "3", "--step-check",
               "off", "--reward", "confidence", "--db", db)
    info = open_store(db).get_run(1)
    assert info.solved is False and info.best_answer is not None
    value, _ = evaluate_expression(info.best_answer.split("=")[0])
    assert value != Fraction(24)
    assert "best answer" not in text
    assert (f"no verified answer; best candidate (wrong: equals {format_number(value)}"
            in text)
    runs = cli(capsys, "runs", "--db", db)
    assert f"-> {info.best_answer} (wrong: equals {format_number(value)}" in runs
    row = json.loads(cli(capsys, "runs", "--json", "--db", db))[0]
    assert (row["best_answer"], row["solved"], row["answer_verdict"]) == (
        info.best_answer, False, "wrong")
    assert row["answer_reason"].startswith(f"equals {format_number(value)}")
    replay = cli(capsys, "replay", "1", "--db", db)
    assert replay.splitlines()[1].startswith("no verified answer; best candidate (wrong: ")
    data = json.loads(cli(capsys, "replay", "1", "--json", "--db", db))
    assert data["answer_verdict"] == "wrong" and data["best_answer"] == info.best_answer


def test_a_correct_answer_is_the_best_answer(searched_db: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    info = open_store(searched_db).get_run(1)
    row = json.loads(cli(capsys, "runs", "--json", "--db", searched_db))[0]
    if info.solved:
        assert row["answer_verdict"] == "correct"
        assert cli(capsys, "replay", "1", "--db", searched_db).splitlines()[1] == (
            f"best answer (verified correct): {info.best_answer}")
    else:
        assert row["answer_verdict"] in ("wrong", "none")


# -- item 12: pipes --------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["runs"], ["runs", "--json"], ["replay", "1"],
                                  ["replay", "1", "--json"], ["replay", "1", "--rollouts"],
                                  ["search", "--help"], ["export", "1", "-o", "TMP"]])
def test_every_command_is_quiet_in_a_closed_pipe(searched_db: str, argv: list[str],
                                                 tmp_path: Path) -> None:
    """The reader is gone before the command writes (as `| head -1` is, once it has its
    line): no traceback, exit status 141 as for a tool that SIGPIPE ended."""
    argv = [str(tmp_path / "run.json") if a == "TMP" else a for a in argv]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "app.cli", *argv, "--db", searched_db],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    err = process.stderr.read().decode()
    code = process.wait(timeout=120)
    assert err == ""
    # argparse's help printer ignores a failed write itself and exits 0.
    assert code in ((0, BROKEN_PIPE_EXIT) if "--help" in argv else (BROKEN_PIPE_EXIT,)), err


def test_head_takes_the_first_line_quietly(searched_db: str) -> None:
    shell = (f"{sys.executable} -m app.cli replay 1 --rollouts --db {searched_db} | head -1; "
             "echo \"status ${PIPESTATUS[0]}\"")
    done = subprocess.run(["bash", "-c", shell], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert done.stdout.startswith("run 1: 4 5 6 10  after 40 iterations")
    assert done.stdout.splitlines()[-1] in ("status 0", f"status {BROKEN_PIPE_EXIT}")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


# -- item 13: every option's default in its help ---------------------------------------------

def test_every_option_of_every_command_shows_its_default(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "500")  # one line per option
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands is not None
    for name, command in commands.items():
        text = command.format_help()
        # Each option: its line and, when the flag is long, its help on the next line.
        blocks = {block.split()[0].rstrip(","): " ".join(block.split())
                  for block in re.split(r"^  (?=-)", text, flags=re.M)[1:]}
        for action in command._actions:
            if not action.option_strings or action.dest == "help" or action.required:
                continue
            block = blocks[action.option_strings[0]]
            assert re.search(r"\(default: [^)]+\)", block), (name, block)
    for flag in ("--children", "--c", "--reward", "--temperature", "--max-depth", "--seed",
                 "--iterations", "--json", "--title"):
        assert flag in commands["search"].format_help()
    search_help = " ".join(commands["search"].format_help().split())
    assert "--iterations ITERATIONS MCTS iterations (default: 40)" in search_help
    assert "--json machine-readable output on stdout (default: off" in search_help


# -- item 16: replay numbering ---------------------------------------------------------------

def test_the_end_of_iteration_k_is_after_k_iterations_in_the_cli(
        searched_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    end = json.loads(cli(capsys, "replay", "1", "--iteration", "10", "--phase", "backprop",
                         "--json", "--db", searched_db))
    after = json.loads(cli(capsys, "replay", "1", "--iteration", "10", "--json", "--db",
                           searched_db))
    assert end["nodes"] == after["nodes"] and end["iterations_done"] == 10
    assert end["moment"] == after["moment"] == "after 10 iterations"
    text = cli(capsys, "replay", "1", "--iteration", "10", "--phase", "backprop", "--db",
               searched_db)
    assert text.splitlines()[0].startswith("run 1: 4 5 6 10  after 10 iterations  (")
    first = json.loads(cli(capsys, "replay", "1", "--iteration", "1", "--phase", "select",
                           "--json", "--db", searched_db))
    assert (first["iterations_done"], first["next_phase"], first["moment"]) == (
        0, "expand", "iteration 1 · after select")
    start = json.loads(cli(capsys, "replay", "1", "--iteration", "0", "--json", "--db",
                           searched_db))
    assert len(start["nodes"]) == 1 and start["moment"] == "after 0 iterations"
    assert main(["replay", "1", "--iteration", "0", "--phase", "select", "--db",
                 searched_db]) == 2
    err = capsys.readouterr().err
    assert err == ("mctslab: error: iteration 0 is the start (the root alone) and has no "
                   "phases: leave out --phase, or choose --iteration 1..40 with it\n")


# -- item 17: options that do something, statuses and model errors that are true ------------

def test_bench_has_no_db_and_app_has_no_json(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--db", "x.db"])
    assert "unrecognized arguments: --db" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["app", "--json"])
    assert "--json: the app serves pages and prints nothing to parse" in \
        capsys.readouterr().err
    assert build_parser().parse_args(["bench", "--json"]).json is True
    assert build_parser().parse_args(["app", "--db", "x.db"]).db == "x.db"


def test_a_fork_without_iterations_is_paused(searched_db: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "copy.db")
    cli(capsys, "export", "1", "-o", str(tmp_path / "run.json"), "--db", searched_db)
    cli(capsys, "import", str(tmp_path / "run.json"), "--db", db)
    row = json.loads(cli(capsys, "fork", "1", "--at", "3", "--json", "--db", db))
    assert row["status"] == "paused"
    assert "paused" in cli(capsys, "runs", "--db", db)
    # Paused means resumable: resume runs it on and finishes it.
    result = json.loads(cli(capsys, "resume", str(row["run_id"]), "--iterations", "1",
                            "--json", "--db", db))
    assert result["iterations"] == 4
    assert open_store(db).get_run(row["run_id"]).status == "finished"
    # And a paused fork survives export and import.
    paused = json.loads(cli(capsys, "fork", "1", "--at", "2", "--json", "--db", db))
    cli(capsys, "export", str(paused["run_id"]), "-o", str(tmp_path / "fork.json"), "--db", db)
    imported = json.loads(cli(capsys, "import", str(tmp_path / "fork.json"), "--json", "--db",
                              str(tmp_path / "third.db")))
    assert imported["status"] == "paused"


@pytest.mark.parametrize(("content", "says"), [
    ("", "config.json is empty"),
    ("{not json", "config.json is not valid JSON (Expecting property name"),
    ("[1, 2]", "config.json holds a JSON list, not an object of settings"),
    (None, "the directory has no config.json"),
])
def test_a_broken_model_directory_says_what_is_wrong(tmp_path: Path, content: str | None,
                                                     says: str) -> None:
    from engine.backends.hf import HFModel
    from engine.errors import ModelLoadError

    if content is not None:
        (tmp_path / "config.json").write_text(content)
    with pytest.raises(ModelLoadError) as err:
        HFModel(str(tmp_path))
    assert says in str(err.value)
    assert "not a local directory" not in str(err.value)
