"""The benchmark tables in the docs, generated from one saved run of each benchmark.

Every cost or speed figure the docs quote lives in one JSON file under ``docs/bench/`` (the
benchmark's own output, with the command, date and machine that gave it). The tables in
README.md, docs/app.md and docs/RESULTS.md are written from those files between markers::

    <!-- bench-table:NAME -->
    ... generated ...
    <!-- /bench-table:NAME -->

so a number can only change by measuring again, and it changes everywhere at once::

    .venv/bin/python -m app.bench.doc_tables measure   # run both benchmarks (minutes), save JSON
    .venv/bin/python -m app.bench.doc_tables measure app   # only the browser one
    .venv/bin/python -m app.bench.doc_tables render    # rewrite the tables from the JSON
    .venv/bin/python -m app.bench.doc_tables check     # exit 1 if a table differs from its JSON
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / "docs" / "bench"
DOCS = (ROOT / "README.md", ROOT / "docs" / "app.md", ROOT / "docs" / "RESULTS.md")
COST_COMMAND = ".venv/bin/mctslab bench --json"
APP_COMMAND = ".venv/bin/python -m app.bench.graph_cost"
_BLOCK = re.compile(r"(<!-- bench-table:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)"
                    r"(<!-- /bench-table:(?P=name) -->)", re.S)


def load(name: str) -> dict[str, Any]:
    """``docs/bench/NAME.json``: ``{"command", "date", "report"}``."""
    saved: dict[str, Any] = json.loads((BENCH_DIR / f"{name}.json").read_text("utf-8"))
    return saved


def _source(saved: dict[str, Any]) -> str:
    return f"`{saved['command']}`, {saved['date']}, {saved['machine']}"


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def cost_table(cost: dict[str, Any]) -> str:
    """The engine and storage figures of ``mctslab bench``, each beside its baseline."""
    r = cost["report"]
    t, depth, storage = r["tokens"], r["iteration_time_by_depth_ms"], r["storage"]
    graph = r["graph_html_ms"]
    rows = [
        ("redundancy: tokens forwarded / unique, "
         f"{r['mcts_iterations']}-iteration MCTS on `4 5 6 10`, KV reuse on",
         f"**{r['redundancy_reuse']}** ({t['reuse']['forwarded']:,} / {t['reuse']['unique']:,})",
         f"reuse off: **{r['redundancy_no_reuse']}** ({t['no_reuse']['forwarded']:,} / "
         f"{t['no_reuse']['unique']:,})", "<= 1.10 on, >= 2.0 off",
         f"{_yes(r['met']['redundancy_reuse'])} / {_yes(r['met']['redundancy_no_reuse'])}"),
        ("iteration time at depth 10 / depth 1, reuse on",
         f"**{r['iteration_time_depth10_over_depth1']}** ({depth['reuse']['1']} -> "
         f"{depth['reuse']['10']} ms)",
         f"reuse off: {r['iteration_time_depth10_over_depth1_no_reuse']} "
         f"({depth['no_reuse']['1']} -> {depth['no_reuse']['10']} ms)", "<= 1.5",
         _yes(r["met"]["iteration_time_depth10_over_depth1"])),
        ("MCTS tokens per second / plain `generate` on the same calls",
         f"**{r['mcts_tokens_per_s_over_generate']}** ({r['mcts_tokens_per_s']:.0f} / "
         f"{r['generate_tokens_per_s']:.0f} tok/s)",
         f"`generate`, {r['generate_calls']} calls", ">= 0.8",
         _yes(r["met"]["mcts_tokens_per_s_over_generate"])),
        ("storage: append one iteration's events, median",
         f"{storage['append_iteration_ms_median']} ms", "", "<= 5 ms",
         _yes(storage["append_iteration_ms_median"] <= 5)),
        (f"storage: replay a {storage['iterations']:,}-iteration run to its last iteration",
         f"{storage['replay_last_iteration_s']} s", "", "<= 1 s",
         _yes(storage["replay_last_iteration_s"] <= 1)),
        ("graph HTML build, " + " / ".join(f"{int(n):,}" for n in graph) + " nodes",
         " / ".join(f"{ms:.0f}" for ms in graph.values()) + " ms", "", "2,000 in <= 300 ms",
         _yes(graph.get("2000", 0) <= 300)),
    ]
    return _table(("figure", "measured", "baseline (same run)", "target", "met"), rows,
                  f"Measured by {_source(cost)}; {r['device']}; {r['wall_s']} s in all.")


def app_table(app: dict[str, Any], cost: dict[str, Any]) -> str:
    """The app's figures in Chromium (``app.bench.graph_cost``); the graph build time is
    ``mctslab bench``'s (one source for it)."""
    r = app["report"]
    trip, batch = r["next_iteration"], r["run_40_iterations"]
    graph = cost["report"]["graph_html_ms"]
    ratio = batch["app_over_cli_search"]
    rows = [
        ("graph HTML build, 2,000 nodes (`mctslab bench`)", f"{graph['2000']:.0f} ms",
         "<= 300 ms", _yes(graph["2000"] <= 300)),
        ("paint a 2,000-node graph, headless Chromium", f"{r['paint_2000_s']} s", "<= 3 s",
         _yes(r["paint_2000_s"] <= 3)),
        ("one *Next iteration*, click to redrawn graph, demo model",
         f"{trip['round_trip_s']} s (the engine alone: {trip['engine_s']} s)", "<= 1 s",
         _yes(trip["round_trip_s"] <= 1)),
        (f"*Run {batch['iterations']} iterations* on `4 5 6 10`, click to done, against "
         "`mctslab search` with the same settings",
         f"{batch['app_s']} s = **{ratio}x** the CLI's search ({batch['cli_search_s']} s; "
         f"its whole process, model loading included: {batch['cli_process_s']} s); "
         f"medians of {batch['repeats']}, app {batch['app_s_each']} s, CLI search "
         f"{batch['cli_search_s_each']} s",
         "<= 1.5x", _yes(ratio <= 1.5)),
    ]
    return _table(("figure", "measured", "target", "met"), rows,
                  f"Measured by {_source(app)}.")


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], source: str) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n\n" + source + "\n"


TABLES: dict[str, Callable[[], str]] = {
    "cost": lambda: cost_table(load("cost")),
    "app": lambda: app_table(load("app"), load("cost")),
}


def rendered(text: str) -> str:
    """``text`` with every bench-table block rewritten from the saved JSON."""
    def block(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in TABLES:
            raise KeyError(f"unknown bench table {name!r}; known: {', '.join(TABLES)}")
        return match.group(1) + TABLES[name]() + match.group(4)

    return _BLOCK.sub(block, text)


def blocks(text: str) -> list[str]:
    """The names of the bench-table blocks in ``text``."""
    return [m.group("name") for m in _BLOCK.finditer(text)]


def _machine() -> str:
    cores = len(os.sched_getaffinity(0))
    return f"{cores}-core {sys.platform} machine"


def measure(names: Sequence[str] = ("cost", "app")) -> None:
    """Run ``mctslab bench`` (``cost``) and the browser benchmark (``app``), or those of them
    named; save each with its command."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    commands = {"cost": COST_COMMAND, "app": APP_COMMAND}
    for name in names:
        command = commands[name]
        print(f"measuring {name}: {command}", file=sys.stderr)
        done = subprocess.run(command.split(), cwd=ROOT, capture_output=True, text=True,
                              check=True)
        saved = {"command": command,
                 "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                 "machine": _machine(), "report": json.loads(done.stdout)}
        (BENCH_DIR / f"{name}.json").write_text(json.dumps(saved, indent=2) + "\n", "utf-8")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    names = args[1:] if args[:1] == ["measure"] else []
    if args not in (["measure"], ["render"], ["check"]) and (
            not names or any(n not in ("cost", "app") for n in names)):
        print("usage: python -m app.bench.doc_tables measure [cost] [app] | render | check",
              file=sys.stderr)
        return 2
    if args[:1] == ["measure"]:
        measure(names or ("cost", "app"))
    stale = []
    for doc in DOCS:
        text = doc.read_text("utf-8")
        new = rendered(text)
        if new != text:
            stale.append(doc.relative_to(ROOT).as_posix())
            if args != ["check"]:
                doc.write_text(new, "utf-8")
    if args == ["check"] and stale:
        print(f"tables differ from docs/bench/*.json in: {', '.join(stale)}; run "
              "`python -m app.bench.doc_tables render`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
