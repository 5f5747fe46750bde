"""The server backend against a real vLLM server, beside the HF backend on the same model:
tokens, sampled steps and their merging, greedy rollouts, forced text and the judge."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.backends import load_backend
from engine.backends.hf import HFModel
from engine.backends.openai_server import ServerModel, parse_server_spec
from engine.backends.protocol import StopRule
from engine.tasks import make_task
from engine.tasks.game24 import evaluation_prompt, load_puzzles
from engine.tasks.reflection import REFLECTION_LINE
from engine.tasks.task import VERDICT_WORDS

HELD_OUT = Path(__file__).resolve().parents[2] / "assets" / "data" / "game24_tot_901_1000.txt"


def test_vllm_model_spec_forms() -> None:
    assert parse_server_spec("http://127.0.0.1:8000/v1") == ("http://127.0.0.1:8000/v1", None)
    assert parse_server_spec("http://h:1/v1/?model=m") == ("http://h:1/v1", "m")
    assert parse_server_spec("http://h:1?model=m", "other") == ("http://h:1/v1", "other")


def test_vllm_backend_names_tokens_and_context(vllm_model: ServerModel, vllm_url: str,
                                                demo_model: HFModel) -> None:
    assert vllm_model.name == f"{vllm_url}?model=demo"
    assert vllm_model.context_length == demo_model.context_length == 384
    assert vllm_model.chat is False
    # The single-string form names the same model and fingerprint.
    again = load_backend(vllm_model.name)
    assert (again.name, again.fingerprint) == (vllm_model.name, vllm_model.fingerprint)
    prompt = make_task("game24", "4 5 6 10", None).prompt(False)
    assert vllm_model.encode_prompt(prompt) == demo_model.encode_prompt(prompt)
    text = "Step: 10-4=6 (left: 5 6 6)\n"
    ids = vllm_model.encode_continuation(text)
    assert ids == demo_model.encode_continuation(text)
    assert vllm_model.decode(ids) == text
    assert [vllm_model.token_text(t) for t in ids] == [demo_model.token_text(t) for t in ids]


def test_vllm_sampled_steps_are_lines_merged_with_counts(vllm_model: ServerModel) -> None:
    prompt = vllm_model.encode_prompt(make_task("game24", "4 5 6 10", None).prompt(False))
    session = vllm_model.new_session()
    samples = session.sample([(0, prompt)], 8, StopRule("line", 64), 1.0,
                             torch.Generator().manual_seed(1))
    assert sum(s.count for s in samples) == 8
    assert len({tuple(s.token_ids) for s in samples}) == len(samples)  # merged by ids
    assert [(-s.count, -s.logprob) for s in samples] == sorted(
        (-s.count, -s.logprob) for s in samples)
    for s in samples:
        assert s.ended == "stop" and s.text.endswith("\n") and s.text.count("\n") == 1
        assert len(s.token_ids) == len(s.logprobs) == len(s.confidences)
        assert all(0.0 < c <= 1.0 for c in s.confidences)
        assert s.text == "".join(vllm_model.token_text(t) for t in s.token_ids)
    assert session.counter.generated == sum(len(s.token_ids) * s.count for s in samples)
    assert session.counter.unique == sum(len(s.token_ids) for s in samples)
    assert session.counter.forwarded >= session.counter.generated
    # The same seed gives the same samples (the request seed comes from the generator).
    again = vllm_model.new_session().sample([(0, prompt)], 8, StopRule("line", 64), 1.0,
                                            torch.Generator().manual_seed(1))
    assert [(s.token_ids, s.count) for s in again] == [(s.token_ids, s.count) for s in samples]
    # A mini-step stops at its token count.
    mini = session.sample([(0, prompt)], 2, StopRule("tokens", 5), 1.0,
                          torch.Generator().manual_seed(2))
    assert all(len(s.token_ids) == 5 and s.ended == "length" for s in mini)


def test_vllm_greedy_rollouts_match_hf_on_20_held_out_puzzles(
        vllm_model: ServerModel, demo_model: HFModel) -> None:
    puzzles = [" ".join(map(str, p)) for p in load_puzzles(str(HELD_OUT))][-20:]
    same, widest = 0, 0.0
    for puzzle in puzzles:
        task = make_task("game24", puzzle, None)
        outs = []
        for model in (demo_model, vllm_model):
            prompt = model.encode_prompt(task.prompt(False))
            rule = StopRule("rollout", 200, task.is_final_line, None)
            outs.append(model.new_session().sample([(0, prompt)], 1, rule, 0.0,
                                                   torch.Generator().manual_seed(0))[0])
        hf, served = outs
        if hf.text == served.text:
            same += 1
            assert served.token_ids == hf.token_ids and served.ended == hf.ended
            widest = max([widest, *(abs(a - b) for a, b in
                                    zip(hf.confidences, served.confidences, strict=True))])
    assert same >= 18, f"only {same}/20 greedy rollouts agree"
    assert widest <= 0.02


def test_vllm_forced_reflection_and_judge_match_hf(vllm_model: ServerModel,
                                                   demo_model: HFModel) -> None:
    prompt = demo_model.encode_prompt(make_task("game24", "4 5 6 10", None).prompt(False))
    step = demo_model.encode_continuation("Step: 10-4=6 (left: 5 6 6)\n")
    forced = demo_model.encode_continuation(REFLECTION_LINE + "\n")
    path = [(0, prompt), (1, step)]
    hf = demo_model.new_session().force(path, forced)
    session = vllm_model.new_session()
    served = session.force(path, forced)
    assert served.token_ids == hf.token_ids and served.text == hf.text
    assert served.logprobs == pytest.approx(hf.logprobs, abs=1e-3)
    assert served.confidences == pytest.approx(hf.confidences, abs=0.02)
    assert session.counter.unique == len(forced)
    # Forwarded as the server reports it: the whole prompt less what its cache served, and
    # the one token generated to answer the request.
    assert 0 < session.counter.forwarded <= len(prompt) + len(step) + len(forced) + 1
    assert session.counter.generated == 0

    prompts = [evaluation_prompt(s) for s in ([4, 6], [1, 1], [2, 3, 4], [5, 5, 5, 5])]
    hf_values = demo_model.new_session().judge(prompts, VERDICT_WORDS)
    values = session.judge(prompts + prompts[:1], VERDICT_WORDS)
    assert values[:4] == pytest.approx(hf_values, abs=0.01)
    assert values[4] == values[0]
    assert session.counter.judged == 4  # the repeated prompt is answered from memory
    assert session.counter.generated == 4  # one verdict token a prompt, as in HF


def test_vllm_samples_keep_each_tokens_top_5_as_hf_computes_them(
        vllm_model: ServerModel, demo_model: HFModel) -> None:
    """``Sample.top`` from the server's top log-probs: 5 per token, most likely first, the
    chosen token first when decoding is greedy, with the probability the HF sampler gives."""
    prompt = vllm_model.encode_prompt(make_task("game24", "4 5 6 10", None).prompt(False))
    served = vllm_model.new_session().sample([(0, prompt)], 1, StopRule("line", 64), 0.0,
                                             torch.Generator().manual_seed(3))[0]
    local = demo_model.new_session().sample([(0, prompt)], 1, StopRule("line", 64), 0.0,
                                            torch.Generator().manual_seed(3))[0]
    assert served.token_ids == local.token_ids
    assert len(served.top) == len(served.token_ids)
    for token, top, mine in zip(served.token_ids, served.top, local.top, strict=True):
        probs = [p for _, p in top]
        assert len(top) == 5 and probs == sorted(probs, reverse=True)
        assert all(0.0 <= p <= 1.0 for p in probs) and sum(probs) <= 1.0 + 1e-6
        assert token == top[0][0]  # greedy: the most likely token
        assert mine[0][0] == token and abs(top[0][1] - mine[0][1]) < 1e-3
