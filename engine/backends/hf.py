"""The Hugging Face backend: loading a local causal LM offline, and running it.

``HFModel`` holds the weights and tokenizer (load once, share between searches); its
``new_session`` gives a ``ModelSession`` (``hf_session``), which keeps node KV caches
(``kv_cache``) and samples. Together they implement ``protocol.Backend``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from engine.backends import DEMO_MODEL_NAME as DEMO_MODEL_NAME
from engine.errors import InputError, ModelLoadError

if TYPE_CHECKING:
    from engine.backends.hf_session import ModelSession

logger = logging.getLogger(__name__)

DEMO_MODEL_DIR = Path(__file__).resolve().parents[2] / "assets" / "models" / "game24-demo"


def pick_device(requested: str | None = None) -> str:
    """``cuda`` > ``mps`` > ``cpu`` unless one is asked for."""
    if requested:
        return requested
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def weights_fingerprint(directory: Path) -> str:
    """A short hash of the weight files: names, sizes and their first and last MiB."""
    digest = hashlib.sha256()
    files = sorted(p for p in directory.glob("*") if p.suffix in (".safetensors", ".bin"))
    for path in files:
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}".encode())
        with path.open("rb") as handle:
            digest.update(handle.read(1 << 20))
            if size > 2 << 20:
                handle.seek(-(1 << 20), os.SEEK_END)
                digest.update(handle.read())
    return digest.hexdigest()[:16]


def _check_config_file(directory: Path) -> None:
    """``ModelLoadError`` saying what is wrong with a model directory's config.json: missing,
    empty, not JSON, or not a JSON object."""
    path = directory / "config.json"
    if not path.is_file():
        raise ModelLoadError(f"Cannot load model {str(directory)!r}: the directory has no "
                             "config.json (a Hugging Face model directory has one).")
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise ModelLoadError(f"Cannot load model {str(directory)!r}: {path} is empty.")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as err:
        raise ModelLoadError(f"Cannot load model {str(directory)!r}: {path} is not valid "
                             f"JSON ({err}).") from None
    if not isinstance(parsed, dict):
        raise ModelLoadError(f"Cannot load model {str(directory)!r}: {path} holds a JSON "
                             f"{type(parsed).__name__}, not an object of settings.")


def _causal_lm_config(source: str) -> Any:
    """The model's config, loaded offline; ``ModelLoadError`` unless it is a causal LM."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    directory = Path(source)
    if directory.is_dir():
        _check_config_file(directory)
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        if directory.is_dir():
            raise ModelLoadError(
                f"Cannot load model {source!r}: its config.json was not accepted ({first})."
            ) from None
        raise ModelLoadError(
            f"Cannot load model {source!r} offline: it is not a local directory nor a hub "
            f"id in the local cache ({first})."
        ) from None
    if getattr(config, "model_type", None) not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ModelLoadError(
            f"{source!r} is not a causal language model (model type "
            f"{getattr(config, 'model_type', '?')!r}); MCTS Lab needs one that generates "
            "text, e.g. GPT-2, Llama, Qwen or Mistral."
        )
    return config


class HFModel:
    """A causal LM and its tokenizer, loaded offline from a directory or the local cache."""

    def __init__(self, name_or_path: str | None = None, device: str | None = None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from engine.backends.shared_prefix import adopt

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        source = str(DEMO_MODEL_DIR) if name_or_path in (None, "", DEMO_MODEL_NAME) else str(
            name_or_path
        )
        self.name = DEMO_MODEL_NAME if source == str(DEMO_MODEL_DIR) else source
        looks_like_path = os.sep in source or source.startswith((".", "~"))
        path = Path(source).expanduser()
        if looks_like_path and not path.is_dir():
            raise ModelLoadError(f"No model directory at {source}: give a directory with "
                                 "config.json and weights, or a cached hub id.")
        config = _causal_lm_config(source)
        self.device = pick_device(device)
        dtype = torch.float32 if self.device == "cpu" else "auto"
        try:
            model = AutoModelForCausalLM.from_pretrained(
                source, config=config, local_files_only=True, dtype=dtype
            )
            self.tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        except ValueError as err:
            raise ModelLoadError(
                f"{source!r} is not a causal language model "
                f"({type(config).__name__}): {str(err).splitlines()[0]}"
            ) from None
        except OSError as err:
            raise ModelLoadError(f"Cannot load {source!r}: {str(err).splitlines()[0]}") from None
        self.model: Any = model.to(self.device)  # type: ignore[arg-type]
        self.model.eval()
        adopt(self.model)  # parallel batches hold their common prefix once
        self.chat = bool(getattr(self.tokenizer, "chat_template", None))
        self.eos_ids = self._eos_ids()
        self.context_length = int(
            getattr(config, "max_position_embeddings", None)
            or getattr(config, "n_positions", None)
            or 4096
        )
        self.fingerprint = weights_fingerprint(path) if path.is_dir() else source
        self._token_text: dict[int, str] = {}

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for value in (self.tokenizer.eos_token_id,
                      getattr(self.model.generation_config, "eos_token_id", None)):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, list):
                ids.update(int(v) for v in value)
        return ids

    def forward(self, ids: torch.Tensor, cache: Any, mask: torch.Tensor | None = None,
                positions: torch.Tensor | None = None) -> torch.Tensor:
        """Run ``ids`` (batch, new tokens) after ``cache`` (updated in place); return logits.

        Siblings share a prefix length, so their rows hold no padding and the mask is all
        ones. Rows of different paths (parallel MCTS, ``hf_batch``) are left-padded: they
        pass their ``mask`` (batch, past + new) and the new tokens' ``positions``.
        """
        if mask is None:
            past = cache.get_seq_length()
            mask = torch.ones(ids.shape[0], past + ids.shape[1], dtype=torch.long)
        extra = {} if positions is None else {"position_ids": positions.to(self.device)}
        with torch.inference_mode():
            out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                             cache=cache, use_cache=True, **extra)
        return out.logits  # type: ignore[no-any-return]

    def token_text(self, token_id: int) -> str:
        """The text of one token (memoised; special tokens decode to '')."""
        text = self._token_text.get(token_id)
        if text is None:
            text = str(self.tokenizer.decode([token_id], skip_special_tokens=True))
            self._token_text[token_id] = text
        return text

    def decode(self, token_ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(token_ids), skip_special_tokens=True))

    def encode_prompt(self, prompt: str) -> list[int]:
        """Token ids of the prompt, wrapped in the chat template for instruct models."""
        if self.chat:
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False,
                add_generation_prompt=True,
            )
        else:
            text = prompt
        ids = list(self.tokenizer(text, add_special_tokens=not self.chat)["input_ids"])
        if len(ids) >= self.context_length:
            raise InputError(f"The prompt is {len(ids)} tokens; the model's context is "
                             f"{self.context_length}. Shorten the problem.")
        return ids

    def encode_continuation(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def new_session(self, reuse: bool = True, budget_bytes: int = 512 << 20) -> ModelSession:
        """A session for one search: node caches, batched sampling, token counts."""
        from engine.backends.hf_session import ModelSession

        return ModelSession(self, reuse=reuse, budget_bytes=budget_bytes)


