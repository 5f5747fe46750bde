"""The model as its own value function: how sure it is that 24 can still be reached.

The bundled model is trained on lines like ``Evaluate: 5 6 9 -> sure`` (see
``engine.training.demo_data``). Its value of a state is one forward pass over the prompt
``Evaluate: 5 6 9 ->``: the probability of the next token `` sure``, normalised over the
two verdict tokens, so that the rest of the vocabulary does not dilute it. The search
computes the same number through ``BackendSession.judge``; this is that call for a batch
of states, for measuring the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from engine.backends.hf import HFModel
from engine.tasks import game24


def self_evaluate(model: HFModel, states: Sequence[Sequence[Fraction | int]]) -> list[float]:
    """P(sure) / (P(sure) + P(impossible)) for each state, in order."""
    session = model.new_session(reuse=False)
    return session.judge([game24.evaluation_prompt(s) for s in states], game24.VERDICT_WORDS)
