"""Browser fixtures: the real app (``mctslab app``) on a free port, Debian's Chromium, and a
page that fails the test on any request beyond localhost, console error or dialog."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from browser_support import LOCAL_HOSTS, LOCAL_SCHEMES, Watch
from playwright.sync_api import Page

from app.bench.browser_driver import AppServer


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    db = tmp_path_factory.mktemp("browser") / "runs.db"
    with AppServer(db) as running:
        yield running


@pytest.fixture
def watched(browser: Any, server: AppServer) -> Iterator[tuple[Page, Watch]]:
    """A fresh page (a new app session) on the app, watched."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100},
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(120_000)
    watch = Watch()

    def on_request(request: Any) -> None:
        url = urlparse(request.url)
        watch.requests.append(request.url)
        if url.scheme not in LOCAL_SCHEMES and url.hostname not in LOCAL_HOSTS:
            watch.foreign_requests.append(request.url)

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("request", on_request)
    page.on("response", lambda r: watch.failed_responses.append(f"{r.status} {r.url}")
            if r.status >= 400 else None)
    page.on("console", lambda m: watch.console_errors.append(m.text)
            if m.type == "error" else None)
    page.on("pageerror", lambda err: watch.console_errors.append(str(err)))
    page.on("dialog", on_dialog)
    page.goto(server.url)
    page.get_by_role("button", name="New run").wait_for()
    yield page, watch
    context.close()

