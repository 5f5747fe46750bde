"""MCTSr: its formulas worked by hand, and whole searches with the bundled model."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from app.cli import main
from engine.backends.hf import HFModel
from engine.core.config import make_config, setting_applies
from engine.core.events import Backpropagated, Selected, event_from_dict, event_to_dict
from engine.core.mctsr import (
    backed_up,
    backup_values,
    candidate_scores,
    exclusions,
    refine_selection,
    refine_uct,
    reward_q,
)
from engine.core.tree import Node, Tree, apply, best_answer, check_invariants, fold
from engine.errors import InputError, SearchExhausted
from engine.strategies.mctsr import DUMMY_ANSWER, NOTHING_TO_REFLECT
from engine.strategies.search import Search
from engine.tasks.reflection import REFLECTION_LINE
from storage import open_store

# -- the formulas, by hand ---------------------------------------------------------------


def test_q_is_half_of_min_plus_mean() -> None:
    assert reward_q([1.0, 0.0, 1.0]) == pytest.approx(0.5 * (0.0 + 2 / 3))  # 1/3
    assert reward_q([0.8, 0.6]) == pytest.approx(0.65)  # (0.6 + 0.7) / 2
    assert reward_q([0.9]) == pytest.approx(0.9)
    assert reward_q([1.0, 1.0, 1.0]) == 1.0
    with pytest.raises(ValueError):
        reward_q([])


def test_backup_rule_and_uct_with_epsilon() -> None:
    assert backed_up(0.4, [0.2, 0.9]) == pytest.approx(0.65)
    assert backed_up(0.8, [0.2]) == pytest.approx(0.5)  # a worse child pulls Q down
    q, explore = refine_uct(0.5, 2, 5, 1.0, 1e-3)
    assert q == 0.5 and explore == pytest.approx(math.sqrt(math.log(6) / 2.001))
    # An unvisited answer: N = 0, so eps alone is under the root: it comes first.
    assert refine_uct(0.0, 0, 1, 1.0, 1e-3)[1] == pytest.approx(math.sqrt(math.log(2) / 1e-3))
    assert refine_uct(0.3, 1, 0, 2.0, 1e-3)[1] == 0.0  # ln(0 + 1) = 0


def _tree(*nodes: tuple[int, int | None, int, float | None]) -> Tree:
    """A tree of answers: (id, parent, visits, backed-up Q) each, root first."""
    tree = Tree.new("4 5 6 10")
    tree.root.visits = nodes[0][2]
    for node_id, parent, visits, q in nodes[1:]:
        assert parent is not None
        depth = tree.nodes[parent].depth + 1
        tree.nodes.append(Node(node_id, parent, depth, "answer", f"answer {node_id}",
                               visits=visits, backed_q=q, terminal=True, verdict=False))
        tree.nodes[parent].children.append(node_id)
    return tree


def test_backup_values_by_hand() -> None:
    # root -> 1 (Q .4, N 2) -> 3 (the new answer, reward .9); root -> 2 (Q .5, N 1).
    tree = _tree((0, None, 3, None), (1, 0, 2, 0.4), (2, 0, 1, 0.5), (3, 1, 0, None))
    q3, q1, q0 = 0.9, 0.5 * (0.4 + 0.9), max(0.65, 0.5)
    assert backup_values(tree, (0, 1, 3), 0.9) == pytest.approx((q0, q1, q3))
    # A poor rewrite pulls its parent down; the root takes its best child (2, at .5).
    assert backup_values(tree, (0, 1, 3), 0.0) == pytest.approx((0.5, 0.2, 0.0))


def test_candidates_follow_the_papers_rule() -> None:
    tree = _tree((0, None, 4, None), (1, 0, 3, 0.3), (2, 0, 1, 0.6), (3, 1, 1, 0.7),
                 (4, 2, 1, 0.1), (5, 2, 1, 0.2))
    excluded = exclusions(tree, max_children=2, max_depth=12)
    assert "the problem" in excluded[0]
    assert "child #3 has Q 0.700, above its own 0.300" in excluded[1]
    assert "2 children (the limit)" in excluded[2]
    assert set(excluded) == {0, 1, 2}
    # With room for more children, 2's children are both below it: a candidate again.
    assert 2 not in exclusions(tree, max_children=3, max_depth=12)
    assert "depth limit" in exclusions(tree, max_children=3, max_depth=1)[3]
    tree.nodes[4].verdict = True
    assert "verified correct" in exclusions(tree, max_children=3, max_depth=12)[4]


def test_selection_takes_the_best_candidate_in_the_whole_tree() -> None:
    tree = _tree((0, None, 4, None), (1, 0, 3, 0.3), (2, 0, 1, 0.6), (3, 1, 1, 0.7),
                 (4, 2, 1, 0.1), (5, 2, 1, 0.2))
    config = make_config(algorithm="mctsr", max_children=3, exploration=1.0)
    chosen = refine_selection(tree, config)
    scores = {s.child: s for s in chosen.candidates}
    # Node 3: 0.7 + sqrt(ln(3 + 1) / (1 + eps)); its parent 1 is excluded (child beats it).
    assert scores[3].total == pytest.approx(0.7 + math.sqrt(math.log(4) / 1.001))
    assert scores[2].total == pytest.approx(0.6 + math.sqrt(math.log(5) / 1.001))
    best = max((s for s in chosen.candidates if s.excluded is None), key=lambda s: s.total)
    assert chosen.path == tuple(tree.path_to(best.child)) and chosen.levels == ()
    assert best.child == 3  # 0.7 + 1.177 beats 0.6 + 1.268 and 4, 5 (Q .1, .2 under 2)
    assert scores[1].excluded is not None
    # Nothing left: every answer excluded, or one verified correct.
    tree.nodes[3].verdict = True
    with pytest.raises(SearchExhausted, match="verified-correct"):
        refine_selection(tree, config)
    assert candidate_scores(tree, 1.0, 1e-3, {})[0].child == 0


def test_settings_that_apply_to_each_algorithm() -> None:
    mcts, mctsr = make_config().model_dump(), make_config(algorithm="mctsr").model_dump()
    for name in ("reward_samples", "refine_epsilon"):
        assert setting_applies(name, mctsr) and not setting_applies(name, mcts)
    for name in ("children", "widening", "leaf_value", "max_step_tokens", "value_weight"):
        assert setting_applies(name, mcts) and not setting_applies(name, mctsr)
    for name in ("exploration", "max_children", "evaluator", "step_check", "seed"):
        assert setting_applies(name, mcts) and setting_applies(name, mctsr)
    with pytest.raises(InputError, match="reward_samples"):
        make_config(algorithm="mctsr", reward_samples=0)


# -- whole searches with the bundled model -----------------------------------------------


def test_the_first_iteration_adds_the_first_answer_and_the_dummy(demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(algorithm="mctsr", seed=1), "1 2 4 7")
    events = search.step_iteration()
    first, dummy = (search.tree.nodes[c] for c in search.tree.root.children)
    assert first.kind == dummy.kind == "answer" and first.token_ids and first.critique is None
    assert dummy.text == DUMMY_ANSWER and dummy.value == 0.0 and dummy.token_ids == []
    assert dummy.placeholder and not first.placeholder
    assert dummy.visits == 0 and first.visits == 1 == search.tree.root.visits
    simulated = events[2]
    assert simulated.node == first.id and len(simulated.rollout.rewards) == 3
    assert simulated.rollout.value == pytest.approx(reward_q(simulated.rollout.rewards))
    assert first.q == simulated.rollout.value == search.tree.root.q
    # The dummy, unvisited, has the largest exploration term: it is refined next.
    if first.verdict is not True:
        select = search.step_phase()
        assert isinstance(select, Selected) and select.path == (0, dummy.id)
        expand = search.step_phase()
        child = search.tree.nodes[expand.children[0].id]
        # Nothing to reflect on: the dummy is rewritten from the problem alone.
        assert child.parent == dummy.id and child.critique == NOTHING_TO_REFLECT


def test_rewrites_read_the_parents_legal_steps_and_the_reflection_line(
        demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(algorithm="mctsr", seed=5), "3 4 8 9")
    search.run(12)
    tree = search.tree
    refined = [n for n in tree.nodes if n.critique == REFLECTION_LINE]
    assert refined, "no rewrite after the reflection line in 12 iterations"
    for node in refined:
        parent = tree.nodes[node.parent]  # type: ignore[index]
        assert parent.kind == "answer" and parent.text.split("\n")[0].startswith("Step:")
        assert search.task.step_check("", parent.text.split("\n")[0]) is None
    assert check_invariants(tree) == []
    # Every answer's Q is what the backups made it; each backup followed the rule.
    for event in search.events:
        if isinstance(event, Backpropagated):
            assert event.q_after is not None and len(event.q_after) == len(event.path)
    assert all(0.0 <= n.q <= 1.0 for n in tree.nodes)
    # Reward samples are counted: each is a verdict token, and a self-evaluation.
    assert tree.tokens.judged >= 3 * sum(1 for n in tree.nodes if n.rewards
                                         and n.verdict is None) - 3


def test_a_tampered_backup_is_refused(demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(algorithm="mctsr", seed=2), "2 3 5 12")
    events = search.run(3)
    backup = next(e for e in reversed(events) if isinstance(e, Backpropagated))
    assert backup.q_after is not None
    tampered = replace(backup, q_after=(*backup.q_after[:-1], backup.q_after[-1] + 0.1))
    tree = fold(search.tree.problem, events[:events.index(backup)])
    with pytest.raises(ValueError, match="MCTSr backup"):
        apply(tree, tampered)


def test_resume_continues_with_the_same_events(demo_model: HFModel) -> None:
    config = make_config(algorithm="mctsr", seed=7)
    whole = Search(demo_model, config, "1 5 5 5")
    whole.run(6)
    cut = len(whole.events) // 2 + 1  # in the middle of an iteration
    resumed = Search(demo_model, config, "1 5 5 5", events=whole.events[:cut])
    resumed.run(6 - resumed.tree.iterations_done)
    # The same decisions and texts; the tokens forwarded differ (the resumed session
    # rebuilds the caches the first one had kept), and so, in the last digits, do the
    # log-probabilities: a prefix assembled from stored segments rounds differently from
    # one forwarded in a single pass (float32: up to about 1e-6 relative here).

    def split(x: object, floats: list[float]) -> object:
        """``x`` with every float replaced by a marker, the floats collected in order."""
        if isinstance(x, float):
            floats.append(x)
            return "<float>"
        if isinstance(x, dict):
            return {k: split(v, floats) for k, v in x.items() if k not in ("tokens", "ms")}
        if isinstance(x, list | tuple):
            return [split(v, floats) for v in x]
        return x

    mine: list[float] = []
    theirs: list[float] = []
    assert split([event_to_dict(e) for e in resumed.events], mine) == \
        split([event_to_dict(e) for e in whole.events], theirs)
    assert mine == pytest.approx(theirs, rel=1e-5, abs=1e-6)  # float32 rounding
    assert resumed.tree.tokens.generated == whole.tree.tokens.generated


def test_the_dummy_is_never_the_reported_answer(demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(algorithm="mctsr", seed=7), "1 5 5 5")
    search.run(6)
    dummy = search.tree.nodes[2]
    assert dummy.text == DUMMY_ANSWER and dummy.visits > 0
    answer, _ = best_answer(search.tree)
    written = {n.answer for n in search.tree.nodes if n.token_ids and n.answer}
    assert answer != "I don't know" and (answer in written if written else answer is None)


def test_reflection_by_hand_is_refused_in_an_mctsr_run(demo_model: HFModel) -> None:
    search = Search(demo_model, make_config(algorithm="mctsr", seed=1), "1 2 4 7")
    search.step_iteration()
    with pytest.raises(InputError, match="MCTSr"):
        search.add_reflection(1)


def test_the_cli_search_is_stored_and_replays_at_every_phase(
        demo_model: HFModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    code = main(["search", "4 5 6 10", "--algorithm", "mctsr", "--iterations", "8",
                 "--json", "--db", str(db)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    nodes = report["nodes"]
    assert nodes[1]["rewards"] and nodes[2]["text"] == DUMMY_ANSWER
    assert all(0.0 <= n["q"] <= 1.0 for n in nodes)
    store = open_store(str(db))
    events = store.load_events(report["run_id"])
    assert {event_to_dict(e)["phase"] for e in events} == {"select", "expand", "simulate",
                                                          "backprop"}
    assert [event_from_dict(event_to_dict(e)) for e in events] == events
    # Live, phase by phase, equals the store's replay of the same moment.
    live = Search(demo_model, make_config(algorithm="mctsr"), "4 5 6 10")
    for k in range(1, report["iterations"] + 1):
        for phase in ("select", "expand", "simulate", "backprop"):
            event = live.step_phase()
            stored = event_to_dict(events[len(live.events) - 1])
            assert event.phase == phase and event_to_dict(event) == \
                {**stored, "ms": event.ms}  # its own wall time
            assert store.tree_at(report["run_id"], iteration=k, phase=phase) == live.tree
        assert check_invariants(live.tree) == []
    assert store.tree_at(report["run_id"]) == live.tree
    assert report["iterations"] == 8 or report["stopped"] is not None
    assert (report["solved"] is True) == (report["stopped"] is not None)


def test_a_chat_model_critiques_then_rewrites() -> None:
    # The bundled model given a real chat template: the chat path of MCTSr runs end to end
    # through the tokenizer's template, with the task's two prompts. The model was never
    # trained on them, so only the mechanics are checked, not the quality.
    model = HFModel()
    model.tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    model.chat = True
    config = make_config(task="freeform", algorithm="mctsr", seed=3, rollout_max_tokens=40)
    search = Search(model, config, "What is 2 + 3?")
    search.run(4)
    tree = search.tree
    rewrites = [n for n in tree.nodes if n.critique is not None]
    assert len(rewrites) == 3 and all(n.critique not in (REFLECTION_LINE, NOTHING_TO_REFLECT)
                                      for n in rewrites)
    assert all(n.ended != "context" for n in rewrites)
    ask = search.task.critique_prompt(tree.nodes[rewrites[0].parent].text)  # type: ignore[index]
    assert "Criticise it strictly" in ask and "What is 2 + 3?" in ask
    # The critiques' tokens are generated, and counted in their rewrites' tokens.
    assert sum(n.tokens_spent - len(n.token_ids) for n in rewrites) > 0
    counts = tree.tokens
    assert sum(n.tokens_spent for n in tree.nodes) + counts.judged + counts.discarded \
        == counts.generated
    assert check_invariants(tree) == []

    # Game of 24's chat prompts carry a worked example: with this 384-token model the
    # critique request does not fit, which ends that answer's refinement, not the search.
    search = Search(model, make_config(algorithm="mctsr", seed=3), "1 2 4 7")
    search.run(3)
    stuck = [n for n in search.tree.nodes if n.ended == "context"]
    assert stuck and all(n.text == "" and "does not fit" in (n.critique or "")
                         for n in stuck)
    assert all("no room" in search.closed()[n.parent] for n in stuck)  # type: ignore[index]
    assert check_invariants(search.tree) == []
