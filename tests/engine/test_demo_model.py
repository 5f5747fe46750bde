"""The bundled demo model: tokenizer, offline loading, and a short training run."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

from engine.tasks import game24
from engine.training.demo_model import (
    DEMO_MODEL_DIR,
    Segments,
    TrainConfig,
    _collate,
    build_tokenizer,
    encode_example,
    make_example,
    training_puzzles,
)

TRACE = ("Input: 1 3 4 6\nStep: 6/4=3/2 (left: 1 3/2 3)\n"
         "Wait! Maybe I made some mistakes! I need to rethink from scratch.\n"
         "Step: 1-(3/4)=1/4 (left: 1/4 6)\nAnswer: 6/(1-(3/4))=24\n")


def test_tokenizer_round_trip() -> None:
    tokenizer = build_tokenizer()
    ids = tokenizer(TRACE)["input_ids"]  # type: ignore[operator]
    assert tokenizer.decode(ids) == TRACE  # type: ignore[attr-defined]
    tokens = tokenizer.convert_ids_to_tokens(ids)  # type: ignore[attr-defined]
    # Numbers up to three digits and the format's fixed phrases are one token each.
    assert tokens[:9] == ["Input: ", "1", " ", "3", " ", "4", " ", "6", "\n"]
    assert tokens[9:16] == ["Step: ", "6", "/", "4", "=", "3", "/"]
    assert "Wait! Maybe I made some mistakes! I need to rethink from scratch." in tokens
    long = "Step: 13*13=169 (left: 2197 28561 0 007)\n"
    pieces = tokenizer.convert_ids_to_tokens(tokenizer(long)["input_ids"])  # type: ignore[attr-defined,operator]
    assert pieces[1:6] == ["13", "*", "13", "=", "169"]
    assert pieces[7:9] == ["219", "7"]  # longer numbers split into runs of three digits
    assert "".join(pieces) == long
    unk = tokenizer.unk_token_id  # type: ignore[attr-defined]
    assert unk not in tokenizer(long)["input_ids"]  # type: ignore[operator]
    assert tokenizer("é")["input_ids"] == [unk]  # type: ignore[operator]
    assert tokenizer("<eos>")["input_ids"] == [tokenizer.eos_token_id]  # type: ignore[operator,attr-defined]


def test_bundled_model_loads_offline_and_is_small() -> None:
    code = (
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        f"d = {str(DEMO_MODEL_DIR)!r}\n"
        "m = AutoModelForCausalLM.from_pretrained(d); t = AutoTokenizer.from_pretrained(d)\n"
        "ids = t('Input: 4 5 6 10\\n', return_tensors='pt')\n"
        "out = m.generate(**ids, max_new_tokens=30, do_sample=False)\n"
        "print(t.decode(out[0][ids['input_ids'].shape[1]:]))\n"
    )
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=120, check=True)
    assert result.stdout.startswith("Step: ")
    size = sum(p.stat().st_size for p in DEMO_MODEL_DIR.iterdir())
    assert size <= 10 * 1024 * 1024
    assert (DEMO_MODEL_DIR / "README.md").is_file()  # the model card


def test_short_training_run_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "train-demo-model", "--out", str(out),
         "--steps", "30", "--skip-eval"],
        capture_output=True, text=True, timeout=600, check=True,
    )
    assert '"steps": 30' in result.stdout
    from engine.backends.hf import HFModel

    model = HFModel(str(out))
    assert model.context_length == 384
    assert model.encode_prompt("Input: 1 2 3 4\n")[:2] == model.encode_continuation("Input: 1")


def _kinds(seed: int, config: TrainConfig, n: int) -> dict[str, list[Segments]]:
    rng = random.Random(seed)
    puzzles = training_puzzles()
    found: dict[str, list[Segments]] = {"solution": [], "reflection": [], "exploration": []}
    for _ in range(n):
        segments = make_example(rng.choice(puzzles), rng, config)
        text = "".join(t for t, _ in segments)
        kind = ("reflection" if game24.REFLECTION_LINE in text
                else "solution" if game24.ANSWER_PREFIX in text else "exploration")
        found[kind].append(segments)
    return found


def test_training_examples_train_on_results_not_on_dead_end_choices() -> None:
    tokenizer = build_tokenizer()
    eos = tokenizer.eos_token_id  # type: ignore[attr-defined]
    found = _kinds(3, TrainConfig(), 600)
    # All three kinds are drawn, in roughly the configured shares (0.4 / 0.45 / 0.15).
    assert 190 <= len(found["solution"]) <= 290
    assert 220 <= len(found["reflection"]) <= 320
    assert 50 <= len(found["exploration"]) <= 130
    for kind, examples in found.items():
        for segments in examples:
            text = "".join(t for t, _ in segments)
            ids, trained = encode_example(segments, tokenizer)
            # The same ids the tokenizer gives for the whole text, EOS only after an answer.
            whole = tokenizer(text)["input_ids"]  # type: ignore[operator]
            assert ids[: len(whole)] == whole
            assert (ids[-1] == eos) == (kind != "exploration")
            assert len(ids) == len(whole) + (kind != "exploration")
            pieces = tokenizer.convert_ids_to_tokens(whole)  # type: ignore[attr-defined]
            # The text again, each untrained character shown as "_".
            shown = "".join(p if keep else "_" * len(p)
                            for p, keep in zip(pieces, trained, strict=False))
            trained_chars = [c != "_" for c in shown]
            lines = text.splitlines()
            assert shown.startswith("_" * (len(lines[0]) + 1))  # the input line is context
            if kind == "exploration":
                # Every step's operand choice is context; its result and list are learned.
                for line in shown.splitlines()[1:]:
                    assert line.startswith("_" * len("Step: 1+1"))
                    assert line.lstrip("_").startswith("=")
            if kind == "reflection":
                cut = text.index(game24.REFLECTION_LINE)
                assert all(trained_chars[cut:])  # reflection line and the solution after it
                for line in shown[:cut].splitlines()[1:]:
                    assert line.lstrip("_").startswith("=")  # dead-end choice untrained
            if kind == "solution":
                assert all(trained_chars[len(lines[0]) + 1:])
    # Every complete example verifies.
    for segments in found["solution"] + found["reflection"]:
        check = game24.check_trace("".join(t for t, _ in segments))
        assert check.valid and check.solved


def test_collate_pads_and_masks() -> None:
    tokenizer = build_tokenizer()
    vocab = tokenizer.get_vocab()  # type: ignore[attr-defined]
    short = encode_example([("Input: 1 2 3 4\n", False), ("Step: 4*3=12", True)], tokenizer)
    long = encode_example([("Input: 1 2 3 4\n", False), ("Step: 4*3=12 (left", True)], tokenizer)
    batch = _collate([short, long], pad_id=0)
    assert batch["input_ids"].shape == (2, len(long[0]))
    assert batch["attention_mask"][0].sum() == len(short[0])
    assert (batch["labels"][0, len(short[0]):] == -100).all()
    assert (batch["labels"][:, :9] == -100).all()  # the input line: "Input: ", 4 numbers, 4 gaps
    assert batch["labels"][1, 9] == vocab["Step: "]
    assert batch["labels"][1, 11] == vocab["*"]


def test_quality_measure_and_model_card(tmp_path: Path) -> None:
    import json
    import shutil

    from engine.backends.hf import HFModel
    from engine.training.demo_card import write_model_card
    from engine.training.quality import measure_quality

    model = HFModel(str(DEMO_MODEL_DIR))
    puzzles = game24.load_puzzles("assets/data/game24_tot_901_1000.txt")[:3]
    quality = measure_quality(model, puzzles, samples=4, seed=0)
    assert quality["puzzles"] == 3
    for key in ("greedy_solve_rate", "best_of_4_solve_rate", "sampled_step_legal_rate",
                "reflection_restart_rate"):
        assert 0.0 <= quality[key] <= 1.0
    assert quality["best_of_4_solve_rate"] * 3 == round(quality["best_of_4_solve_rate"] * 3)
    again = measure_quality(model, puzzles, samples=4, seed=0)
    assert {k: v for k, v in again.items() if not k.endswith("wall_s")} == {
        k: v for k, v in quality.items() if not k.endswith("wall_s")}  # seeded
    shutil.copy(DEMO_MODEL_DIR / "training.json", tmp_path / "training.json")
    card = write_model_card(tmp_path, quality).read_text()
    assert json.loads((tmp_path / "quality.json").read_text()) == quality
    assert f"| {quality['sampled_step_legal_rate']:.0%} |" in card
    assert "| training time: at most 15 minutes |" in card
    # Self-evaluation: how many reachable states, how many of them seen in training.
    n, seen = quality["self_eval_states"], quality["self_eval_seen_states"]
    assert f"{seen:,} of the {n:,} states are seen" in card
    assert "| self-evaluation right, unseen states: at least 80% |" in card
