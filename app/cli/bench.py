"""``mctslab bench``: the cost benchmark, every figure beside its own baseline, in one run.

The engine's figures come from ``app.bench.engine_cost``; storage's and the graph's from their own
benchmark functions. They are assembled here because the engine imports neither.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

from app.cli import add_json, add_model

TARGETS = {
    "redundancy_reuse": ("<=", 1.10),
    "redundancy_no_reuse": (">=", 2.0),
    "iteration_time_depth10_over_depth1": ("<=", 1.5),
    "mcts_tokens_per_s_over_generate": (">=", 0.8),
    "kv_held_over_tree_kv": ("<=", 1.2),
    "kv_held_over_tree_kv_124m": ("<=", 1.2),
    "reuse_speedup_124m": (">=", 1.5),
    "redundancy_no_reuse_124m": (">=", 2.0),
    "parallel_speedup_124m": (">=", 3.0),
}


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "bench", help="measure token redundancy, depth scaling, speed, storage and graph",
        description="With a server as --model: tokens/s of a search through it and its "
        "prefix-cache hit rate (on a workload with a long shared prefix too). Otherwise "
        "measure, each beside its baseline: tokens forwarded per unique token "
        "with KV-cache reuse on and off; iteration time against depth; MCTS tokens per "
        "second against plain `generate`; storage append/replay; graph HTML build time.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="fewer iterations and repeats (for tests; noisier)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="MCTS iterations for redundancy and speed "
                        "(default: 40; with --quick 4)")
    add_model(parser)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads for every model (default: 1 for the demo "
                        "model, whose steps are bound by Python, and every core for the "
                        "124 M model, whose steps are bound by its matrix products)")
    # No --db: the storage figures are measured in a temporary database of their own, so
    # that a benchmark never writes runs into the user's.
    add_json(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from engine.errors import InputError

    if args.iterations is not None and args.iterations < 2:
        raise InputError("--iterations must be at least 2.")
    if args.threads is not None and args.threads < 1:
        raise InputError("--threads must be at least 1.")
    from engine.backends.openai_server import is_server_spec

    if is_server_spec(args.model):
        from app.bench.server_cost import render_server, run_server_bench
        from app.cli import load_model

        its = args.iterations or (4 if args.quick else 40)
        report = run_server_bench(load_model(args), its)
        print(json.dumps(report) if args.json else render_server(report))
        return 0
    if args.served_model:
        raise InputError("--served-model names a model of a server: give the server's URL "
                         "as --model.")
    report = run_bench(quick=args.quick, iterations=args.iterations, model_name=args.model,
                       threads=args.threads)
    print(json.dumps(report) if args.json else render(report))
    return 0


def run_bench(*, quick: bool = False, iterations: int | None = None,
              model_name: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """Run every measurement once; return the report (``TARGETS``' keys at the top level).
    ``threads``: torch's CPU threads for every model; ``None``: 1 for the demo model and
    every core for the 124 M model."""
    import torch

    from app.bench import engine_cost as bench
    from engine.backends.hf import HFModel

    big_threads = threads or os.cpu_count() or 1
    threads = threads or 1
    torch.set_num_threads(threads)
    started = time.perf_counter()
    model = HFModel(model_name)
    bench.warm_up(model)
    its = iterations or (4 if quick else 40)
    reuse = bench.timed_mcts(model, its, cache_reuse=True)
    no_reuse = bench.timed_mcts(model, its, cache_reuse=False)
    repeats = 1 if quick else 5
    depths = range(1, 11, 9) if quick else range(1, 11)  # quick: depths 1 and 10 only
    depth_reuse = bench.depth_scaling(model, reuse=True, depths=depths, repeats=repeats)
    depth_none = bench.depth_scaling(model, reuse=False, depths=depths, repeats=repeats)
    speed = bench.generate_comparison(model, reuse)
    report: dict[str, Any] = {
        "device": _device(model.device, threads, big_threads),
        "model": model.name,
        "quick": quick,
        "mcts_iterations": its,
        "redundancy_reuse": round(reuse.redundancy, 3),
        "redundancy_no_reuse": round(no_reuse.redundancy, 3),
        "tokens": {
            "reuse": _tokens(reuse), "no_reuse": _tokens(no_reuse),
        },
        **_depth_report(depth_reuse, depth_none, repeats),
        "mcts_tokens_per_s": round(speed.mcts_tokens_per_s, 1),
        "generate_tokens_per_s": round(speed.generate_tokens_per_s, 1),
        "mcts_tokens_per_s_over_generate": round(speed.ratio, 3),
        "generate_calls": speed.generate_calls,
        "mcts_tokens_per_s_no_reuse": round(no_reuse.tokens_per_s, 1),
        "kv_held_over_tree_kv": round(reuse.kv_held_over_tree_kv, 3),
        **_big_model(quick, big_threads),
        "storage": _storage(reuse, quick),
        "graph_html_ms": _graph(quick),
    }
    report["targets"] = {k: f"{op} {v}" for k, (op, v) in TARGETS.items()}
    report["met"] = {k: _met(report[k], op, v) for k, (op, v) in TARGETS.items()}
    report["wall_s"] = round(time.perf_counter() - started, 1)
    return report


def _depth_report(reuse: Any, none: Any, repeats: int) -> dict[str, Any]:
    """Iteration time against depth, with KV-cache reuse and without."""
    return {
        "iteration_time_depth10_over_depth1": round(reuse.ratio, 3),
        "iteration_time_depth10_over_depth1_no_reuse": round(none.ratio, 3),
        "iteration_time_by_depth_ms": {
            "reuse": {d: round(1000 * s, 1) for d, s in reuse.seconds.items()},
            "no_reuse": {d: round(1000 * s, 1) for d, s in none.seconds.items()},
            "what": f"one expansion ({reuse.children} x {reuse.expansion_tokens} tokens) + "
                    f"one rollout ({reuse.rollout_tokens} tokens) at a node of depth d in a "
                    f"chain of {reuse.node_tokens}-token nodes; median of {repeats}",
        },
    }


def _big_model(quick: bool, threads: int) -> dict[str, Any]:
    """KV held and reuse against no reuse on a GPT-2-small-shaped model with random weights
    (``app.bench.big_model``, built on first use), on two deep workloads of MCTS over
    32-token mini-steps: a 519-token free-text prompt (the ``_124m`` keys) and the 9-token
    Game-of-24 prompt (``big_model.game24``); with ``threads`` torch threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _big_model_figures(quick, threads)
    finally:
        torch.set_num_threads(before)


def _big_model_figures(quick: bool, threads: int) -> dict[str, Any]:
    from app.bench.big_model import build, deep_search
    from engine.backends.hf import HFModel

    model = HFModel(str(build()))
    iterations = 3 if quick else 12
    deep_search(model, True, iterations=2)  # warm up
    runs = {name: (deep_search(model, True, iterations=iterations, workload=name),
                   deep_search(model, False, iterations=iterations, workload=name))
            for name in ("long-prompt", "game24")}
    params = sum(p.numel() for p in model.model.parameters())

    def figures(reuse: Any, none: Any) -> dict[str, Any]:
        return {
            "kv_held_over_tree_kv": round(reuse.kv_held_over_tree_kv, 3),
            "reuse_speedup": round(none.wall_s / reuse.wall_s, 3),
            "redundancy_no_reuse": round(none.redundancy, 3),
            "redundancy_reuse": round(reuse.redundancy, 3),
            "wall_s": {"reuse": round(reuse.wall_s, 2), "no_reuse": round(none.wall_s, 2)},
            "tokens": {"reuse": _tokens(reuse), "no_reuse": _tokens(none)},
        }

    long_prompt = figures(*runs["long-prompt"])
    # 30 iterations: the root's round of 6 (its 12 children at k = 2), then full rounds.
    parallel = {name: _parallel(model, 8 if quick else 30, name)
                for name in ("long-prompt", "game24")}
    return {
        "parallel_speedup_124m": parallel["long-prompt"]["speedup"],
        "parallel_speedup_124m_game24": parallel["game24"]["speedup"],
        "kv_held_over_tree_kv_124m": long_prompt["kv_held_over_tree_kv"],
        "reuse_speedup_124m": long_prompt["reuse_speedup"],
        "redundancy_no_reuse_124m": long_prompt["redundancy_no_reuse"],
        "big_model": {
            "threads": threads,
            "what": f"GPT-2-small shape (12 layers, width 768), random weights, the bundled "
                    f"tokenizer: {params / 1e6:.1f} M parameters; {iterations} iterations of "
                    f"MCTS over 32-token mini-steps, k = 2; torch threads {threads}",
            "long_prompt": long_prompt,
            "game24": figures(*runs["game24"]),
            "parallel": parallel,
        },
    }


def _parallel(model: Any, iterations: int, workload: str) -> dict[str, Any]:
    """Generated tokens per second of a deep search with rounds of B = 8 against B = 1
    (``SearchConfig.parallel``), and the rounds it made."""
    from app.bench.big_model import deep_search
    from engine.core.events import Selected

    runs = {b: deep_search(model, True, iterations=iterations, workload=workload, parallel=b)
            for b in (1, 8)}

    def rate(run: Any) -> float:
        return float(run.tokens_generated / run.wall_s)

    sizes: list[int] = []  # a round's first selection is the iteration after the rounds before
    for e in runs[8].events:
        if isinstance(e, Selected) and e.iteration == sum(sizes):
            sizes.append(e.round_size)
    return {
        "speedup": round(rate(runs[8]) / rate(runs[1]), 3),
        "iterations": iterations,
        "tokens_per_s": {str(b): round(rate(r), 1) for b, r in runs.items()},
        "tokens_generated": {str(b): r.tokens_generated for b, r in runs.items()},
        "wall_s": {str(b): round(r.wall_s, 2) for b, r in runs.items()},
        "round_sizes_b8": sizes,
    }


def _tokens(run: Any) -> dict[str, Any]:
    return {"forwarded": run.tokens_forwarded, "unique": run.tokens_unique,
            "generated": run.tokens_generated, "wall_s": round(run.wall_s, 2)}


def _storage(run: Any, quick: bool) -> dict[str, Any]:
    """Storage's own benchmark, with this run's events as its template."""
    from app.bench.storage_cost import bench_storage

    result: dict[str, Any] = bench_storage(run.events, run.config,
                                           iterations=50 if quick else 1000)
    return result


def _graph(quick: bool) -> dict[int, float]:
    """Median milliseconds to build the graph HTML of synthetic trees."""
    from app.bench.graph_cost import bench_graph

    sizes = (500,) if quick else (500, 2000, 5000)
    return bench_graph(sizes, repeats=1 if quick else 3)


def _met(value: float, op: str, target: float) -> bool:
    return value <= target if op == "<=" else value >= target


def _device(device: str, threads: int, big_threads: int) -> str:
    import torch

    name = platform.processor() or platform.machine()
    if device == "cuda":
        name = torch.cuda.get_device_name(0)
    else:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as handle:
                name = next((line.split(":", 1)[1].strip() for line in handle
                             if line.startswith("model name")), name)
        except OSError:
            pass
    big = "" if big_threads == threads else f" (the 124 M model: {big_threads})"
    return f"{device}: {name}, torch threads {threads}{big}"


def render(report: dict[str, Any]) -> str:
    """The report as lines: each figure, its baseline, its target and whether it is met."""
    met = report["met"]

    def mark(key: str) -> str:
        return f"target {report['targets'][key]}: {'met' if met[key] else 'MISSED'}"

    t = report["tokens"]
    big = report["big_model"]
    depth = report["iteration_time_by_depth_ms"]
    storage = report["storage"]
    lines = [
        f"device: {report['device']}   ({report['mcts_iterations']}-iteration MCTS runs, "
        f"{report['wall_s']} s in all)",
        f"redundancy (forwarded/unique), reuse on: {report['redundancy_reuse']} "
        f"({t['reuse']['forwarded']}/{t['reuse']['unique']})  {mark('redundancy_reuse')}",
        f"  baseline, reuse off: {report['redundancy_no_reuse']} "
        f"({t['no_reuse']['forwarded']}/{t['no_reuse']['unique']})  "
        f"{mark('redundancy_no_reuse')}",
        f"iteration time depth 10 / depth 1, reuse on: "
        f"{report['iteration_time_depth10_over_depth1']} "
        f"({depth['reuse'][1]} -> {depth['reuse'][10]} ms)  "
        f"{mark('iteration_time_depth10_over_depth1')}",
        f"  baseline, reuse off: {report['iteration_time_depth10_over_depth1_no_reuse']} "
        f"({depth['no_reuse'][1]} -> {depth['no_reuse'][10]} ms)   [{depth['what']}]",
        f"MCTS tokens/s: {report['mcts_tokens_per_s']}  vs plain generate on the same calls: "
        f"{report['generate_tokens_per_s']}  ratio {report['mcts_tokens_per_s_over_generate']}"
        f"  {mark('mcts_tokens_per_s_over_generate')}",
        f"KV held / the tree's own KV: {report['kv_held_over_tree_kv']}  "
        f"{mark('kv_held_over_tree_kv')}",
        f"{report['big_model']['what']}; a 519-token free-text prompt:",
        f"  KV held / the tree's own KV: {report['kv_held_over_tree_kv_124m']}  "
        f"{mark('kv_held_over_tree_kv_124m')}",
        f"  wall time reuse off / on: {report['reuse_speedup_124m']} "
        f"({big['long_prompt']['wall_s']['no_reuse']} s / "
        f"{big['long_prompt']['wall_s']['reuse']} s)  {mark('reuse_speedup_124m')}",
        f"  redundancy without reuse: {report['redundancy_no_reuse_124m']} (with reuse "
        f"{big['long_prompt']['redundancy_reuse']})  {mark('redundancy_no_reuse_124m')}",
        f"  the 9-token Game-of-24 prompt instead: reuse speedup "
        f"{big['game24']['reuse_speedup']}, redundancy without reuse "
        f"{big['game24']['redundancy_no_reuse']}, KV held / tree "
        f"{big['game24']['kv_held_over_tree_kv']}",
        f"  parallel MCTS, tokens/s at B = 8 / B = 1: {report['parallel_speedup_124m']} "
        f"({big['parallel']['long-prompt']['tokens_per_s']['8']} / "
        f"{big['parallel']['long-prompt']['tokens_per_s']['1']}; rounds "
        f"{big['parallel']['long-prompt']['round_sizes_b8']})  "
        f"{mark('parallel_speedup_124m')}; on the Game-of-24 prompt "
        f"{report['parallel_speedup_124m_game24']}",
        f"storage: append one iteration {storage['append_iteration_ms_median']} ms (median), "
        f"replay {storage['iterations']} iterations {storage['replay_last_iteration_s']} s",
        "graph HTML build: " + ", ".join(f"{n} nodes {ms} ms"
                                         for n, ms in report["graph_html_ms"].items()),
    ]
    return "\n".join(lines)
