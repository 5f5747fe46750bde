"""End to end in real Chromium: pose a puzzle, step, click, run, replay, export, import;
nothing leaves localhost, nothing logs an error, no injected text ever runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from browser_support import Watch, node_point
from playwright.sync_api import Page, expect

from app.bench.browser_driver import GRAPH_FRAME, graph_frame, pose_problem, wait_graph
from app.bench.screenshot import save_search_page

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="window.parent.__xss=1;alert(1)"> <script>window.__xss=2</script>'


def wait_status(page: Page, pattern: str, timeout_s: float = 240) -> None:
    page.get_by_text(re.compile(pattern)).first.wait_for(timeout=timeout_s * 1000)


def click_button(page: Page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()


def click_node(page: Page, node_id: int) -> None:
    """Click node ``node_id`` on the graph's canvas, where vis-network drew it."""
    page.mouse.click(*node_point(page, node_id))


def tooltip_of(page: Page, node_id: int) -> Any:
    return graph_frame(page).evaluate("(id) => nodes.get(id).title", node_id)


def test_pose_step_click_run_and_replay(watched: tuple[Page, Watch], tmp_path: Path) -> None:
    page, watch = watched
    pose_problem(page, "4 5 6 10")
    wait_status(page, r"after 0 iterations · next phase: select · 1 nodes")
    state = wait_graph(page, nodes=1)
    assert state["phase"] == ""

    # The four phases, one click each, each highlighted as it happens.
    click_button(page, "Next phase")
    wait_status(page, r"iteration 1 · after select · next phase: expand")
    state = wait_graph(page, nodes=1, phase="select")
    assert state["path"] == [0]
    click_button(page, "Next phase")
    wait_status(page, r"iteration 1 · after expand · next phase: simulate")
    state = wait_graph(page, phase="expand")
    children = state["newChildren"]
    assert children
    state = wait_graph(page, nodes=1 + len(children))
    # The rollout starts from the first new child the step check kept (else the root).
    live = [c for c in children if "\ndead step" not in tooltip_of(page, c)]
    rolled = live[0] if live else 0
    click_button(page, "Next phase")
    wait_status(page, r"iteration 1 · after simulate · next phase: backprop")
    state = wait_graph(page, nodes=1 + len(children), phase="simulate")
    assert state["rolledOut"] == str(rolled)
    click_button(page, "Next phase")
    wait_status(page, r"after 1 iteration · next phase: select")
    state = wait_graph(page, nodes=1 + len(children), phase="backprop")
    assert state["changed"] == sorted({0, rolled})
    assert "N 0→1" in graph_frame(page).evaluate(f"() => nodes.get({rolled}).label")
    # A whole iteration after the labels changed (the select box keeps its choice).
    click_button(page, "Next iteration")
    wait_status(page, r"after 2 iterations · next phase: select")
    assert wait_graph(page)["phase"] == "backprop"

    # Clicking a node selects it: the inspector follows.
    click_node(page, children[-1])
    page.get_by_text(f"Node #{children[-1]}", exact=False).first.wait_for()
    assert wait_graph(page)["selected"] == str(children[-1])
    page.get_by_text("UCT now (N_parent = 2)").first.wait_for()
    assert f"#{children[-1]} step" in tooltip_of(page, children[-1])

    # Ten iterations with the progress bar.
    page.get_by_label("N", exact=True).fill("10")
    page.get_by_label("N", exact=True).press("Enter")
    click_button(page, "Run 10 iterations")
    wait_status(page, r"after 12 iterations · next phase: select")
    state = wait_graph(page)
    nodes = int(state["nodeCount"])
    assert nodes > 1 + len(children) and state["phase"] == "backprop"
    assert f"· {nodes} nodes ·" in page.get_by_text(re.compile(r"^Run #")).first.inner_text()
    page.get_by_text("Charts", exact=True).click()
    page.get_by_text("Root Q over iterations").wait_for()
    page.get_by_text("What just happened", exact=True).click()
    page.get_by_text("4 · Backpropagation").wait_for()
    # The README's picture is made the same way by `python -m app.bench.screenshot`; a test
    # run writes only to its temporary folder.
    picture = tmp_path / "search.png"
    save_search_page(page, picture)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Runs, then Replay of the same run.
    page.get_by_role("link", name="Runs").click()
    page.get_by_role("button", name="Open in Replay").click()
    page.get_by_text(re.compile(r"event \d+ of \d+")).first.wait_for()
    assert wait_graph(page, nodes=nodes)["nodeCount"] == str(nodes)
    # Material icons (shipped with Streamlit) come first in the buttons' accessible names.
    page.get_by_role("button", name=re.compile(r"Start$")).click()
    page.get_by_text(re.compile(r"^start: the empty tree")).wait_for()
    wait_graph(page, nodes=1)
    page.get_by_role("button", name=re.compile(r"Next phase$")).click()
    page.get_by_text("iteration 1 · after 1 · Selection", exact=False).wait_for()
    page.get_by_role("button", name=re.compile(r"Next phase$")).click()
    page.get_by_text("iteration 1 · after 2 · Expansion", exact=False).wait_for()
    assert wait_graph(page, nodes=1 + len(children))["newChildren"] == children
    page.get_by_role("button", name=re.compile(r"Play$")).click()
    page.get_by_text("iteration 1 · after 4 · Backpropagation", exact=False).wait_for(
        timeout=30_000)
    page.get_by_role("button", name=re.compile(r"Pause$")).click()
    watch.check()


def test_a_game24_problem_with_markup_is_a_clear_error_and_runs_nothing(
        watched: tuple[Page, Watch]) -> None:
    page, watch = watched
    pose_problem(page, XSS)
    page.get_by_text("This is not a valid Game-of-24 puzzle").wait_for()
    page.wait_for_timeout(1000)
    assert page.evaluate("() => window.__xss") is None
    assert not [u for u in watch.requests if u.rstrip("/").endswith("/x")]
    # The app keeps working after the error.
    pose_problem(page, "1 2 3 4")
    wait_status(page, r"after 0 iterations · next phase: select · 1 nodes")
    watch.check()


def test_a_freeform_problem_with_markup_is_shown_as_text(watched: tuple[Page, Watch]) -> None:
    page, watch = watched
    pose_problem(page, XSS, task="freeform")
    wait_status(page, r"after 0 iterations · next phase: select · 1 nodes")
    wait_graph(page, nodes=1)
    page.get_by_text(f"#0 {XSS}").first.wait_for()  # the inspector's path, as text
    assert XSS in tooltip_of(page, 0)
    page.wait_for_timeout(1000)
    assert page.evaluate("() => window.__xss") is None
    assert graph_frame(page).evaluate("() => window.__xss") is None
    assert not [u for u in watch.requests if u.rstrip("/").endswith("/x")]
    watch.check()


def test_export_then_import_a_run(watched: tuple[Page, Watch], tmp_path: Path) -> None:
    page, watch = watched
    pose_problem(page, "2 3 4 5")
    wait_status(page, r"after 0 iterations · next phase: select")
    # A long run, stopped after its first draw: what finished is kept and saved.
    page.get_by_label("N", exact=True).fill("500")
    page.get_by_label("N", exact=True).press("Enter")
    click_button(page, "Run 500 iterations")
    stop = page.get_by_role("button", name=re.compile(r"Stop$"))
    expect(stop).to_be_enabled(timeout=120_000)  # the batch is running
    page.wait_for_timeout(1000)
    stop.click()
    expect(stop).to_be_disabled(timeout=180_000)  # the batch is over
    stopped_at = page.get_by_text(re.compile(r"^Stopped at \d+/500 iterations"))
    stopped_at.wait_for()
    shown = int(re.search(r"at (\d+)/", stopped_at.inner_text()).group(1))  # type: ignore[union-attr]
    status = page.get_by_text(re.compile(r"^Run #\d+ · after \d+ iterations? · next phase: select"))
    status.first.wait_for()
    page.get_by_text(re.compile(r" / 500 iterations$")).wait_for(state="detached")
    page.get_by_role("link", name="Runs").click()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export JSON").click()
    exported = tmp_path / "run.json"
    download_info.value.save_as(exported)
    document = json.loads(exported.read_text())
    assert "2 3 4 5" in json.dumps(document)
    done = document["run"]["iterations_done"]
    assert 1 <= done < 500  # stopped part-way, and what finished was saved
    assert done == shown  # the message counts what was saved
    # The live page shows exactly what was saved (it may take a rerun to paint).
    page.get_by_role("link", name="Search").click()
    expect(status.first).to_contain_text(f"after {done} iteration")
    page.get_by_role("link", name="Runs").click()
    page.locator("input[type='file']").set_input_files(str(exported))
    click_button(page, "Import")
    message = page.get_by_text(re.compile(r"Imported as run #\d+\."))
    message.wait_for()
    new_id = re.search(r"#(\d+)", message.inner_text()).group(1)  # type: ignore[union-attr]
    page.get_by_label("Run", exact=True).click()
    page.get_by_role("option", name=re.compile(rf"^#{new_id} · .*2 3 4 5 · {done} iterations"))\
        .wait_for()
    watch.check()


def test_a_page_opened_by_its_url_keeps_the_apps_navigation(
        watched: tuple[Page, Watch], server: Any) -> None:
    page, watch = watched
    page.goto(f"{server.url}/learn")
    page.get_by_role("heading", name="The four phases").wait_for()
    for name in ("Search", "Runs", "Replay", "Compare", "Learn"):
        page.get_by_role("link", name=name, exact=True).wait_for()
    assert page.get_by_role("link", name="streamlit app").count() == 0
    frames = page.locator(GRAPH_FRAME)
    frames.nth(8).wait_for()
    assert frames.count() == 9  # MCTS's four phases and reflection, MCTSr's four phases
    # Opened below the root, Streamlit's page first probes its server one level down
    # (/learn/_stcore/...), gets 404 and retries at the root: those two, and nothing else.
    probes = [f"404 {server.url}/learn/_stcore/health",
              f"404 {server.url}/learn/_stcore/host-config"]
    assert sorted(watch.failed_responses) == probes
    assert watch.console_errors == ["Failed to load resource: the server responded with a "
                                    "status of 404 (Not Found)"] * 2
    watch.console_errors.clear()
    watch.failed_responses.clear()
    watch.check()


REWARD_ARITHMETIC = re.compile(r"self-rewards ([\d., ]+): (Q = \(min \+ mean\) / 2 = "
                               r"\(([\d.]+) \+ ([\d.]+)\) / 2 = ([\d.]+))")


def test_an_mctsr_run_shows_refine_edges_and_reward_arithmetic(
        watched: tuple[Page, Watch]) -> None:
    page, watch = watched
    page.get_by_label("Algorithm", exact=True).click()
    page.get_by_role("option", name="mctsr", exact=True).click()
    # MCTSr's own settings are shown now, eps with the digits that show it.
    expect(page.get_by_label("MCTSr ε", exact=True)).to_have_value("0.0010", timeout=120_000)
    pose_problem(page, "4 5 6 10")
    wait_status(page, r"after 0 iterations · next phase: select · 1 nodes")
    page.get_by_text("What just happened", exact=True).click()
    page.get_by_text("Nothing has run yet").wait_for()

    # Iteration 1, phase by phase: the root becomes the first answer and the dummy.
    click_button(page, "Next phase")
    wait_status(page, r"iteration 1 · after select · next phase: expand")
    page.get_by_text("the tree is only the problem", exact=False).wait_for()
    click_button(page, "Next phase")
    wait_status(page, r"iteration 1 · after expand · next phase: simulate")
    assert wait_graph(page, nodes=3, phase="expand")["newChildren"] == [1, 2]
    assert graph_frame(page).evaluate("() => nodes.get(2).shape") == "hexagon"
    click_button(page, "Next phase")
    wait_status(page, r"iteration 1 · after simulate · next phase: backprop")
    assert wait_graph(page, nodes=3, phase="simulate")["rolledOut"] == "1"
    page.get_by_text("3 · Simulation (self-reward)").wait_for()
    # The samples, as the tooltip of #1 lists them, and the arithmetic written from them.
    match = REWARD_ARITHMETIC.search(tooltip_of(page, 1))
    assert match is not None, tooltip_of(page, 1)
    samples = [float(x) for x in match.group(1).split(", ")]
    low, avg = min(samples), sum(samples) / len(samples)
    assert (match.group(3), match.group(4), match.group(5)) == \
        (f"{low:.3f}", f"{avg:.3f}", f"{(low + avg) / 2:.3f}")
    page.get_by_text(match.group(2), exact=False).first.wait_for()
    click_button(page, "Next phase")
    wait_status(page, r"after 1 iteration · next phase: select")
    wait_graph(page, nodes=3, phase="backprop")
    page.get_by_text("Q = max child Q = max(#1", exact=False).wait_for()
    assert graph_frame(page).evaluate(
        "() => edges.get().filter((e) => e.label === 'refine').length") == 0

    # Iteration 2 refines the best candidate: a refine edge into the new answer.
    click_button(page, "Next iteration")
    wait_status(page, r"after 2 iterations · next phase: select")
    wait_graph(page, nodes=4, phase="backprop")
    refine = graph_frame(page).evaluate(
        "() => edges.get().filter((e) => e.label === 'refine')"
        ".map((e) => [e.from, e.to, e.dashes])")
    assert len(refine) == 1 and refine[0][1] == 3 and refine[0][2], refine
    page.get_by_text("(Q + max child Q) / 2 = (", exact=False).first.wait_for()

    # The rewrite in the inspector: its critique and its reward arithmetic.
    page.get_by_text("Inspector", exact=True).click()
    click_node(page, 3)
    page.get_by_text("Node #3", exact=False).first.wait_for()
    page.get_by_text(f"Critique (of #{refine[0][0]}'s answer)").wait_for()
    match = REWARD_ARITHMETIC.search(tooltip_of(page, 3))
    assert match is not None, tooltip_of(page, 3)
    page.get_by_text(match.group(2), exact=False).first.wait_for()
    page.get_by_text("Q (MCTSr backed-up)").first.wait_for()
    watch.check()
