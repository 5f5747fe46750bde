"""Steer by hand in real Chromium: on the Search page, write a step under the root, pin its
value, prune its subtree and restore it; the graph and the inspector show each action."""

from __future__ import annotations

import re

import pytest
from browser_support import Watch
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from app.bench.browser_driver import graph_frame, pose_problem, wait_graph

pytestmark = pytest.mark.browser

MY_STEP = "Step: 6-5=1 (left: 1 4 10)"


def wait_status(page: Page, pattern: str, timeout_s: float = 240) -> None:
    page.get_by_text(re.compile(pattern)).first.wait_for(timeout=timeout_s * 1000)


def label_of(page: Page, node_id: int) -> str:
    return str(graph_frame(page).evaluate("(id) => nodes.get(id).label", node_id))


def wait_label(page: Page, node_id: int, present: str, absent: str | None = None) -> str:
    """Wait until node ``node_id``'s label shows ``present`` (and not ``absent``)."""
    for _ in range(600):
        try:
            label = label_of(page, node_id)
        except PlaywrightError:  # the graph's iframe is being replaced: look again
            label = ""
        if present in label and (absent is None or absent not in label):
            return label
        page.wait_for_timeout(100)
    raise AssertionError(f"node {node_id}'s label never showed {present!r}: {label!r}")


def test_write_a_step_pin_prune_and_restore(watched: tuple[Page, Watch]) -> None:
    page, watch = watched
    pose_problem(page, "4 5 6 10")
    wait_status(page, r"after 0 iterations · next phase: select · 1 nodes")
    for done in (1, 2):
        page.get_by_role("button", name="Next iteration", exact=True).click()
        wait_status(page, rf"after {done} iteration")
    nodes = int(wait_graph(page, iterations=2)["nodeCount"])

    # The root is the selected node: write a step under it.
    page.get_by_text("Steer by hand at #0").wait_for()
    box = page.get_by_label("Your step", exact=True)
    box.fill(MY_STEP)
    box.press("Enter")
    page.get_by_role("button", name="Add my step", exact=True).click()
    mine = nodes
    wait_graph(page, nodes=nodes + 1)
    assert "(by hand)" in wait_label(page, mine, "(by hand)")
    page.get_by_text(f"Node #{mine}", exact=False).first.wait_for()
    page.get_by_text(f"Steer by hand at #{mine}").wait_for()
    tooltip = graph_frame(page).evaluate("(id) => nodes.get(id).title", mine)
    assert MY_STEP in tooltip and "step written by hand" in tooltip
    page.get_by_text("Your step", exact=False).first.wait_for()
    page.get_by_text("What just happened", exact=True).click()
    page.get_by_text(f"Your step #{mine} under #0", exact=False).wait_for()
    page.get_by_text("Inspector", exact=True).click()

    # Pin its value: the label and the inspector say so.
    pin = page.get_by_label("Value to pin", exact=True)
    pin.fill("0.85")
    pin.press("Enter")
    page.get_by_role("button", name="Pin value", exact=True).click()
    wait_label(page, mine, "pinned 0.85")
    page.get_by_text(f"Pinned at 0.850: selection's Q for #{mine}.").wait_for()
    # The breakdown's pinned column (a data frame's cells are drawn on a canvas: the text
    # is in the page, not visible as text).
    page.get_by_text("0.850 (its Q)").first.wait_for(state="attached")

    # Prune its subtree: marked on the graph, excluded in the breakdown.
    page.get_by_role("button", name="Prune subtree", exact=True).click()
    wait_label(page, mine, "(pruned)")
    page.get_by_text(f"#{mine} and its subtree are pruned", exact=False).wait_for()
    page.get_by_text("pruned by hand").first.wait_for(state="attached")
    assert graph_frame(page).evaluate("(id) => nodes.get(id).color.background", mine) \
        == "#f2f2f2"

    # Restore it: the mark goes, the pin stays.
    page.get_by_role("button", name="Restore", exact=True).click()
    label = wait_label(page, mine, "pinned 0.85", absent="(pruned)")
    assert "(by hand)" in label
    # The run goes on from the steered tree; the legend names the new marks.
    page.get_by_role("button", name="Next iteration", exact=True).click()
    wait_status(page, r"after 3 iterations")
    legend = graph_frame(page).evaluate("() => document.body.innerText")
    assert "step written by hand" in legend and "pinned by hand" in legend
    assert "pruned subtree" in legend
    watch.check()
