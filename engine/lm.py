"""The Hugging Face language model backend, with prefix KV-cache reuse.

``HFModel`` holds the weights and tokenizer (load once, share between searches).
``ModelSession`` belongs to one search: it keeps each expanded node's KV cache (the
parent's plus the node's own tokens) under a memory budget, samples siblings in one
batch, and counts the tokens it runs through the model.

Sampling walks a trie of samples: the k requested samples start as one row with
multiplicity k; at each position a row draws as many tokens as its multiplicity and
splits into one row per distinct token. Identical samples therefore share every
forward pass, and identical siblings come out merged with their count.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from engine.errors import InputError, ModelLoadError
from engine.rewards import token_confidence

logger = logging.getLogger(__name__)

DEMO_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "models" / "game24-demo"
DEMO_MODEL_NAME = "demo"

StopKind = Literal["line", "tokens", "rollout"]


@dataclass(frozen=True)
class StopRule:
    """When a sample ends: after a line (a step), after ``max_tokens`` (a mini-step), or at
    a final line / the end of text (a rollout). Every rule also stops at EOS."""

    kind: StopKind
    max_tokens: int
    is_final_line: Callable[[str], bool] | None = None


@dataclass
class Sample:
    """One generated continuation."""

    token_ids: list[int]
    logprobs: list[float]
    """Log-probability of each chosen token under the model (temperature 1)."""
    confidences: list[float]
    text: str
    count: int
    """How many of the requested samples are this exact continuation."""
    ended: str
    """``eos``, ``stop``, ``length`` or ``context``."""
    state: NodeState | None = None
    """The KV cache after the sample (kept only when cache reuse is on)."""

    @property
    def logprob(self) -> float:
        return float(sum(self.logprobs))


@dataclass
class NodeState:
    """A node's KV cache (batch 1) and the next-token logits after its last token."""

    cache: Any
    logits: torch.Tensor
    length: int

    def nbytes(self) -> int:
        total = self.logits.numel() * self.logits.element_size()
        for layer in getattr(self.cache, "layers", []):
            for name in ("keys", "values"):
                tensor = getattr(layer, name, None)
                if isinstance(tensor, torch.Tensor):
                    total += tensor.numel() * tensor.element_size()
        return total


@dataclass
class TokenCounter:
    forwarded: int = 0
    unique: int = 0
    generated: int = 0


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


class HFModel:
    """A causal LM and its tokenizer, loaded offline from a directory or the local cache."""

    def __init__(self, name_or_path: str | None = None, device: str | None = None) -> None:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

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
        try:
            config = AutoConfig.from_pretrained(source, local_files_only=True)
        except (OSError, ValueError) as err:
            raise ModelLoadError(
                f"Cannot load model {source!r} offline: it is not a local directory with a "
                f"config.json nor a hub id in the local cache ({str(err).splitlines()[0]})."
            ) from None
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        if getattr(config, "model_type", None) not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
            raise ModelLoadError(
                f"{source!r} is not a causal language model (model type "
                f"{getattr(config, 'model_type', '?')!r}); MCTS Lab needs one that generates "
                "text, e.g. GPT-2, Llama, Qwen or Mistral."
            )
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

    def forward(self, ids: torch.Tensor, cache: Any) -> torch.Tensor:
        """Run ``ids`` (batch, new tokens) after ``cache`` (updated in place); return logits.

        Rows never hold padding (siblings share a prefix length), so the mask is all ones.
        """
        past = cache.get_seq_length()
        mask = torch.ones(ids.shape[0], past + ids.shape[1], dtype=torch.long)
        with torch.inference_mode():
            out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                             cache=cache, use_cache=True)
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
        return ModelSession(self, reuse=reuse, budget_bytes=budget_bytes)


@dataclass
class _Row:
    token_ids: list[int]
    logprobs: list[float]
    confidences: list[float]
    count: int
    text: str = ""
    ended: str = ""


@dataclass
class ModelSession:
    """One search's view of the model: node caches, batching and token counts."""

    model: HFModel
    reuse: bool = True
    budget_bytes: int = 512 << 20
    counter: TokenCounter = field(default_factory=TokenCounter)
    _states: OrderedDict[int, NodeState] = field(default_factory=OrderedDict)
    _bytes: int = 0

    @property
    def cached_nodes(self) -> int:
        return len(self._states)

    def count_unique(self, n: int) -> None:
        """Add tokens that belong to the tree (the prompt) to the unique count."""
        self.counter.unique += n

    def _forward(self, ids: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]:
        from transformers import DynamicCache

        if cache is None:
            cache = DynamicCache(config=self.model.model.config)
        logits = self.model.forward(ids, cache)
        self.counter.forwarded += int(ids.numel())
        return logits[:, -1, :].float(), cache

    def state_for(self, path: Sequence[tuple[int, Sequence[int]]]) -> NodeState:
        """The state after the last node of ``path`` (``(node_id, token_ids)`` from the root).

        With reuse, start from the deepest cached node on the path; otherwise from scratch.
        """
        start, state = 0, None
        if self.reuse:
            for i in range(len(path) - 1, -1, -1):
                if path[i][0] in self._states:
                    state = self._states[path[i][0]]
                    self._states.move_to_end(path[i][0])
                    start = i + 1
                    break
        if start == len(path) and state is not None:
            return state
        ids = [t for _, tokens in path[start:] for t in tokens]
        cache = copy.deepcopy(state.cache) if state is not None else None
        logits, cache = self._forward(torch.tensor([ids]), cache)
        new = NodeState(cache, logits[0], (state.length if state else 0) + len(ids))
        if self.reuse:
            self.remember(path[-1][0], new)
        return new

    def remember(self, node_id: int, state: NodeState | None) -> None:
        """Keep ``state`` as ``node_id``'s cache, evicting least recently used ones."""
        if not self.reuse or state is None:
            return
        if node_id in self._states:
            self._bytes -= self._states.pop(node_id).nbytes()
        self._states[node_id] = state
        self._bytes += state.nbytes()
        while self._bytes > self.budget_bytes and len(self._states) > 1:
            _, evicted = self._states.popitem(last=False)
            self._bytes -= evicted.nbytes()

    def sample(
        self,
        path: Sequence[tuple[int, Sequence[int]]],
        k: int,
        rule: StopRule,
        temperature: float,
        generator: torch.Generator,
    ) -> list[Sample]:
        """``k`` continuations of ``path``, identical ones merged, most likely first."""
        state = self.state_for(path)
        keep_states = self.reuse and rule.kind != "rollout"
        rows = [_Row([], [], [], k)]
        logits = state.logits.unsqueeze(0)
        cache = copy.deepcopy(state.cache)
        length = state.length
        cache_rows = 1  # rows currently held in ``cache``
        done: list[Sample] = []
        while rows:
            rows, parents = self._draw(rows, logits, temperature, generator)
            length += 1
            open_rows, open_parents = [], []
            for row, parent in zip(rows, parents, strict=True):
                self._check_end(row, rule, length)
                if row.ended and (row.ended in ("eos", "context") or not keep_states):
                    done.append(self._finish(row, None))
                else:
                    open_rows.append(row)
                    open_parents.append(parent)
            if not open_rows:
                break
            if open_parents != list(range(cache_rows)):
                cache.batch_select_indices(torch.tensor(open_parents, device=self.model.device))
            last = torch.tensor([[r.token_ids[-1]] for r in open_rows])
            logits, cache = self._forward(last, cache)
            rows = []
            for i, row in enumerate(open_rows):
                if row.ended:
                    done.append(self._finish(row, self._row_state(cache, logits, i, length)))
                else:
                    rows.append(row)
            cache_rows = len(open_rows)
            if rows and len(rows) < len(open_rows):
                keep = [i for i, r in enumerate(open_rows) if not r.ended]
                cache.batch_select_indices(torch.tensor(keep, device=self.model.device))
                logits = logits[keep]
                cache_rows = len(keep)
        generated = sum(len(s.token_ids) * s.count for s in done)
        self.counter.generated += generated
        self.counter.unique += sum(len(s.token_ids) for s in done)
        done.sort(key=lambda s: (-s.count, -s.logprob))
        return done

    def _draw(
        self, rows: list[_Row], logits: torch.Tensor, temperature: float, gen: torch.Generator
    ) -> tuple[list[_Row], list[int]]:
        """Each row draws ``count`` next tokens and splits by distinct token."""
        logp = torch.log_softmax(logits.float(), dim=-1).cpu()
        top = torch.topk(logp, k=min(5, logp.shape[-1]), dim=-1).values
        new_rows: list[_Row] = []
        parents: list[int] = []
        for r, row in enumerate(rows):
            if temperature == 0:
                drawn = [int(torch.argmax(logp[r]))] * row.count
            else:
                probs = torch.softmax(logp[r] / temperature, dim=-1)
                drawn = torch.multinomial(probs, row.count, replacement=True,
                                          generator=gen).tolist()
            for token in dict.fromkeys(drawn):
                lp = float(logp[r, token])
                new_rows.append(_Row(
                    row.token_ids + [token], row.logprobs + [lp],
                    row.confidences + [token_confidence(lp, top[r].tolist())],
                    drawn.count(token), row.text + self.model.token_text(token),
                ))
                parents.append(r)
        return new_rows, parents

    def _check_end(self, row: _Row, rule: StopRule, length: int) -> None:
        token = row.token_ids[-1]
        if token in self.model.eos_ids:
            row.ended = "eos"
        elif "\n" in self.model.token_text(token) and rule.kind != "tokens":
            line = row.text.rstrip("\n").rsplit("\n", 1)[-1]
            if rule.kind == "line" and row.text.strip():
                row.ended = "stop"
            elif rule.kind == "rollout" and rule.is_final_line and rule.is_final_line(line):
                row.ended = "stop"
        if not row.ended and len(row.token_ids) >= rule.max_tokens:
            row.ended = "length"
        if not row.ended and length >= self.model.context_length:
            row.ended = "context"

    def _row_state(self, cache: Any, logits: torch.Tensor, i: int, length: int) -> NodeState:
        row_cache = copy.deepcopy(cache)
        row_cache.batch_select_indices(torch.tensor([i], device=self.model.device))
        return NodeState(row_cache, logits[i].clone(), length)

    def _finish(self, row: _Row, state: NodeState | None) -> Sample:
        return Sample(row.token_ids, row.logprobs, row.confidences, row.text, row.count,
                      row.ended, state)

    def force(self, path: Sequence[tuple[int, Sequence[int]]], token_ids: Sequence[int]
              ) -> Sample:
        """Score given tokens after ``path`` (a reflection); returns a sample with its state."""
        state = self.state_for(path)
        cache = copy.deepcopy(state.cache)
        logits_all: list[torch.Tensor] = [state.logits]
        step_logits = self.model.forward(torch.tensor([list(token_ids)]), cache)[0].float()
        self.counter.forwarded += len(token_ids)
        self.counter.unique += len(token_ids)
        logits_all += [step_logits[i] for i in range(step_logits.shape[0])]
        logprobs, confidences = [], []
        for i, token in enumerate(token_ids):
            logp = torch.log_softmax(logits_all[i], dim=-1).cpu()
            lp = float(logp[token])
            logprobs.append(lp)
            confidences.append(token_confidence(lp, torch.topk(logp, 5).values.tolist()))
        new_state = NodeState(cache, logits_all[-1], state.length + len(token_ids))
        return Sample(list(token_ids), logprobs, confidences, self.model.decode(token_ids), 1,
                      "stop", new_state if self.reuse else None)
