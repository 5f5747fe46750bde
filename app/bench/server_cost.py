"""What a search costs through an OpenAI-compatible server (``mctslab bench --model URL``).

Two workloads, each an MCTS search through the server:

* ``game24``: the bench problem with the default settings (steps, self-evaluation, rollouts),
  for tokens generated per second;
* ``long_prefix``: a free-text problem padded so that its prompt is longer than two of the
  server's prefix-cache blocks (vLLM's block is 128 tokens on the CPU, 16 on a GPU), searched
  in mini-steps: every request starts with the same long prompt, so the server's prefix cache
  should serve most prompt tokens.

The prefix-cache hit rate is the server's own count (``/metrics``: ``prefix_cache_hits`` /
``prefix_cache_queries``, in tokens) over the workload; the sessions' ``cached_tokens`` /
``prompt_tokens`` from each response's usage are reported beside it. The server's KV cache,
not this process, does the reuse, so the HF bench's redundancy and depth figures do not apply.
"""

from __future__ import annotations

import time
from typing import Any

from engine.backends.openai_server import ServerModel
from engine.core.config import make_config
from engine.strategies.search import Search
from engine.tasks import make_task

GAME24_PROBLEM = "4 5 6 10"
PREFIX_BLOCK_TOKENS = 128
"""vLLM's prefix-cache block on the CPU (the long-prefix prompt must fill more than two)."""
LONG_PREFIX_TARGET = 0.8


def long_prefix_problem(model: ServerModel, min_prompt_tokens: int = 2 * PREFIX_BLOCK_TOKENS
                        ) -> str:
    """A free-text problem whose prompt is just over ``min_prompt_tokens`` tokens (and
    leaves room in the context to search)."""
    lines: list[str] = []
    while True:
        i = len(lines)
        lines.append(f"Numbers {i} {i + 1} {i + 2} {i + 3} make 24.")
        problem = " ".join(lines) + " Use 4 5 6 10 to make 24."
        task_prompt = make_task("freeform", problem, None).prompt(model.chat)
        if len(model.encode_prompt(task_prompt)) > min_prompt_tokens + 8:
            return problem
        if len(lines) > 200:
            raise ValueError("cannot pad the prompt past two cache blocks")


def timed_search(model: ServerModel, config: Any, problem: str, iterations: int
                 ) -> dict[str, Any]:
    """Run ``iterations`` of MCTS through the server; its cost and cache figures."""
    before = model.prefix_cache_counters()
    search = Search(model, config, problem)
    started = time.perf_counter()
    search.run(iterations)
    wall = time.perf_counter() - started
    after = model.prefix_cache_counters()
    tokens = search.tree.tokens
    session: Any = search.session
    result: dict[str, Any] = {
        "iterations": search.tree.iterations_done,
        "prompt_tokens": len(search.prompt_ids),
        "tokens_generated": tokens.generated,
        "tokens_forwarded": tokens.forwarded,
        "wall_s": round(wall, 2),
        "tokens_per_s": round(tokens.generated / wall, 1) if wall > 0 else 0.0,
        "usage_prompt_tokens": session.prompt_tokens,
        "usage_cached_tokens": session.cached_tokens,
    }
    if before is not None and after is not None and after[1] > before[1]:
        hits, queries = after[0] - before[0], after[1] - before[1]
        result["prefix_cache_hits"] = int(hits)
        result["prefix_cache_queries"] = int(queries)
        result["prefix_cache_hit_rate"] = round(hits / queries, 3)
    elif session.prompt_tokens:
        result["prefix_cache_hit_rate"] = round(session.cached_tokens / session.prompt_tokens,
                                                3)
    return result


def run_server_bench(model: ServerModel, iterations: int) -> dict[str, Any]:
    """Both workloads; the report (``long_prefix_hit_rate`` against its target)."""
    started = time.perf_counter()
    game24 = timed_search(model, make_config(seed=0), GAME24_PROBLEM, iterations)
    long_prefix = timed_search(
        model, make_config(task="freeform", granularity="mini-step", mini_step_tokens=32,
                           seed=0),
        long_prefix_problem(model), iterations)
    rate = long_prefix.get("prefix_cache_hit_rate", 0.0)
    return {
        "device": f"server: {model.base_url}",
        "model": model.name,
        "mcts_iterations": iterations,
        "mcts_tokens_per_s": game24["tokens_per_s"],
        "prefix_cache_hit_rate": game24.get("prefix_cache_hit_rate"),
        "long_prefix_hit_rate": rate,
        "workloads": {"game24": game24, "long_prefix": long_prefix},
        "targets": {"long_prefix_hit_rate": f">= {LONG_PREFIX_TARGET}"},
        "met": {"long_prefix_hit_rate": rate >= LONG_PREFIX_TARGET},
        "wall_s": round(time.perf_counter() - started, 1),
    }


def render_server(report: dict[str, Any]) -> str:
    """The server report as lines."""
    g, p = report["workloads"]["game24"], report["workloads"]["long_prefix"]
    met = "met" if report["met"]["long_prefix_hit_rate"] else "MISSED"
    return "\n".join([
        f"{report['device']}   model {report['model']}   ({report['mcts_iterations']}-"
        f"iteration MCTS runs, {report['wall_s']} s in all)",
        f"Game of 24 ({GAME24_PROBLEM}): {g['tokens_generated']} tokens generated in "
        f"{g['wall_s']} s = {g['tokens_per_s']} tokens/s; prefix-cache hit rate "
        f"{g.get('prefix_cache_hit_rate')}",
        f"long shared prefix ({p['prompt_tokens']}-token prompt, mini-steps): prefix-cache "
        f"hit rate {p.get('prefix_cache_hit_rate')} ({p.get('prefix_cache_hits')}/"
        f"{p.get('prefix_cache_queries')} prompt tokens)  target "
        f"{report['targets']['long_prefix_hit_rate']}: {met}; {p['tokens_per_s']} tokens/s",
    ])
