"""What a newcomer meets in the first minute, in real Chromium (issue 15): the Search page
shows at once, its first screen starts a run, the mouse wheel scrolls the page, tooltips do
not outlive a rerun, the What-if ghost path is drawn and labelled, and no character draws as
an empty box."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from browser_support import Watch, node_point
from playwright.sync_api import Page, expect

from app.bench.browser_driver import AppServer, graph_frame, wait_graph
from app.web.graph import GHOST_COLOUR
from app.web.markup import FONT_SAFE

pytestmark = pytest.mark.browser

FIRST_PAINT_TARGET_S = 2.0
START = re.compile(r"Start a run on 4 5 6 10$")
MAIN_SCROLL = "() => document.querySelector('[data-testid=\"stMain\"]').scrollTop"
"""Streamlit scrolls its main area, not the window (``window.scrollY`` stays 0)."""
BOTH_BUTTONS_SHOWN = """() => {
    const shown = (text) => [...document.querySelectorAll('button')].some(b =>
        b.innerText.trim().endsWith(text) && b.getClientRects().length > 0);
    return shown('Start a run on 4 5 6 10') && shown('New run') ? performance.now() : null;
}"""
"""The page's clock (ms since its navigation started) at the first frame with both the first
screen's button and New run drawn; polled at every animation frame."""
TOOLTIP_SHOWN = "() => { const t = document.querySelector('div.vis-tooltip');" \
    " return t !== null && t.style.visibility === 'visible' ? t.textContent : null; }"


def start_run(page: Page, iterations: int = 0) -> dict[str, Any]:
    """The first screen's button, then ``iterations`` clicks on Next iteration."""
    page.get_by_role("button", name=START).click()
    page.get_by_text(re.compile(r"after 0 iterations · next phase: select")).first.wait_for()
    for done in range(1, iterations + 1):
        page.get_by_role("button", name="Next iteration", exact=True).click()
        page.get_by_text(re.compile(rf"· after {done} iterations? · next phase: select"))\
            .first.wait_for()
    return wait_graph(page, phase="backprop" if iterations else None)


def test_the_search_page_shows_its_controls_on_a_first_visit(
        browser: Any, tmp_path: Path) -> None:
    """A server of its own, up (its health check answered) but never visited: the first
    browser session's page.goto until the first screen's button and New run are visible."""
    with AppServer(tmp_path / "runs.db") as server:
        context = browser.new_context(viewport={"width": 1500, "height": 1100})
        page = context.new_page()
        watch = Watch()
        page.on("request", lambda r: watch.requests.append(r.url))
        page.on("console", lambda m: watch.console_errors.append(m.text)
                if m.type == "error" else None)
        page.goto(server.url, wait_until="commit", timeout=120_000)
        # Timed by the page's own clock, from the navigation's start to the first animation
        # frame that shows both buttons (a crowded machine still gets its number printed).
        shown_ms = page.wait_for_function(BOTH_BUTTONS_SHOWN, polling="raf", timeout=120_000)
        seconds = shown_ms.json_value() / 1000
        expect(page.get_by_role("button", name=START)).to_be_visible()
        expect(page.get_by_role("button", name="New run")).to_be_visible()
        print(f"\nfirst paint of the Search page's controls: {seconds:.2f} s "
              f"(target {FIRST_PAINT_TARGET_S:g} s)")
        assert all(re.match(r"http://localhost:\d+/", u) for u in watch.requests), \
            watch.requests
        assert watch.console_errors == []
        context.close()
    # A measurement, printed against its target (docs/app.md), not a pass/fail condition.


def test_the_first_screen_starts_a_run_ready_to_step(watched: tuple[Page, Watch]) -> None:
    page, watch = watched
    start = page.get_by_role("button", name=START)
    assert start.get_attribute("data-testid") == "stBaseButton-primary"
    start_run(page)
    assert wait_graph(page, nodes=1)["phase"] == ""
    expect(start).to_have_count(0)
    page.get_by_role("button", name="Next phase", exact=True).click()
    page.get_by_text(re.compile(r"iteration 1 · after select · next phase: expand")).wait_for()
    watch.check()


def test_the_wheel_over_the_graph_scrolls_the_page(watched: tuple[Page, Watch]) -> None:
    page, watch = watched
    start_run(page, iterations=3)
    x, y = node_point(page, 0)
    page.mouse.move(x, y + 120)
    frame = graph_frame(page)
    scale, top = frame.evaluate("() => network.getScale()"), page.evaluate(MAIN_SCROLL)
    page.mouse.wheel(0, 400)
    deadline = time.monotonic() + 10
    while page.evaluate(MAIN_SCROLL) == top and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert page.evaluate(MAIN_SCROLL) > top  # the page scrolled ...
    assert frame.evaluate("() => network.getScale()") == scale  # ... the graph did not zoom
    # The graph zooms with its own + and - buttons.
    frame.locator("div.vis-button.vis-zoomIn").click(delay=200)
    assert frame.evaluate("() => network.getScale()") > scale
    watch.check()


def test_a_tooltip_does_not_outlive_a_rerun(watched: tuple[Page, Watch]) -> None:
    page, watch = watched
    start_run(page, iterations=1)
    frame = graph_frame(page)
    x, y = node_point(page, 0)
    page.mouse.move(x - 2, y)
    page.mouse.move(x, y)
    frame.wait_for_function(TOOLTIP_SHOWN)
    assert frame.evaluate(TOOLTIP_SHOWN).startswith("#0 root")
    # A rerun with the pointer still on the node (Next phase pressed from the keyboard):
    # the redrawn graph shows no tooltip quoting the tree before it.
    next_phase = page.get_by_role("button", name="Next phase", exact=True)
    next_phase.focus()
    page.keyboard.press("Enter")
    wait_graph(page, phase="select")
    assert frame.evaluate(TOOLTIP_SHOWN) is None
    # Leaving the graph hides a tooltip too (the redrawn page may have moved the node).
    x, y = node_point(page, 0)
    page.mouse.move(x + 2, y)
    page.mouse.move(x, y)
    frame.wait_for_function(TOOLTIP_SHOWN)
    box = next_phase.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 5, box["y"] + 5, steps=5)
    frame.wait_for_function(f"() => ({TOOLTIP_SHOWN})() === null")
    watch.check()


def test_the_what_if_ghost_path_is_drawn_and_labelled(watched: tuple[Page, Watch]) -> None:
    page, watch = watched
    # Widening off, so that the next selection walks below the root.
    page.get_by_text("Search settings", exact=True).click()
    widening = page.get_by_label("Progressive widening", exact=True)
    widening.fill("0")
    widening.press("Enter")
    expect(widening).to_have_value("0.00")
    start_run(page, iterations=4)
    frame = graph_frame(page)
    assert frame.evaluate("() => JSON.parse(document.body.dataset.whatIf)") == []
    page.get_by_text("What if…", exact=True).click()
    c = page.get_by_label("c (what if)", exact=True)
    c.fill("0")
    c.press("Enter")
    shown = page.get_by_text(re.compile(r"^Projection only: with c = 0 \(UCT\), the next "
                                        r"selection would walk "))
    shown.wait_for()
    walk = re.search(r"would walk ((?:#\d+(?: → )?)+);", shown.inner_text())
    assert walk is not None, shown.inner_text()
    path = [int(n) for n in re.findall(r"#(\d+)", walk.group(1))]
    assert len(path) >= 2 and path[0] == 0
    deadline = time.monotonic() + 30
    while frame.evaluate("() => JSON.parse(document.body.dataset.whatIf)") != path:
        assert time.monotonic() < deadline, "the graph never drew the projection"
        page.wait_for_timeout(50)
    ghosts = frame.evaluate("() => edges.get().filter((e) => String(e.id)"
                            ".startsWith('what-if-')).map((e) => [e.from, e.to, e.color, "
                            "Boolean(e.dashes), e.title])")
    label = "what-if path (projection, c=0, UCT)"
    assert ghosts == [[u, v, GHOST_COLOUR, True, label] for u, v in zip(path, path[1:],
                                                                         strict=False)]
    # Beside the real edges (one per node below the root), not instead of them.
    nodes = frame.evaluate("() => nodes.length")
    assert frame.evaluate("() => edges.length") == nodes - 1 + len(path) - 1
    legend = frame.locator("#what-if-legend")
    expect(legend).to_be_visible()
    expect(legend).to_have_text(label)
    # The other rule: the legend names it.
    page.get_by_text("PUCT", exact=True).click()
    page.get_by_text(re.compile(r"^Projection only: with c = 0 \(PUCT\)")).wait_for()
    expect(legend).to_have_text("what-if path (projection, c=0, PUCT)")
    # Back to the run's own c and rule: the ghost and its legend go. Each change reruns the
    # page: wait until the rule's rerun is drawn before typing c, or that rerun can redraw
    # the box over what was typed (CI saw c stay at 0).
    page.get_by_text("UCT", exact=True).click()
    page.get_by_text(re.compile(r"^Projection only: with c = 0 \(UCT\)")).wait_for()
    expect(legend).to_have_text(label)
    c.fill("1")
    c.press("Enter")
    expect(c).to_have_value("1.000")
    page.get_by_text(re.compile(r"^The run's own settings: c = 1 \(UCT\)")).wait_for()
    expect(legend).to_be_hidden()
    assert frame.evaluate("() => edges.length") == nodes - 1
    watch.check()


def font_families(char: str) -> set[str]:
    listed = subprocess.run(["fc-list", f":charset={ord(char):x}", "family"],
                            capture_output=True, text=True, check=True).stdout
    return {line.split(",")[0] for line in listed.splitlines()}


def test_the_pages_draw_only_characters_debians_fonts_have(
        watched: tuple[Page, Watch]) -> None:
    """The characters the app may draw are in both fonts Chromium falls back to here, and
    the pages, as rendered, draw no other (Material icons are ligatures: ASCII names)."""
    missing = {c: font_families(c) for c in FONT_SAFE
               if not {"Liberation Sans", "DejaVu Sans"} <= font_families(c)}
    assert missing == {}, missing
    page, watch = watched
    start_run(page, iterations=3)
    seen: dict[str, str] = {}

    def look(where: str) -> None:
        page.wait_for_timeout(300)
        for char in page.locator("body").inner_text():
            if ord(char) > 127:
                seen.setdefault(char, where)

    for panel in ("Inspector", "What just happened", "Charts"):
        page.get_by_text(panel, exact=True).click()
        look(f"Search, {panel}")
    page.get_by_role("link", name="Runs").click()
    page.get_by_role("button", name="Open in Replay").click()
    page.get_by_text(re.compile(r"event \d+ of \d+")).first.wait_for()
    look("Replay")
    page.get_by_role("link", name="Learn").click()
    page.get_by_role("heading", name="The four phases").wait_for()
    look("Learn")
    assert {c: w for c, w in seen.items() if c not in FONT_SAFE} == {}, json.dumps(seen)
    watch.check()
