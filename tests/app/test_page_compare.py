"""The Compare page in AppTest, on the real demo model and real SQLite files: its numbers
are `mctslab eval`'s, its runs are saved, and its diff matches a run and its fork by the
texts from the root."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from apptest_support import captions, click, open_app_page
from streamlit.testing.v1 import AppTest

from app.cli import main as cli_main
from app.runs.live import LiveRun
from app.web import state
from engine.backends.hf import HFModel
from engine.core.config import make_config
from engine.core.tree import Tree
from storage import open_store

COMPARE = "page_scripts/compare.py"
FOUR = ["greedy", "best-of-n", "beam", "mcts"]


def run_four(at: AppTest) -> AppTest:
    assert at.text_input(key=state.COMPARE_PROBLEM.name).value == "4 5 6 10"
    assert at.number_input(key=state.COMPARE_BUDGET.name).value == 800
    assert at.number_input(key=state.COMPARE_SEED.name).value == 0
    assert at.multiselect(key=state.COMPARE_STRATEGIES.name).value == [
        "greedy", "best-of-n", "beam", "mcts", "mctsr"]
    at.multiselect(key=state.COMPARE_STRATEGIES.name).set_value(FOUR).run()
    return click(at, "Run strategies")


def test_compare_numbers_are_mctslab_evals(db_path: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    puzzles = tmp_path / "puzzle.txt"
    puzzles.write_text("4 5 6 10\n", encoding="utf-8")
    eval_db = tmp_path / "eval.db"
    assert cli_main(["eval", "--puzzles", str(puzzles), "--token-budget", "800",
                     "--seed", "0", "--strategies", ",".join(FOUR), "--json",
                     "--save-runs", "--db", str(eval_db)]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = {r["strategy"]: r for r in report["rows"]}

    at = run_four(open_app_page(COMPARE))
    table = at.table[0].value
    assert list(table.index) == FOUR
    for name in FOUR:
        row, want = table.loc[name], expected[name]
        assert row["solved"] == ("yes" if want["solved"] else "no"), name
        assert (int(row["tokens generated"]), int(row["tokens forwarded"]),
                int(row["iterations"])) == (want["tokens_generated"],
                                            want["tokens_forwarded"], want["iterations"]), name
        assert row["signals"] == want["signals"], name
        if want["solved"]:
            assert row["answer"] == want["answer"], name
        elif want["answer"] is None:
            assert row["answer"] == "no answer yet", name
        else:  # labelled as the CLI labels a candidate: "(wrong: ...)" or "(unverified)"
            assert row["answer"].startswith(f"{want['answer']} ("), name
    # Saved like eval's runs: the same config, events and verdict, one run per strategy.
    app_store, eval_store = open_store(str(db_path)), open_store(str(eval_db))
    app_ids = {r.title: r.id for r in app_store.list_runs()}
    assert sorted(app_ids) == sorted(f"eval {n}: 4 5 6 10" for n in FOUR)
    assert [f"#{app_ids[f'eval {n}: 4 5 6 10']}" for n in FOUR] == list(table["run"])
    for name in FOUR:
        ours, theirs = app_store.get_run(app_ids[f"eval {name}: 4 5 6 10"]), \
            eval_store.get_run(expected[name]["run_id"])
        assert ours.config == theirs.config and ours.status == "finished"
        assert (ours.best_answer, ours.solved, ours.iterations_done) == \
            (theirs.best_answer, theirs.solved, theirs.iterations_done)
        assert app_store.load_events(ours.id) == eval_store.load_events(theirs.id)
    assert any(c.startswith("Saved as runs #") for c in captions(at))
    # The status says the strategies ran (the small trees are checked in Chromium).
    assert at.status[0].label == "Ran 4 strategies"
    for store in (app_store, eval_store):
        store.engine.dispose()


def test_open_a_compared_run_in_replay(db_path: Path) -> None:
    at = open_app_page(COMPARE)
    at.multiselect(key=state.COMPARE_STRATEGIES.name).set_value(["greedy"]).run()
    click(at, "Run strategies")
    assert list(at.table[0].value.index) == ["greedy"]
    click(at, "Open in Replay")
    assert at.title[0].value == "Replay"
    assert at.selectbox(key=state.REPLAY_RUN.name).value == 1


def test_no_strategy_chosen_disables_the_button(db_path: Path) -> None:
    at = open_app_page(COMPARE)
    at.multiselect(key=state.COMPARE_STRATEGIES.name).set_value([]).run()
    assert [b.disabled for b in at.button if b.label == "Run strategies"] == [True]
    assert "A diff needs two saved runs" in at.info[0].value


def test_a_bad_problem_is_one_line_and_saves_nothing(db_path: Path) -> None:
    at = open_app_page(COMPARE)
    at.text_input(key=state.COMPARE_PROBLEM.name).set_value("1 2 three").run()
    click(at, "Run strategies")
    assert at.error and "Game-of-24" in at.error[0].value
    assert not at.table
    assert open_store(str(db_path)).list_runs() == []


@pytest.fixture
def fork_db(stored_run_db: tuple[Path, int], db_path: Path) -> tuple[int, int]:
    """The stored run (2 iterations, seed 3) and a fork of it at iteration 1 with seed 9,
    continued for 2 iterations by the live search; (parent, fork)."""
    from apptest_support import copy_db

    copy_db(stored_run_db[0], db_path)
    store = open_store(str(db_path))
    parent = stored_run_db[1]
    fork = store.fork_run(parent, 1, make_config(**{**store.get_run(parent).config.model_dump(),
                                                    "seed": 9}))
    live = LiveRun.resume(store, HFModel(), fork)
    for _ in range(2):
        live.step_iteration(store)
    store.engine.dispose()
    return parent, fork


def texts_from_root(tree: Tree, node_id: int) -> tuple[str, ...]:
    return tuple(tree.nodes[i].text for i in tree.path_to(node_id))


def test_diff_of_a_run_and_its_fork(fork_db: tuple[int, int], db_path: Path) -> None:
    parent, fork = fork_db
    store = open_store(str(db_path))
    tree_a, tree_b = store.tree_at(parent), store.tree_at(fork)
    at_fork = store.tree_at(parent, iteration=1)
    at = open_app_page(COMPARE)
    # The latest two by default: the run as A, its fork as B.
    assert at.selectbox(key=state.COMPARE_RUN_A.name).value == parent
    assert at.selectbox(key=state.COMPARE_RUN_B.name).value == fork
    assert f"Run #{fork} is a fork of run #{parent} at iteration 1." in captions(at)
    table = at.dataframe[0].value
    assert len(table) == len({texts_from_root(tree_a, n.id) for n in tree_a.nodes}
                             | {texts_from_root(tree_b, n.id) for n in tree_b.nodes})
    metrics = {m.label: int(m.value) for m in at.metric}
    assert metrics["Nodes shared"] + metrics["Nodes only in A"] == len(tree_a.nodes)
    assert metrics["Nodes shared"] + metrics["Nodes only in B"] == len(tree_b.nodes)
    assert metrics["Nodes shared"] == int((table["in"] == "shared").sum())
    # What both had at the fork is shared; each side's N and Q are its own tree's.
    assert metrics["Nodes shared"] >= len(at_fork.nodes)
    for _, row in table.iterrows():
        if not pd.isna(row["A #"]):
            node = tree_a.nodes[int(row["A #"])]
            assert (int(row["A N"]), row["A Q"]) == (node.visits, f"{node.q:.3f}")
        if not pd.isna(row["B #"]):
            node = tree_b.nodes[int(row["B #"])]
            assert (int(row["B N"]), row["B Q"]) == (node.visits, f"{node.q:.3f}")
        if row["in"] == "shared":
            assert texts_from_root(tree_a, int(row["A #"])) == \
                texts_from_root(tree_b, int(row["B #"]))
    for node in at_fork.nodes:
        row = table[table["A #"] == node.id].iloc[0]
        assert row["in"] == "shared"
    # Only one side at a time.
    at.radio(key=state.COMPARE_SHOW.name).set_value("only B").run()
    shown = at.dataframe[0].value
    assert set(shown["in"]) <= {"only B"} and len(shown) == metrics["Nodes only in B"]
    # Swapping A and B swaps the sides.
    at.selectbox(key=state.COMPARE_RUN_A.name).set_value(fork).run()
    at.selectbox(key=state.COMPARE_RUN_B.name).set_value(parent).run()
    swapped = {m.label: int(m.value) for m in at.metric}
    assert swapped["Nodes only in A"] == metrics["Nodes only in B"]
    assert swapped["Nodes only in B"] == metrics["Nodes only in A"]
    store.engine.dispose()


def test_settings_outlive_a_visit_to_another_page(db_path: Path) -> None:
    at = open_app_page(COMPARE)
    at.number_input(key=state.COMPARE_BUDGET.name).set_value(300).run()
    at.switch_page("page_scripts/runs.py").run()
    at.switch_page(COMPARE).run()
    assert not at.exception
    assert at.number_input(key=state.COMPARE_BUDGET.name).value == 300
