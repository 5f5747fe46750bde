"""A model of real size for the cost benchmark, built here with random weights.

``build(directory)`` writes a GPT-2-small-shaped causal LM (12 layers, width 768, 12 heads,
1,024 positions; random weights, seeded) with the bundled demo model's tokenizer, so it
loads like any local model and needs no download. It measures cost, not quality: its text
is noise. With the bundled tokenizer's small vocabulary it has 86 M parameters (GPT-2
small's 124 M include 38.6 M of embeddings for a 50,257-token vocabulary); its KV per token
is GPT-2 small's.

``deep_search(model, reuse, workload)`` is what the benchmark times on it, MCTS over
mini-steps of 32 tokens in both workloads:

- ``long-prompt``: a free-text problem of 519 tokens, so that every path is long from its
  first node (a search without KV reuse recomputes the prompt on every call);
- ``game24``: the 9-token Game-of-24 prompt, so that paths grow long only as the tree
  deepens.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from app.bench.engine_cost import MctsRun, timed_mcts
from engine.backends.hf import DEMO_MODEL_DIR, HFModel

SHAPE = {"n_layer": 12, "n_embd": 768, "n_head": 12, "n_positions": 1024}
"""GPT-2 small's shape."""
DEFAULT_DIR = Path.home() / ".cache" / "mctslab" / "bench-gpt2-small-random"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def build(directory: Path = DEFAULT_DIR, seed: int = 0) -> Path:
    """The model's directory, written if it is not there yet."""
    if (directory / "config.json").exists():
        return directory
    import torch
    from transformers import AutoConfig, GPT2Config, GPT2LMHeadModel

    demo = AutoConfig.from_pretrained(DEMO_MODEL_DIR)
    config = GPT2Config(vocab_size=demo.vocab_size, bos_token_id=demo.bos_token_id,
                        eos_token_id=demo.eos_token_id, pad_token_id=demo.pad_token_id,
                        n_layer=SHAPE["n_layer"], n_embd=SHAPE["n_embd"],
                        n_head=SHAPE["n_head"], n_positions=SHAPE["n_positions"])
    torch.manual_seed(seed)
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    GPT2LMHeadModel(config).save_pretrained(partial)
    for name in TOKENIZER_FILES:
        if (DEMO_MODEL_DIR / name).exists():
            shutil.copy(DEMO_MODEL_DIR / name, partial / name)
    partial.rename(directory)
    return directory


LONG_PROMPT = " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 8)
"""The long-prompt workload's problem: 519 tokens with the bundled tokenizer."""
WORKLOADS = {"long-prompt": ("freeform", LONG_PROMPT), "game24": ("game24", "4 5 6 10")}


def deep_search(model: HFModel, reuse: bool, iterations: int = 12, seed: int = 0,
                workload: str = "long-prompt", parallel: int = 1) -> MctsRun:
    """MCTS over 32-token mini-steps with short rollouts (k = 2, 16-token rollouts), timed;
    ``parallel``: B, the iterations of a round of parallel MCTS."""
    task, problem = WORKLOADS[workload]
    return timed_mcts(model, iterations, cache_reuse=reuse, seed=seed, problem=problem,
                      task=task, granularity="mini-step", mini_step_tokens=32,
                      rollout_max_tokens=16, children=2, widening=0.0, evaluator="outcome",
                      step_check="off", leaf_value="rollout", max_depth=16,
                      cache_budget_mb=4096.0, parallel=parallel)
