"""What the engine's cost model buys, each figure measured beside its own baseline.

- ``redundancy``: tokens forwarded / tokens unique for one MCTS run with prefix KV-cache
  reuse on, and the same run with reuse off (every prefix recomputed).
- ``depth_scaling``: the time of one expansion (k samples) plus one rollout, of fixed token
  counts, at a node of depth d = 1..10 of a chain of equal-length nodes. Only the depth
  changes, so the ratio depth 10 / depth 1 isolates what a deep path costs; with reuse
  it should stay near 1, without reuse it grows with the prefix recomputed.
- ``generate_comparison``: tokens per second of an MCTS run against plain Hugging Face
  ``generate`` doing the same work: for every expansion of the run, ``generate`` with the
  same prefix, batch size k and token count; for every rollout, batch 1 and its length.

All of these run on whatever model is given (the demo model in ``mctslab bench``).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch

from engine.backends.hf import HFModel
from engine.backends.hf_session import ModelSession
from engine.backends.protocol import StopRule
from engine.core.config import SearchConfig, make_config
from engine.core.events import Event, Expanded, Simulated
from engine.core.tree import ROOT_ID, Tree
from engine.strategies.search import Search
from engine.tasks import make_task

BENCH_PROBLEM = "4 5 6 10"
FILLER_STEP = "Step: 4+5=9 (left: 6 9 10)\n"
"""The text repeated to build the deep chain (any text works: only its length matters)."""


def warm_up(model: HFModel) -> None:
    """Run the model's code paths once, so the first timed measurement is not the one that
    pays for lazy initialisation."""
    Search(model, make_config(seed=99), BENCH_PROBLEM).run(2)
    _generate(model, model.encode_continuation(FILLER_STEP), 2, 8)


@dataclass(frozen=True)
class MctsRun:
    """One timed MCTS run: its cost counters and events (a template for other benches)."""

    config: SearchConfig
    iterations: int
    wall_s: float
    tokens_forwarded: int
    tokens_unique: int
    tokens_generated: int
    events: list[Event]
    tree: Tree
    kv_tokens_held: int = 0
    """Tokens whose keys and values the session's node cache holds at the end."""
    tree_tokens: int = 0
    """The prompt's and every node's own tokens: the tree's KV, each token once."""

    @property
    def kv_held_over_tree_kv(self) -> float:
        return self.kv_tokens_held / self.tree_tokens

    @property
    def redundancy(self) -> float:
        """Tokens forwarded per token of the tree (1.0: every token through the model once)."""
        return self.tokens_forwarded / self.tokens_unique

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_generated / self.wall_s


def timed_mcts(model: HFModel, iterations: int, *, cache_reuse: bool, seed: int = 0,
               problem: str = BENCH_PROBLEM, **settings: Any) -> MctsRun:
    """``iterations`` iterations of MCTS on ``problem``, timed: the defaults, or other
    ``SearchConfig`` ``settings``."""
    config = make_config(seed=seed, cache_reuse=cache_reuse, **settings)
    search = Search(model, config, problem)
    started = time.perf_counter()
    search.run(iterations)
    wall_s = time.perf_counter() - started
    c = search.session.counter
    cache = getattr(search.session, "cache", None)
    held = cache.tokens if cache is not None and cache_reuse else 0
    tree_tokens = len(search.prompt_ids) + sum(len(n.token_ids) for n in search.tree.nodes)
    return MctsRun(config, iterations, wall_s, c.forwarded, c.unique, c.generated,
                   list(search.events), search.tree, held, tree_tokens)


@dataclass(frozen=True)
class DepthTiming:
    """Seconds of one expansion + rollout at each depth, scaled to the nominal token count
    (a sample that hits EOS early is scaled up, so every depth does the same work)."""

    seconds: dict[int, float]
    """Median seconds by depth."""
    node_tokens: int
    expansion_tokens: int
    rollout_tokens: int
    children: int

    @property
    def ratio(self) -> float:
        """Time at the deepest depth over time at depth 1."""
        return self.seconds[max(self.seconds)] / self.seconds[min(self.seconds)]


def depth_scaling(
    model: HFModel, *, reuse: bool, depths: range = range(1, 11), repeats: int = 3,
    children: int = 4, expansion_tokens: int = 16, rollout_tokens: int = 64, seed: int = 0,
) -> DepthTiming:
    """Time an expansion (``children`` samples of ``expansion_tokens``) plus a rollout of
    ``rollout_tokens`` from a node at each depth of a chain of equal nodes."""
    prompt = model.encode_prompt(make_task("game24", BENCH_PROBLEM).prompt(model.chat))
    room = model.context_length - len(prompt) - expansion_tokens - rollout_tokens - 2
    node_tokens = max(1, min(24, room // max(depths)))
    filler = model.encode_continuation(FILLER_STEP * (1 + node_tokens // 8))[:node_tokens]
    chain = [(ROOT_ID, prompt)] + [(d, filler) for d in range(1, max(depths) + 1)]
    times: dict[int, list[float]] = {d: [] for d in depths}
    nominal = children * expansion_tokens + rollout_tokens
    for rep in range(repeats):
        session = model.new_session(reuse=reuse)
        for d in depths:  # interleaved, so load on a shared machine hits every depth alike
            path = chain[: d + 1]
            session.state_for(path)  # the node's cache exists once it has been expanded
            seconds, generated = _expand_and_roll_out(
                session, path, children, expansion_tokens, rollout_tokens,
                torch.Generator().manual_seed(seed * 1000 + rep * 100 + d))
            times[d].append(seconds * nominal / max(generated, 1))
    return DepthTiming({d: statistics.median(t) for d, t in times.items()}, node_tokens,
                       expansion_tokens, rollout_tokens, children)


def _expand_and_roll_out(
    session: ModelSession, path: list[tuple[int, list[int]]], children: int,
    expansion_tokens: int, rollout_tokens: int, generator: torch.Generator,
) -> tuple[float, int]:
    """Seconds and tokens generated for one expansion and one rollout from its first child."""
    before = session.counter.generated
    child_id = 10_000 + path[-1][0]
    started = time.perf_counter()
    samples = session.sample(path, children, StopRule("tokens", expansion_tokens), 1.0,
                             generator)
    session.remember(child_id, samples[0].state)
    child_path = [*path, (child_id, samples[0].token_ids)]
    session.sample(child_path, 1, StopRule("rollout", rollout_tokens), 1.0, generator)
    return time.perf_counter() - started, session.counter.generated - before


@dataclass(frozen=True)
class GenerateComparison:
    """MCTS's generation speed beside plain ``generate`` doing the same calls."""

    mcts_tokens: int
    mcts_s: float
    generate_tokens: int
    generate_s: float
    generate_calls: int

    @property
    def mcts_tokens_per_s(self) -> float:
        return self.mcts_tokens / self.mcts_s

    @property
    def generate_tokens_per_s(self) -> float:
        return self.generate_tokens / self.generate_s

    @property
    def ratio(self) -> float:
        return self.mcts_tokens_per_s / self.generate_tokens_per_s


def generate_comparison(model: HFModel, run: MctsRun, seed: int = 0) -> GenerateComparison:
    """Replay ``run``'s sampling as plain ``generate`` calls (same prefixes, batch sizes and
    token counts, prefill included as a plain user would pay it) and time them."""
    prompt = model.encode_prompt(make_task("game24", run.tree.problem).prompt(model.chat))
    torch.manual_seed(seed)
    calls = 0
    produced = 0
    started = time.perf_counter()
    for event in run.events:
        if isinstance(event, Expanded) and event.children:
            batch = sum(c.count for c in event.children)
            length = max(len(c.token_ids) for c in event.children)
            produced += _generate(model, prompt + _path_ids(run.tree, event.node), batch, length)
        elif isinstance(event, Simulated) and event.rollout.tokens:
            length = len(event.rollout.tokens)
            produced += _generate(model, prompt + _path_ids(run.tree, event.node), 1, length)
        else:
            continue
        calls += 1
    generate_s = time.perf_counter() - started
    return GenerateComparison(run.tokens_generated, run.wall_s, produced, generate_s, calls)


def _path_ids(tree: Tree, node_id: int) -> list[int]:
    return [t for n in tree.path_to(node_id)[1:] for t in tree.nodes[n].token_ids]


def _generate(model: HFModel, prefix: list[int], batch: int, length: int) -> int:
    """Sample ``batch`` continuations of exactly ``length`` tokens; return tokens made."""
    ids = torch.tensor([prefix] * batch, device=model.device)
    with torch.inference_mode():
        out = model.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
            max_new_tokens=length, min_new_tokens=length, top_k=0, top_p=1.0,
            pad_token_id=min(model.eos_ids) if model.eos_ids else 0,
        )
    return int((out.shape[1] - ids.shape[1]) * batch)
