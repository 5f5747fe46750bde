"""Every strategy on the real demo model: honest accounting, and a tree that folds."""

from __future__ import annotations

import pytest

from engine.backends.hf import HFModel
from engine.core.config import make_config
from engine.core.events import Expanded, event_from_dict, event_to_dict
from engine.core.tree import best_answer, check_invariants, fold
from engine.errors import InputError
from engine.strategies.runner import (
    STRATEGIES,
    StrategyResult,
    StrategySettings,
    parse_strategies,
    run_strategy,
)

PUZZLES = ("4 5 6 10", "3 3 8 8")
BUDGET = 250


def overshoot(name: str, settings: StrategySettings) -> int:
    """The most one unit of work (checked against the budget before it starts) generates."""
    c = settings.mcts_config
    step = c.children * c.max_step_tokens
    return {"best-of-n": c.rollout_max_tokens,
            "beam": settings.beam_children * c.max_step_tokens,
            "mcts": step + c.rollout_max_tokens,
            "mctsr": c.rollout_max_tokens + c.reward_samples}.get(name, 0)


def assert_consistent(result: StrategyResult, settings: StrategySettings) -> None:
    # The tree is exactly the fold of the events (through JSON, as a saved run is).
    replayed = fold(result.problem, [event_from_dict(event_to_dict(e)) for e in result.events])
    assert replayed == result.tree
    assert check_invariants(result.tree) == []
    # The reported verdict is the tree's own, and tokens in the tree are tokens counted.
    answer, verdict = best_answer(result.tree)
    assert (result.answer, result.solved) == (answer, verdict is True)
    # Every generated token is in a node, a self-evaluation's verdict, or a discarded
    # repeat of an existing child.
    in_tree = sum(n.tokens_spent for n in result.tree.nodes)
    counts = result.tree.tokens
    assert in_tree + counts.judged + counts.discarded == result.tokens_generated
    assert 0 < result.tokens_forwarded and 0 < result.tokens_generated
    if result.strategy != "greedy":
        assert result.tokens_generated < settings.token_budget + overshoot(result.strategy,
                                                                            settings)
        if not result.stopped_early:
            assert result.tokens_generated >= settings.token_budget
    if result.stopped_early:
        assert result.solved


@pytest.mark.parametrize("problem", PUZZLES)
def test_every_strategy_keeps_its_budget_and_folds(demo_model: HFModel, problem: str) -> None:
    settings = StrategySettings(token_budget=BUDGET, mcts_config=make_config(seed=1))
    for name in STRATEGIES:
        result = run_strategy(name, demo_model, problem, settings)
        assert result.strategy == name
        assert_consistent(result, settings)


def test_each_strategy_has_its_own_shape(demo_model: HFModel) -> None:
    config = make_config(seed=2)
    # More than one longest rollout, so that Best-of-N always starts a second one.
    settings = StrategySettings(token_budget=config.rollout_max_tokens + 1, mcts_config=config)
    greedy = run_strategy("greedy", demo_model, "4 5 6 10", settings)
    assert greedy.iterations == 1 and len(greedy.tree.nodes) == 2
    assert greedy.config.temperature == 0 and greedy.config.children == 1
    again = run_strategy("greedy", demo_model, "4 5 6 10", settings)
    assert again.events == greedy.events  # equal but for each event's wall time (ms)

    best_of_n = run_strategy("best-of-n", demo_model, "4 5 6 10", settings)
    assert best_of_n.tree.root.children == []  # every iteration is one rollout from the root
    assert len(best_of_n.tree.root.rollouts) == best_of_n.iterations >= 2

    beam = run_strategy("beam", demo_model, "4 5 6 10", settings)
    assert beam.events and all(isinstance(e, Expanded) and e.origin == "beam"
                               for e in beam.events)
    assert beam.iterations == len(beam.events)
    depths = {n.depth for n in beam.tree.nodes}
    assert max(depths) >= 2  # the beam went past the first step
    # No depth of one pass (a pass starts again at the root) holds more expanded nodes
    # than the beam width.
    passes: list[list[int]] = []
    for event in beam.events:
        if isinstance(event, Expanded):
            if event.node == 0:
                passes.append([])
            passes[-1].append(event.node)
    for expanded in passes:
        for depth in depths:
            assert len({n for n in expanded if beam.tree.nodes[n].depth == depth}) \
                <= settings.beam_width

    mcts = run_strategy("mcts", demo_model, "4 5 6 10", settings)
    assert mcts.tree.iterations_done == mcts.iterations >= 1
    assert mcts.config == settings.mcts_config


def test_a_solved_puzzle_stops_at_its_first_verified_answer(demo_model: HFModel) -> None:
    settings = StrategySettings(token_budget=4000, mcts_config=make_config(seed=0))
    result = run_strategy("best-of-n", demo_model, "3 3 7 12", settings)
    assert result.solved and result.stopped_early
    assert result.tokens_generated < settings.token_budget
    # The verified rollout is the last one: nothing was spent after it.
    assert result.tree.root.rollouts[-1].verdict is True
    assert all(r.verdict is not True for r in result.tree.root.rollouts[:-1])
    full = run_strategy("best-of-n", demo_model, "3 3 7 12",
                        StrategySettings(token_budget=result.tokens_generated + 1,
                                         mcts_config=settings.mcts_config,
                                         stop_when_solved=False))
    assert full.solved and not full.stopped_early


def test_strategy_names_are_checked() -> None:
    assert parse_strategies("greedy, MCTS,beam") == ["greedy", "mcts", "beam"]
    with pytest.raises(InputError, match="unknown strategy 'dfs'"):
        parse_strategies("greedy,dfs")
    with pytest.raises(InputError, match="no strategy"):
        parse_strategies(" , ")
