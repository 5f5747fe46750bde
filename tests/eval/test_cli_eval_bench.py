"""``mctslab eval`` and ``mctslab bench --quick`` on the real demo model: output shapes."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from app.cli import main
from engine.core.tree import best_answer, fold
from engine.strategies.runner import STRATEGIES


def test_eval_json_rows_csv_and_saved_runs(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    puzzles = tmp_path / "puzzles.txt"
    puzzles.write_text("# three puzzles\n4 5 6 10\n1 2 4 7\n3 3 8 8\n", encoding="utf-8")
    out = tmp_path / "rows.csv"
    db = tmp_path / "eval.db"
    code = main(["eval", "--puzzles", str(puzzles), "--token-budget", "150", "--limit", "2",
                 "--offset", "1", "--json", "--out", str(out), "--save-runs", "--db", str(db),
                 "--selection", "puct"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["token_budget"] == 150 and report["puzzles"] == 2
    assert report["selection"] == "puct"
    assert list(report["strategies"]) == list(STRATEGIES)
    for summary in report["strategies"].values():
        assert set(summary) >= {"solve_rate", "tokens_generated_mean", "tokens_forwarded_mean",
                                "wall_s"}
        assert 0.0 <= summary["solve_rate"] <= 1.0 and summary["puzzles"] == 2
    rows = report["rows"]
    assert [(r["index"], r["strategy"]) for r in rows] == [
        (i, s) for i in (1, 2) for s in STRATEGIES]
    assert {r["problem"] for r in rows} == {"1 2 4 7", "3 3 8 8"}
    # Each row names the signals it used: the defaults' step check and self-evaluation
    # for the searches that choose between states; Best-of-N only gets the step check.
    signals = report["strategies"]
    assert signals["mcts"]["signals"] == ("reward combined, step check, self-eval values, "
                                          "leaf mixed (lambda 0.5)")
    assert signals["best-of-n"]["signals"] == "reward combined, step check"
    assert all(r["tokens_judged"] == 0 for r in rows if r["strategy"] == "best-of-n")
    assert any(r["tokens_judged"] > 0 for r in rows if r["strategy"] == "mcts")
    mcts = [r for r in rows if r["strategy"] == "mcts"]
    assert report["strategies"]["mcts"]["tokens_generated_mean"] == pytest.approx(
        sum(r["tokens_generated"] for r in mcts) / 2, abs=0.05)
    with out.open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)
    # Every search was saved, and its stored events fold into a tree with its verdict.
    from storage import open_store

    store = open_store(str(db))
    for row in rows:
        events = store.load_events(row["run_id"])
        tree = fold(row["problem"], events)
        answer, verdict = best_answer(tree)
        assert answer == row["answer"] and (verdict is True) == row["solved"]
        if row["strategy"] == "mcts":
            assert store.get_run(row["run_id"]).config.selection == "puct"
        if row["strategy"] == "beam":
            assert len(events) == row["iterations"]
        else:
            assert tree.iterations_done == row["iterations"]
    store.engine.dispose()


def test_eval_rejects_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--puzzles", str(tmp_path / "none.txt"), "--token-budget", "10"]) == 2
    assert "Cannot read --puzzles" in capsys.readouterr().err
    puzzles = tmp_path / "p.txt"
    puzzles.write_text("4 5 6 10\n", encoding="utf-8")
    assert main(["eval", "--puzzles", str(puzzles), "--token-budget", "10",
                 "--strategies", "greedy,astar"]) == 2
    assert "unknown strategy 'astar'" in capsys.readouterr().err


def test_bench_refuses_zero_threads(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--threads", "0"]) == 2
    assert capsys.readouterr().err.strip() == "mctslab: error: --threads must be at least 1."


def test_bench_quick_json_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("device", "redundancy_reuse", "redundancy_no_reuse",
                "iteration_time_depth10_over_depth1", "mcts_tokens_per_s_over_generate"):
        assert key in report
    assert report["device"].startswith(("cpu", "cuda", "mps"))
    # By default the demo model runs on one thread and the 124 M model on every core.
    assert "torch threads 1" in report["device"]
    assert report["big_model"]["threads"] == (os.cpu_count() or 1)
    # Reuse never forwards more than recomputing every prefix does.
    assert report["redundancy_reuse"] < report["redundancy_no_reuse"]
    tokens = report["tokens"]
    assert tokens["reuse"]["unique"] == tokens["no_reuse"]["unique"] > 0
    assert report["storage"]["append_iteration_ms_median"] > 0
    assert set(report["graph_html_ms"]) == {"500"} or set(report["graph_html_ms"]) == {500}
    assert set(report["met"]) == set(report["targets"])
    # KV stored once: the cache holds each of the tree's tokens once, on both models.
    assert 0.9 <= report["kv_held_over_tree_kv"] <= 1.0
    assert 0.9 <= report["kv_held_over_tree_kv_124m"] <= 1.0
    for workload in ("long_prompt", "game24"):
        big = report["big_model"][workload]
        assert 0.9 <= big["kv_held_over_tree_kv"] <= 1.0
        assert big["tokens"]["reuse"]["forwarded"] < big["tokens"]["no_reuse"]["forwarded"]
        assert big["tokens"]["reuse"]["generated"] == big["tokens"]["no_reuse"]["generated"]
        assert big["redundancy_no_reuse"] > big["redundancy_reuse"]
    assert report["redundancy_no_reuse_124m"] == \
        report["big_model"]["long_prompt"]["redundancy_no_reuse"]
    # Parallel MCTS: both workloads ran B = 1 and B = 8 rounds (the speedup itself is a
    # benchmark figure, not asserted here).
    for workload in ("long-prompt", "game24"):
        parallel = report["big_model"]["parallel"][workload]
        assert set(parallel["tokens_per_s"]) == {"1", "8"}
        assert sum(parallel["round_sizes_b8"]) == parallel["iterations"]
        assert max(parallel["round_sizes_b8"]) > 1
    assert report["parallel_speedup_124m"] == \
        report["big_model"]["parallel"]["long-prompt"]["speedup"] > 0
