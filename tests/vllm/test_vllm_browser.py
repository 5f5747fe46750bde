"""In real Chromium: the app drives a run through the real vLLM server (the model box given
the server's URL), the graph grows, and the stored run names the server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.bench.browser_driver import AppServer, pose_problem, wait_graph
from storage import open_store


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppServer, Path]]:
    db = tmp_path_factory.mktemp("vllm-browser") / "runs.db"
    with AppServer(db) as running:
        yield running, db


def test_vllm_run_in_chromium(vllm_url: str, app_server: tuple[AppServer, Path],
                              browser: Any) -> None:
    server, db = app_server
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(120_000)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(server.url)
    page.get_by_role("button", name="New run").wait_for()
    model = page.get_by_label("Model", exact=True)
    model.fill(vllm_url)
    model.press("Enter")
    pose_problem(page, "4 5 6 10")
    page.get_by_text(re.compile(r"after 0 iterations · next phase: select")).first.wait_for()
    for k in (1, 2, 3):
        page.get_by_role("button", name="Next iteration", exact=True).click()
        state = wait_graph(page, iterations=k)
    assert state["phase"] == "backprop" and len(state["path"]) >= 2
    (run,) = open_store(str(db)).list_runs()
    assert run.model_name == f"{vllm_url}?model=demo" and run.iterations_done == 3
    assert errors == []
    context.close()
