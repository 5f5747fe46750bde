"""Self-evaluation: the prompt format, the training examples and their labels, the held-out
rule, and the bundled model's verdicts."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from engine.tasks import game24
from engine.training.demo_data import (
    generator_states,
    held_out_puzzles,
    impossible_puzzles,
    make_evaluation_example,
    reachable_states,
    training_puzzles,
)
from engine.training.demo_model import TrainConfig, _length_bucketed_batches, build_tokenizer
from engine.training.quality import _auc, measure_self_evaluation
from engine.training.self_eval import self_evaluate

F = Fraction


def test_evaluation_prompt_sorts_and_writes_numbers_as_in_a_step() -> None:
    assert game24.evaluation_prompt([9, 5, 6]) == "Evaluate: 5 6 9 ->"
    assert game24.evaluation_prompt((F(9), F(8, 3))) == "Evaluate: 8/3 9 ->"
    assert game24.evaluation_prompt([F(5), F(-2)]) == "Evaluate: -2 5 ->"
    assert game24.evaluation_prompt([24]) == "Evaluate: 24 ->"
    assert game24.VERDICT_WORDS == ("sure", "impossible")


@pytest.mark.parametrize(
    ("state", "word"),
    [((5, 6, 9), "sure"), ((1, 1, 1, 1), "impossible"), ((4, 6), "sure"), ((F(8, 3), 9), "sure"),
     ((24,), "sure"), ((F(24),), "sure"), ((23,), "impossible"), ((1, 5, 7, 9), "sure"),
     ((13, 16), "impossible"), ((0, 24), "sure"), ((0, 1), "impossible")],
)
def test_verdicts_come_from_the_exact_solver(state: tuple[int | Fraction, ...], word: str) -> None:
    assert game24.verdict(state) == word


def test_evaluation_phrases_and_verdicts_are_single_tokens() -> None:
    tokenizer = build_tokenizer()
    text = "Evaluate: 8/3 9 -> impossible\nEvaluate: 5 6 9 -> sure\n"
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])  # type: ignore[attr-defined,operator]
    assert tokens[:9] == ["Evaluate: ", "8", "/", "3", " ", "9", " ->", " impossible", "\n"]
    assert tokens[9:] == ["Evaluate: ", "5", " ", "6", " ", "9", " ->", " sure", "\n"]


def _evaluation_examples(n: int, seed: int) -> list[list[tuple[str, bool]]]:
    config = TrainConfig()
    rng = random.Random(seed)
    puzzles = training_puzzles()
    return [make_evaluation_example(rng, puzzles, config.evaluation_size_weights,
                                    config.evaluation_sure_share) for _ in range(n)]


def test_evaluation_examples_are_labelled_by_the_solver_and_train_on_the_verdict() -> None:
    kinds: dict[tuple[int, str], int] = {}
    for segments in _evaluation_examples(3000, seed=1):
        (prompt, context), (answer, trained) = segments
        assert not context and trained  # the loss is on the verdict only
        assert prompt.startswith(game24.EVALUATE_PREFIX)
        assert prompt.endswith(game24.EVALUATE_ARROW)
        numbers = [game24.parse_number(t) for t in prompt[len("Evaluate: "):-3].split()]
        assert prompt == game24.evaluation_prompt(numbers)  # sorted, canonical form
        word = answer.strip()
        assert answer == f" {word}\n"
        assert word == ("sure" if game24.is_solvable(numbers) else "impossible")
        kinds[(len(numbers), word)] = kinds.get((len(numbers), word), 0) + 1
    # Every size and both verdicts for each; sure ones about half but for one number left.
    assert set(kinds) == {(n, w) for n in (1, 2, 3, 4) for w in ("sure", "impossible")}
    for n in (2, 3, 4):
        assert 0.4 < kinds[(n, "sure")] / (kinds[(n, "sure")] + kinds[(n, "impossible")]) < 0.6


def test_training_batches_hold_evaluation_lines_but_no_held_out_puzzle() -> None:
    tokenizer = build_tokenizer()
    config = TrainConfig()
    rng = random.Random(5)
    held_out = {game24.sort_numbers([F(n) for n in p]) for p in held_out_puzzles()}
    evaluated: set[tuple[Fraction, ...]] = set()
    for _ in range(40):
        for is_evaluation, batch in _length_bucketed_batches(
                training_puzzles(), rng, config, tokenizer):
            for ids, trained in batch:
                text = tokenizer.decode(ids[:-1])  # type: ignore[attr-defined]
                assert is_evaluation == text.startswith("Evaluate: ")
                if not is_evaluation:
                    continue
                assert ids[-1] == tokenizer.eos_token_id  # type: ignore[attr-defined]
                assert sum(trained) == 3  # the verdict, the newline, the end of text
                numbers = text.split(" -> ")[0][len("Evaluate: "):].split()
                evaluated.add(game24.sort_numbers([game24.parse_number(t) for t in numbers]))
    assert len(evaluated) > 2000  # of 40 x 128 drawn
    assert sum(len(s) == 4 for s in evaluated) > 500
    assert evaluated.isdisjoint(held_out)


def test_the_generator_support_excludes_every_held_out_puzzle() -> None:
    held_out = held_out_puzzles()
    assert len(held_out) == 100
    assert held_out.isdisjoint(impossible_puzzles())
    assert len(impossible_puzzles()) + len(training_puzzles()) == 1820 - 100
    seen = generator_states()
    fours = {s for s in seen if len(s) == 4}
    assert len(fours) == 1720
    assert all(game24.sort_numbers([F(n) for n in p]) not in seen for p in held_out)
    # Smaller states of a held-out puzzle are seen only when another source reaches them.
    assert (F(24),) in seen and game24.sort_numbers([F(5), F(6), F(9)]) in seen


def test_reachable_states_include_the_start_and_every_level() -> None:
    states = reachable_states((4, 6, 8, 8))
    assert game24.sort_numbers([F(4), F(6), F(8), F(8)]) in states
    assert {len(s) for s in states} == {1, 2, 3, 4}
    assert (F(24),) in states and game24.sort_numbers([F(6), F(4), F(1)]) in states
    assert len(reachable_states((1, 1, 1, 1))) < len(states)


def test_auc_counts_pairs_ranked_right() -> None:
    assert _auc([True, False], [0.9, 0.1]) == 1.0
    assert _auc([True, False], [0.1, 0.9]) == 0.0
    assert _auc([True, False, False], [0.5, 0.5, 0.1]) == 0.75  # a tie counts a half
    assert _auc([True, True], [0.5, 0.6]) is None


def test_bundled_model_ranks_sure_states_above_impossible_ones(demo_model) -> None:  # type: ignore[no-untyped-def]
    # Each verdict is one token of the bundled tokenizer, so one pass decides.
    assert [demo_model.token_text(t) for w in game24.VERDICT_WORDS
            for t in demo_model.encode_continuation(" " + w)] == [" sure", " impossible"]
    # Plain cases of each size: 24 itself, a product, one step away, a training puzzle.
    sure = [(24,), (4, 6), (2, 3, 4), (1, 2, 3, 4)]
    impossible = [(23,), (1, 1), (1, 1, 1), (1, 1, 1, 1)]
    values = self_evaluate(demo_model, sure + impossible)
    assert all(0.0 <= v <= 1.0 for v in values)
    assert min(values[:4]) > max(values[4:]), values
    # Batched with right padding, a state gets the value it gets on its own.
    alone = [self_evaluate(demo_model, [s])[0] for s in (sure[0], sure[3], impossible[2])]
    assert alone == pytest.approx([values[0], values[3], values[6]], abs=1e-5)


def test_a_session_counts_each_judgement_once(demo_model) -> None:  # type: ignore[no-untyped-def]
    session = demo_model.new_session(reuse=False)
    prompts = [game24.evaluation_prompt(s) for s in [(4, 6), (1, 1), (4, 6)]]
    first = session.judge(prompts, game24.VERDICT_WORDS)
    assert first[0] == first[2]
    tokens = sum(len(demo_model.encode_prompt(p)) for p in prompts[:2])
    assert (session.counter.forwarded, session.counter.generated) == (tokens, 2)
    assert session.judge(prompts[:1], game24.VERDICT_WORDS) == first[:1]
    assert (session.counter.forwarded, session.counter.generated) == (tokens, 2)


def test_self_evaluation_measure_on_two_held_out_puzzles(demo_model) -> None:  # type: ignore[no-untyped-def]
    puzzles = game24.load_puzzles("assets/data/game24_tot_901_1000.txt")[:2]
    result = measure_self_evaluation(demo_model, puzzles)
    states = reachable_states(puzzles[0]) | reachable_states(puzzles[1])
    assert result["self_eval_states"] == len(states)
    assert result["self_eval_sure_states"] == sum(game24.is_solvable(s) for s in states)
    assert result["self_eval_seen_states"] + result["self_eval_unseen_states"] == len(states)
    four = result["self_eval_by_size"]["4"]
    assert (four["states"], four["sure_states"]) == (2, 2)
    assert result["self_eval_unseen_states"] >= 2  # the puzzles themselves
    for key in ("accuracy", "seen_accuracy", "unseen_accuracy", "balanced_accuracy"):
        assert 0.0 <= result[f"self_eval_{key}"] <= 1.0
