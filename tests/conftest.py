"""Shared fixtures: the real bundled demo model, loaded once per test session.

And one check on the whole run: tests write only to temporary places. The checkout's
``git status`` (with the content of every changed file) is the same after the session as
before it, or the session fails and names the files a test wrote.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = pytest.StashKey[dict[str, str] | None]()


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    """Debian's Chromium through Playwright, one for the whole session (Playwright's sync
    API runs one instance per process: the browser tests and the vLLM one share it)."""
    from playwright.sync_api import sync_playwright

    from app.bench.graph_cost import launch_chromium

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def demo_model():  # type: ignore[no-untyped-def]
    from engine.backends.hf import HFModel

    return HFModel()


def checkout_state(root: Path = ROOT) -> dict[str, str] | None:
    """Every path ``git status`` lists (untracked files included), with its status and a
    hash of its content; None outside a git checkout."""
    if not (root / ".git").exists():
        return None
    listed = subprocess.run(
        ["git", "status", "--porcelain=v1", "-z", "--untracked-files=all"],
        cwd=root, capture_output=True, check=True).stdout.decode()
    state = {}
    for entry in filter(None, listed.split("\0")):
        code, path = entry[:2], entry[3:]
        target = root / path
        digest = (hashlib.sha256(target.read_bytes()).hexdigest() if target.is_file()
                  else "-")
        state[path] = f"{code} {digest}"
    return state


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[CHECKOUT] = checkout_state()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(CHECKOUT, None)
    if before is None:
        return
    after = checkout_state() or {}
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    if changed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = ("tests wrote into the checkout (they must write only to temporary "
                   f"places): {', '.join(changed)}")
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
