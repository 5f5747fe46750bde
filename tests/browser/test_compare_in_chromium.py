"""The Compare page in real Chromium: the four strategies on 4 5 6 10 at 800 tokens, from
the click to the table, its time printed (the issue's target: under 30 s on this CPU), each
tree drawn small."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from browser_support import Watch
from playwright.sync_api import Page, expect

from app.bench.browser_driver import GRAPH_FRAME

pytestmark = pytest.mark.browser

FOUR = ["greedy", "best-of-n", "beam", "mcts"]
TARGET_S = 30.0


def drawn_graphs(page: Page) -> int:
    """How many graph frames report a finished drawing."""
    count = 0
    for i in range(page.locator(GRAPH_FRAME).count()):
        handle = page.locator(GRAPH_FRAME).nth(i).element_handle()
        frame = handle.content_frame() if handle is not None else None
        data = frame.evaluate("() => Object.assign({}, document.body.dataset)") if frame else {}
        if data.get("nodeCount") is not None and data.get("drawn") == data["nodeCount"]:
            count += 1
    return count


def test_compare_runs_four_strategies_and_reports_its_time(
        watched: tuple[Page, Watch], capsys: pytest.CaptureFixture[str],
        record_property: Callable[[str, object], None]) -> None:
    page, watch = watched
    page.get_by_role("link", name="Compare", exact=True).click()
    run = page.get_by_role("button", name="Run strategies")
    run.wait_for()
    expect(page.get_by_label("Problem", exact=True)).to_have_value("4 5 6 10")
    expect(page.get_by_label("Token budget", exact=True)).to_have_value("800")
    expect(page.get_by_label("Seed", exact=True)).to_have_value("0")
    page.get_by_role("button", name="Remove mctsr").click()
    page.get_by_role("button", name="Remove mctsr").wait_for(state="detached")

    started = time.monotonic()
    run.click()
    rows = page.get_by_test_id("stTable").locator("tbody tr")
    expect(rows).to_have_count(len(FOUR), timeout=120_000)
    table_s = time.monotonic() - started
    page.get_by_text("Ran 4 strategies").wait_for()
    deadline = time.monotonic() + 60
    while drawn_graphs(page) < len(FOUR) and time.monotonic() < deadline:
        time.sleep(0.1)
    drawn_s = time.monotonic() - started
    assert drawn_graphs(page) == len(FOUR)
    small = page.locator(GRAPH_FRAME).first.element_handle()
    assert small is not None and small.content_frame() is not None
    assert small.content_frame().evaluate(  # type: ignore[union-attr]
        "() => document.getElementById('legend').style.display") == "none"

    with capsys.disabled():
        print(f"\nCompare, 4 strategies on 4 5 6 10 at 800 tokens in Chromium: table after "
              f"{table_s:.2f} s, every tree drawn after {drawn_s:.2f} s (target {TARGET_S:g} s)")
    record_property("compare_table_s", round(table_s, 2))
    record_property("compare_drawn_s", round(drawn_s, 2))
    cells = [rows.nth(i).locator("th, td").all_inner_texts() for i in range(len(FOUR))]
    assert [c[0] for c in cells] == FOUR
    assert all(re.fullmatch(r"#\d+", c[-1]) for c in cells), cells
    # The time is a measurement, printed (its target is in docs/app.md), not a pass/fail
    # condition: timed tests only fail on a busy machine.
    watch.check()
