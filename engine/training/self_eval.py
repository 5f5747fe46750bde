"""The model as its own value function: how sure it is that 24 can still be reached.

The bundled model is trained on lines like ``Evaluate: 5 6 9 -> sure`` (see
``engine.training.demo_data``). Its value of a state is one forward pass over the prompt
``Evaluate: 5 6 9 ->``: the probability of the next token `` sure``, normalised over the
two verdict tokens, so that the rest of the vocabulary does not dilute it.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import torch

from engine.backends.hf import HFModel
from engine.errors import InputError
from engine.tasks import game24

# Prompts per forward pass: they are about ten tokens, so this bounds memory, not speed.
CHUNK = 256


def verdict_token_ids(model: HFModel) -> tuple[int, int]:
    """The ids of `` sure`` and `` impossible``: the first token of each.

    For the bundled model each verdict is exactly one token. Another model may split a
    verdict; its first token is then the best one-pass proxy, but the two must differ.
    """
    sure, impossible = (model.encode_continuation(" " + w)[0] for w in game24.VERDICT_WORDS)
    if sure == impossible:
        raise InputError(f"{model.name}: the verdict words start with the same token, so "
                         "one forward pass cannot tell them apart.")
    return sure, impossible


def self_evaluate(model: HFModel, states: Sequence[Sequence[Fraction | int]]) -> list[float]:
    """P(sure) / (P(sure) + P(impossible)) for each state, in order; one pass per chunk."""
    sure, impossible = verdict_token_ids(model)
    values: list[float] = []
    for start in range(0, len(states), CHUNK):
        prompts = [model.encode_prompt(game24.evaluation_prompt(s))
                   for s in states[start : start + CHUNK]]
        width = max(len(ids) for ids in prompts)
        # Right padding: causal attention keeps each row's last real position unaffected,
        # and the position ids of real tokens stay 0, 1, 2, ...
        ids = torch.zeros((len(prompts), width), dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, : len(prompt)] = torch.tensor(prompt)
            mask[row, : len(prompt)] = 1
        with torch.inference_mode():
            logits = model.model(input_ids=ids.to(model.device),
                                 attention_mask=mask.to(model.device)).logits
        last = torch.tensor([len(p) - 1 for p in prompts])
        final = logits[torch.arange(len(prompts)), last.to(logits.device)].float()
        pair = torch.log_softmax(final[:, [sure, impossible]], dim=-1)
        values += pair[:, 0].exp().tolist()
    return values
