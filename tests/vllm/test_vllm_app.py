"""The app with a model server: the model box offers the bundled model and the servers that
stored runs used, and a run is made through the real vLLM server, stored and shown."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
from apptest_support import APP_SCRIPT, TIMEOUT_S, captions, click  # noqa: E402

from app.web import state  # noqa: E402
from storage import open_store  # noqa: E402


def test_vllm_run_in_the_app_and_the_model_box_offers_the_server(
        vllm_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "runs.db"
    monkeypatch.setenv("MCTSLAB_DB", str(db))
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=TIMEOUT_S)
    at.run()
    assert not at.exception
    box = at.sidebar.selectbox(key=state.MODEL_PICK.name)
    assert box.options[0] == "demo" and not any(o.startswith("http") for o in box.options)
    at.sidebar.text_input(key=state.MODEL_NAME.name).set_value(vllm_url).run()
    at.sidebar.text_area(key=state.PROBLEM.name).set_value("4 5 6 10")
    click(at, "New run")
    assert not at.error, [e.value for e in at.error]
    click(at, "Next iteration")
    click(at, "Next iteration")
    status = next(c for c in captions(at) if c.startswith("Run #"))
    assert "after 2 iterations" in status
    (run,) = open_store(str(db)).list_runs()
    assert run.model_name == f"{vllm_url}?model=demo" and run.iterations_done == 2
    # A new session of the app offers the server the stored run used.
    again = AppTest.from_file(str(APP_SCRIPT), default_timeout=TIMEOUT_S)
    again.run()
    box = again.sidebar.selectbox(key=state.MODEL_PICK.name)
    assert f"{vllm_url}?model=demo" in box.options
    box.set_value(f"{vllm_url}?model=demo").run()
    assert again.sidebar.text_input(key=state.MODEL_NAME.name).value == \
        f"{vllm_url}?model=demo"
