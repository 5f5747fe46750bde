"""The bundled demo model: tokenizer, offline loading, and a short training run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.demo_model import DEMO_MODEL_DIR, build_tokenizer

TRACE = ("Input: 1 3 4 6\nStep: 6/4=3/2 (left: 1 3/2 3)\n"
         "Wait! Maybe I made some mistakes! I need to rethink from scratch.\n"
         "Step: 1-(3/4)=1/4 (left: 1/4 6)\nAnswer: 6/(1-(3/4))=24\n")


def test_tokenizer_round_trip() -> None:
    tokenizer = build_tokenizer()
    ids = tokenizer(TRACE)["input_ids"]  # type: ignore[operator]
    assert len(ids) == len(TRACE)  # one token per character
    assert tokenizer.decode(ids) == TRACE  # type: ignore[attr-defined]
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
    from engine.lm import HFModel

    model = HFModel(str(out))
    assert model.context_length == 384
    assert model.encode_prompt("Input: 1 2 3 4\n")[:6] == model.encode_continuation("Input:")
