"""Benchmarks of the graph: building the HTML, painting it in Chromium, one live step.

``bench_graph(sizes)`` is pure Python (``mctslab bench`` imports it). ``bench_paint`` and
``bench_round_trip`` drive headless Chromium with Playwright. Run all three with::

    .venv/bin/python -m app.bench.graph_cost            # prints one JSON object
    .venv/bin/python -m app.bench.graph_cost --batch    # only Run 40 iterations vs the CLI

Targets: 2,000 nodes built in <= 300 ms, painted in <= 3 s; one "next iteration" on the
demo model, click to redrawn graph, in <= 1 s (the engine's own time for that iteration is
reported next to it: the app's overhead is the difference); *Run 40 iterations* within 1.5
times the wall time of ``mctslab search`` with the same settings (``bench_batch``).
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.web.graph import Highlight, graph_html
from engine.core.events import Backpropagated, NodeKind, TokenCounts
from engine.core.selection import tree_scores
from engine.core.tree import Node, Tree

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking"]


def synthetic_tree(size: int, *, seed: int = 0, branching: int = 4) -> Tree:
    """A tree of ``size`` nodes shaped like a search's (visits concentrated on a few paths),
    built without a model, with consistent visits and value sums."""
    rng = random.Random(seed)
    tree = Tree.new("4 5 6 10")
    frontier = [0]
    while len(tree.nodes) < size:
        parent = tree.nodes[rng.choice(frontier[-50:])]
        for _ in range(min(branching, size - len(tree.nodes))):
            kind: NodeKind = "reflection" if rng.random() < 0.05 else "step"
            node = Node(id=len(tree.nodes), parent=parent.id, depth=parent.depth + 1, kind=kind,
                        text=f"Step: {rng.randint(1, 13)}+{rng.randint(1, 13)}",
                        prior=-rng.random() * 5)
            tree.nodes.append(node)
            parent.children.append(node.id)
            frontier.append(node.id)
    for leaf in (n for n in tree.nodes if not n.children):
        value = rng.random()
        for node_id in tree.path_to(leaf.id):
            tree.nodes[node_id].visits += 1
            tree.nodes[node_id].value_sum += value
        tree.iterations_done += 1
    return tree


def bench_graph(sizes: tuple[int, ...] = (500, 2000, 5000), repeats: int = 3) -> dict[int, float]:
    """Median milliseconds to build the graph HTML (scores, layout, graph, page) per size."""
    results: dict[int, float] = {}
    for size in sizes:
        tree = synthetic_tree(size)
        leaf = max(tree.nodes, key=lambda n: n.depth)
        event = Backpropagated(tree.iterations_done - 1, tuple(tree.path_to(leaf.id)), 0.5,
                               TokenCounts())
        from app.web.graph import highlight_for

        highlight = highlight_for(tree, event)
        graph_html(tree, tree_scores(tree, "uct", 1.0), Highlight())  # warm the template
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            graph_html(tree, tree_scores(tree, "uct", 1.0), highlight)
            times.append((time.perf_counter() - start) * 1000)
        results[size] = round(statistics.median(times), 1)
    return results


def launch_chromium(playwright: Any) -> Any:
    """Headless Debian Chromium with the flags the tests use."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def bench_paint(size: int = 2000) -> float:
    """Seconds from navigation start until vis-network has drawn a ``size``-node graph."""
    from playwright.sync_api import sync_playwright

    tree = synthetic_tree(size)
    html = graph_html(tree, tree_scores(tree, "uct", 1.0), Highlight())
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as p:
        page_file = Path(folder) / "graph.html"
        page_file.write_text(html, encoding="utf-8")
        browser = launch_chromium(p)
        page = browser.new_page()
        page.goto(page_file.as_uri())
        page.wait_for_function("window.mctsDrawnAt !== undefined", timeout=30_000)
        drawn_ms = page.evaluate("window.mctsDrawnAt")
        browser.close()
    return round(float(drawn_ms) / 1000, 3)


def bench_round_trip(port: int | None = None, iterations: int = 4) -> dict[str, float]:
    """One "Next iteration" in the browser on the demo model: seconds from the click until
    the graph shows the new iteration (median over iterations 2..``iterations``), next to
    the engine's own time for the same iterations (same puzzle, settings and seed), so the
    app's overhead is their difference. Starts the app on a free port with a temporary DB."""
    from playwright.sync_api import sync_playwright

    from app.bench.browser_driver import AppServer, pose_problem, wait_graph

    with tempfile.TemporaryDirectory() as folder, AppServer(Path(folder) / "bench.db",
                                                            port) as server:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page()
            page.goto(server.url)
            pose_problem(page, "4 5 6 10")
            times = []
            for done in range(1, iterations + 1):
                start = time.perf_counter()
                page.get_by_role("button", name="Next iteration").click()
                wait_graph(page, iterations=done)
                times.append(time.perf_counter() - start)
            browser.close()
    engine = engine_iteration_times(iterations)
    return {"round_trip_s": round(statistics.median(times[1:]), 3),
            "engine_s": round(statistics.median(engine[1:]), 3)}


def bench_batch(iterations: int = 40, problem: str = "4 5 6 10", repeats: int = 3,
                port: int | None = None) -> dict[str, Any]:
    """*Run N iterations* in the browser against ``mctslab search`` with the same puzzle,
    settings and seed (the defaults, seed 0), interleaved ``repeats`` times in one call:
    seconds from the click until the status line says the batch is done, next to the CLI's
    wall time (its whole process, and the search alone, which excludes loading the model).
    The ratio reported is the median app time over the median CLI search time. Every run
    must end with the CLI's tree size: the same search, only drawn differently."""
    import subprocess

    from playwright.sync_api import sync_playwright

    from app.bench.browser_driver import AppServer, pose_problem, wait_graph

    mctslab = str(Path(sys.executable).parent / "mctslab")
    app_s: list[float] = []
    cli_s: list[float] = []
    process_s: list[float] = []
    nodes: set[int] = set()
    with tempfile.TemporaryDirectory() as folder, \
            AppServer(Path(folder) / "app.db", port) as server, sync_playwright() as p:
        browser = launch_chromium(p)
        for repeat in range(repeats):
            start = time.perf_counter()
            done = subprocess.run(
                [mctslab, "search", problem, "--iterations", str(iterations),
                 "--db", str(Path(folder) / f"cli{repeat}.db"), "--json"],
                capture_output=True, text=True, check=True)
            process_s.append(time.perf_counter() - start)
            cli = json.loads(done.stdout)
            cli_s.append(float(cli["wall_s"]))
            nodes.add(len(cli["nodes"]))
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(server.url)
            pose_problem(page, problem)
            wait_graph(page, iterations=0, nodes=1)
            box = page.get_by_label("N", exact=True)
            box.fill(str(iterations))
            box.press("Enter")
            button = page.get_by_role("button", name=f"Run {iterations} iterations")
            button.wait_for()
            page.wait_for_timeout(1000)  # the rerun that typing N caused has settled
            start = time.perf_counter()
            button.click()
            # Done: the status line says so and the graph shows the CLI's tree, painted.
            state = wait_graph(page, iterations=iterations, nodes=len(cli["nodes"]),
                               timeout_s=600)
            app_s.append(time.perf_counter() - start)
            nodes.add(int(state["nodeCount"]))
            page.close()
        browser.close()
    if len(nodes) != 1:
        raise RuntimeError(f"the app's and the CLI's trees differ in size ({sorted(nodes)}): "
                           "not the same search")
    app_median, cli_median = statistics.median(app_s), statistics.median(cli_s)
    return {"iterations": iterations, "nodes": nodes.pop(), "repeats": repeats,
            "app_s": round(app_median, 2), "cli_search_s": round(cli_median, 2),
            "cli_process_s": round(statistics.median(process_s), 2),
            "app_over_cli_search": round(app_median / cli_median, 2),
            "app_s_each": [round(x, 2) for x in app_s],
            "cli_search_s_each": [round(x, 2) for x in cli_s]}


def engine_iteration_times(iterations: int) -> list[float]:
    """Seconds of ``Search.step_iteration`` alone, for the round trip's first iterations."""
    from engine.backends.hf import HFModel
    from engine.core.config import SearchConfig
    from engine.strategies.search import Search

    search = Search(HFModel(), SearchConfig(), "4 5 6 10")
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        search.step_iteration()
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--batch"]:
        print(json.dumps({"run_40_iterations": bench_batch()}, indent=2))
        return 0
    report = {
        "graph_html_ms": bench_graph(),
        "paint_2000_s": bench_paint(2000),
        "next_iteration": bench_round_trip(),
        "run_40_iterations": bench_batch(),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
