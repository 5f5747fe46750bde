"""Search settings, validated: a bad value raises ``InputError`` saying what is allowed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.errors import InputError


class SearchConfig(BaseModel):
    """Every knob of one search. Stored with each run; the same config and seed on the same
    machine give the same events."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: Literal["game24", "freeform"] = Field("game24", title="Task", description="problem type")
    algorithm: Literal["mcts", "mctsr"] = Field(
        "mcts", title="Algorithm",
        description="mcts: search over steps (Marco-o1); mctsr: Monte Carlo Tree "
        "Self-Refine, a tree of whole answers where each child rewrites its parent after "
        "a critique (Zhang et al. 2024)",
    )
    selection: Literal["uct", "puct"] = Field(
        "uct", title="Selection rule",
        description="UCT: Q + c*sqrt(ln N_parent / N); PUCT: Q + c*P*sqrt(N_parent)/(1+N)"
    )
    exploration: float = Field(
        1.0, title="Exploration constant c", ge=0.0, le=100.0,
        description="exploration constant c"
    )
    children: int = Field(
        1, title="Children per expansion (k)", ge=1, le=32,
        description="samples per expansion (k); with progressive widening a node gets k "
        "more each time it needs another live child",
    )
    max_depth: int = Field(
        12, title="Maximum depth", ge=0, le=64,
        description="nodes this deep are not expanded (0: only roll out from the root, "
        "which is Best-of-N)",
    )
    max_children: int = Field(
        12, title="Most children of a node", ge=1, le=256,
        description="most children of one node: when every child so far is dead or "
        "finished, expansion samples k more, up to this many",
    )
    widening: float = Field(
        2.0, title="Progressive widening", ge=0.0, le=100.0,
        description="progressive widening: a node with N visits gets k more sampled steps "
        "while it has fewer than ceil(widening * sqrt(N)) live children (0: off)",
    )
    parallel: int = Field(
        1, title="Parallel selections per round (B)", ge=1, le=64,
        description="parallel MCTS: each round selects up to B leaves (a virtual loss on "
        "each path makes the later ones differ), then expands and simulates them as one "
        "batch and backs up all B (1: one iteration at a time)",
    )
    granularity: Literal["step", "mini-step"] = Field(
        "step", title="Action granularity",
        description="an action is one line (step) or a fixed number of tokens"
    )
    mini_step_tokens: Literal[32, 64] = Field(
        32, title="Tokens per mini-step",
        description="tokens per mini-step"
    )
    max_step_tokens: int = Field(
        96, title="Longest step (tokens)", ge=4, le=1024,
        description="longest step, in tokens"
    )
    temperature: float = Field(
        1.0, title="Temperature", ge=0.0, le=5.0, description="sampling temperature (0 = greedy)"
    )
    reward: Literal["confidence", "verifier", "combined"] = Field(
        "combined", title="Reward",
        description="token confidence, the task verifier, or the verifier when it can "
        "decide and confidence otherwise",
    )
    evaluator: Literal["outcome", "confidence", "step-check", "self-eval"] = Field(
        "self-eval", title="State value (evaluator)",
        description="the value of a state, shown on every node: outcome (the verifier, "
        "finished answers only), confidence (mean token confidence of the step), step-check "
        "(1 if the task's rule accepts the step, 0 if not), self-eval (the model's own "
        "probability that the state can still succeed)",
    )
    step_check: Literal["off", "on"] = Field(
        "on", title="Step check",
        description="on: a step the task's rule rejects becomes a dead child, never "
        "selected or expanded, and a rollout stops at its first rejected step (tasks "
        "without a rule check nothing)",
    )
    leaf_value: Literal["rollout", "value", "mixed"] = Field(
        "mixed", title="Leaf value",
        description="how a leaf is scored: a rollout to an answer, the state value without "
        "a rollout (AlphaZero), or (1 - lambda) * rollout + lambda * value (AlphaGo)",
    )
    value_weight: float = Field(
        0.5, title="State value weight λ", ge=0.0, le=1.0,
        description="lambda: the state value's weight when mixed"
    )
    reward_samples: int = Field(
        3, title="Self-reward samples (MCTSr)", ge=1, le=32,
        description="MCTSr: self-rewards sampled per answer; its Q is (min + mean) / 2 of "
        "them",
    )
    refine_epsilon: float = Field(
        1e-3, title="MCTSr ε", gt=0.0, le=1.0,
        description="MCTSr: eps in UCT = Q + c*sqrt(ln(N_parent + 1) / (N + eps)); it keeps "
        "an unvisited answer (the dummy) from dividing by zero and puts it first",
    )
    reflection: Literal["off", "on"] = Field(
        "off", title="Reflection",
        description="on: every unverified or wrong answer gets a reflection child"
    )
    rollout_max_tokens: int = Field(
        256, title="Longest rollout (tokens)", ge=1, le=8192,
        description="longest rollout"
    )
    seed: int = Field(0, title="Seed", ge=0, le=2**31 - 1, description="random seed")
    cache_reuse: bool = Field(
        True, title="Reuse KV caches",
        description="reuse each node's KV cache"
    )
    cache_budget_mb: float = Field(
        512.0, title="KV cache budget (MB)", gt=0.0, le=1_000_000.0,
        description="memory for node KV caches"
    )
    reference_answer: str | None = Field(
        None, title="Reference answer", max_length=1000,
        description="freeform: the answer to verify against"
    )


_MCTS = ("algorithm", ("mcts",))
_MCTSR = ("algorithm", ("mctsr",))
APPLIES_WHEN: dict[str, tuple[tuple[str, tuple[Any, ...]], ...]] = {
    "selection": (_MCTS,),
    "children": (_MCTS,),
    "widening": (_MCTS,),
    "parallel": (_MCTS,),
    "granularity": (_MCTS,),
    "leaf_value": (_MCTS,),
    "reflection": (_MCTS,),
    "reward": (_MCTS,),
    "mini_step_tokens": (_MCTS, ("granularity", ("mini-step",))),
    "max_step_tokens": (_MCTS, ("granularity", ("step",))),
    "value_weight": (_MCTS, ("leaf_value", ("mixed",))),
    "reward_samples": (_MCTSR,),
    "refine_epsilon": (_MCTSR,),
    "reference_answer": (("task", ("freeform",)),),
    "cache_budget_mb": (("cache_reuse", (True,)),),
}
"""Settings that only matter when other settings have some values (``field: ((other
field, its values), ...)``, all of them); a settings form hides them otherwise."""


def setting_applies(name: str, values: dict[str, Any]) -> bool:
    """Whether setting ``name`` has any effect given the other settings ``values``."""
    return all(values.get(other) in allowed for other, allowed in APPLIES_WHEN.get(name, ()))


def upgrade_v1_config(values: dict[str, Any]) -> dict[str, Any]:
    """Settings stored by round one (before state values and widening) as the settings that
    search the same way now: no step check, the outcome as the only value, leaves scored by
    rollouts, no progressive widening, and a node that never grows past its one expansion.
    Frozen: a stored-data migration depends on exactly this."""
    upgraded = dict(values)
    children = upgraded.get("children", 4)
    for key, value in (("evaluator", "outcome"), ("step_check", "off"),
                       ("leaf_value", "rollout"), ("value_weight", 0.5), ("widening", 0.0),
                       ("max_children", children if isinstance(children, int) else 4)):
        upgraded.setdefault(key, value)
    return upgraded


def make_config(**values: Any) -> SearchConfig:
    """Build a ``SearchConfig``; raise ``InputError`` naming each bad setting."""
    try:
        return SearchConfig(**values)
    except ValidationError as err:
        parts = []
        for e in err.errors():
            where = ".".join(str(x) for x in e["loc"]) or "config"
            parts.append(f"{where}: {e['msg']} (got {e.get('input')!r})")
        raise InputError("Invalid search setting - " + "; ".join(parts)) from None
