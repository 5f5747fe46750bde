"""The vLLM tests' fixtures: one real vLLM server (CPU build, bundled demo model) for the
whole session, and the backend on it. Every test here has ``vllm`` in its name, so that
``pytest -k vllm`` runs just them.

``MCTSLAB_TEST_VLLM_URL`` (a developer's own server, started as ``vllm_server.VllmServer``
starts one) is used instead of starting a server, to iterate faster; never set in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from vllm_server import VllmServer

from engine.backends.openai_server import ServerModel


@pytest.fixture(scope="session")
def vllm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("MCTSLAB_TEST_VLLM_URL")
    if given:
        yield given
        return
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    with VllmServer(log) as server:
        yield server.url


@pytest.fixture(scope="session")
def vllm_model(vllm_url: str) -> ServerModel:
    return ServerModel(vllm_url)
