"""Searches through a real vLLM server: a 40-iteration Game-of-24 search keeps every tree
invariant, is stored, and replays equal to live; a server error mid-run keeps every finished
iteration, and the run resumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.cli.search import run_iterations
from app.runs.resume import resume_search
from engine.backends.openai_server import ServerError, ServerModel
from engine.core.config import make_config
from engine.core.tree import check_invariants, fold
from engine.strategies.search import Search
from storage import open_store


def _new_run(store: Any, model: ServerModel, search: Search) -> int:
    return int(store.create_run(problem=search.tree.problem, config=search.config,
                                model_name=model.name, model_fingerprint=model.fingerprint,
                                title="vllm"))


def test_vllm_search_40_iterations_invariants_stored_and_replayed(
        vllm_model: ServerModel, tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "runs.db"))
    search = Search(vllm_model, make_config(seed=4, reflection="on"), "4 5 6 10")
    run_id = _new_run(store, vllm_model, search)
    for _ in range(40):
        if search.exhausted:
            break
        for _event in search.step_iteration():
            assert check_invariants(search.tree) == []
        store.append_events(run_id, search.events[-4:],
                            iterations_done=search.tree.iterations_done)
    assert search.tree.iterations_done == 40
    assert len(search.tree.nodes) > 20
    tokens = search.tree.tokens
    assert tokens.generated > 0 and tokens.forwarded > 0 and tokens.unique > 0
    assert store.get_run(run_id).model_name == vllm_model.name
    replayed = store.tree_at(run_id)
    assert replayed == search.tree
    assert fold(search.tree.problem, store.load_events(run_id)) == search.tree
    for iteration in (1, 10, 25):
        assert check_invariants(store.tree_at(run_id, iteration)) == []


def test_vllm_server_error_keeps_finished_iterations_and_resumes(
        vllm_model: ServerModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(str(tmp_path / "runs.db"))
    search = Search(vllm_model, make_config(seed=9), "1 2 4 7")
    run_id = _new_run(store, vllm_model, search)
    calls = {"n": 0}
    real = ServerModel.completions

    def failing(self: ServerModel, body: dict[str, Any]) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] > 12:
            raise ServerError(f"The model server at {self.base_url} refused /v1/completions "
                              "(HTTP 500): simulated")
        return real(self, body)

    monkeypatch.setattr(ServerModel, "completions", failing)
    with pytest.raises(ServerError, match="HTTP 500"):
        run_iterations(store, run_id, search, 10)
    info = store.get_run(run_id)
    done = info.iterations_done
    assert info.status == "failed" and 0 < done < 10
    assert store.tree_at(run_id).iterations_done == done
    monkeypatch.setattr(ServerModel, "completions", real)

    resumed = resume_search(store, run_id, vllm_model)
    assert resumed.tree.iterations_done == done
    run_iterations(store, run_id, resumed, 10 - done)
    final = store.tree_at(run_id)
    assert final.iterations_done == 10 and check_invariants(final) == []
    assert store.get_run(run_id).status == "finished"
