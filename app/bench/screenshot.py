"""The README's picture of the Search page, made on purpose (never by a test run)::

    .venv/bin/python -m app.bench.screenshot docs/screenshot.png

Starts the app on a free port with a temporary database, poses ``4 5 6 10``, runs twelve
iterations with the default settings, selects the root and saves a 1500x1100 screenshot
with no tooltip open (the mouse is parked off the graph and the graph has settled).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from app.bench.browser_driver import AppServer, pose_problem, wait_graph
from app.bench.graph_cost import launch_chromium

VIEWPORT = {"width": 1500, "height": 1100}


def save_search_page(page: Any, path: Path) -> None:
    """Screenshot the page as it is, once no tooltip is open and the graph is drawn."""
    page.get_by_text("Inspector", exact=True).click()
    page.get_by_role("heading", name="Search").first.scroll_into_view_if_needed()
    page.mouse.move(5, 5)  # off the graph: its tooltip closes
    wait_graph(page)
    page.wait_for_timeout(500)
    page.screenshot(path=str(path))


def make_screenshot(path: Path, iterations: int = 12) -> None:
    """Run the app, grow a tree of ``iterations`` iterations, screenshot it to ``path``."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, \
            AppServer(Path(folder) / "screenshot.db") as server, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(120_000)
        page.goto(server.url)
        pose_problem(page, "4 5 6 10")
        wait_graph(page, iterations=0, nodes=1)
        box = page.get_by_label("N", exact=True)
        box.fill(str(iterations))
        box.press("Enter")
        page.get_by_role("button", name=f"Run {iterations} iterations").click()
        wait_graph(page, iterations=iterations, timeout_s=600)
        save_search_page(page, path)
        browser.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m app.bench.screenshot OUT.png", file=sys.stderr)
        return 2
    out = Path(args[0])
    if not out.parent.is_dir():
        print(f"screenshot: no folder {out.parent}", file=sys.stderr)
        return 2
    make_screenshot(out)
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
