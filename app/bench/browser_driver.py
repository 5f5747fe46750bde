"""Driving the app in a real browser: start ``mctslab app`` on a free port, pose a problem,
wait for the graph. Used by the browser tests and by ``app.bench.graph_cost``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from playwright.sync_api import Error as PlaywrightError

ROOT = Path(__file__).resolve().parents[2]
GRAPH_FRAME = 'iframe[title="app.web.graph_component.mcts_graph"]'
STARTUP_SECONDS = 180.0  # generous: the machine may be crowded


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


class AppServer:
    """``mctslab app --db DB --server.port N`` as a subprocess, for a ``with`` block."""

    def __init__(self, db: Path, port: int | None = None) -> None:
        self.db = db
        self.port = port or free_port()
        self.url = f"http://localhost:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = db.with_suffix(".log")

    def __enter__(self) -> AppServer:
        mctslab = Path(sys.executable).parent / "mctslab"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(mctslab), "app", "--db", str(self.db), "--server.port", str(self.port)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        self.__exit__(None, None, None)
        raise RuntimeError(f"the app did not start in {STARTUP_SECONDS:.0f} s: "
                           f"{self.log.read_text()[-2000:]}")

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def graph_frame(page: Any) -> Any:
    """The Playwright frame of the graph component."""
    handle = page.locator(GRAPH_FRAME).first.element_handle(timeout=60_000)
    return handle.content_frame()


def graph_state(page: Any) -> dict[str, Any]:
    """What the graph page reports about itself (node count, highlight roles, selection)."""
    frame = graph_frame(page)
    if frame is None:  # the iframe is detached (being replaced): nothing drawn yet
        return {}
    raw = frame.evaluate("() => Object.assign({}, document.body.dataset)")
    state: dict[str, Any] = dict(raw)
    for key in ("path", "newChildren", "changed"):
        if key in state:
            state[key] = json.loads(state[key])
    return state


def pose_problem(page: Any, problem: str, *, task: str | None = None) -> None:
    """Type ``problem`` in the sidebar and press New run (waits for the model to load)."""
    if task is not None:
        page.get_by_label("Task", exact=True).click()
        page.get_by_role("option", name=task, exact=True).click()
    box = page.get_by_label("Problem", exact=True)
    box.fill(problem)
    box.press("Control+Enter")
    page.get_by_role("button", name="New run").click()


def wait_graph(page: Any, *, iterations: int | None = None, nodes: int | None = None,
               phase: str | None = None, timeout_s: float = 180.0) -> dict[str, Any]:
    """Wait until the app says it is at ``iterations`` and the graph has ``nodes`` nodes."""
    deadline = time.monotonic() + timeout_s
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        done = f"· after {iterations} iteration{'' if iterations == 1 else 's'} ·"
        if iterations is not None and not page.get_by_text(done).count():
            time.sleep(0.05)
            continue
        try:
            state = graph_state(page)
        except PlaywrightError:  # the iframe is being replaced: look again
            time.sleep(0.05)
            continue
        # The status line can be ahead of the graph: its iframe may still show the moment
        # before. The graph says which moment it draws.
        if iterations is not None and state.get("iterations") != str(iterations):
            time.sleep(0.05)
            continue
        if phase is not None and state.get("phase") != phase:
            time.sleep(0.05)
            continue
        if nodes is None or state.get("nodeCount") == str(nodes):
            # An iframe being replaced reports nothing yet: wait for a drawn graph.
            if state.get("nodeCount") is not None and state.get("drawn") == state["nodeCount"]:
                return state
        time.sleep(0.05)
    raise TimeoutError(f"graph not at iterations={iterations} nodes={nodes}: {state}")
