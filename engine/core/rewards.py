"""Rewards: Marco-o1 token confidence, and the rule that combines it with a verifier."""

from __future__ import annotations

import math
from collections.abc import Sequence


def token_confidence(chosen_logprob: float, top_logprobs: Sequence[float]) -> float:
    """``c = p(chosen) / sum of the top-5 probabilities`` at one position.

    ``top_logprobs`` are the log-probabilities of the most likely tokens (the first five
    are used). The chosen token need not be among them.
    """
    top = sorted(top_logprobs, reverse=True)[:5]
    if not top:
        raise ValueError("need at least one top log-probability")
    return math.exp(chosen_logprob) / sum(math.exp(lp) for lp in top)


def confidence_value(confidences: Sequence[float]) -> float:
    """A rollout's value: the mean confidence over its tokens (0 for no tokens)."""
    return sum(confidences) / len(confidences) if confidences else 0.0


def combine(reward: str, confidences: Sequence[float], verdict: bool | None) -> tuple[float, str]:
    """The value of a rollout and which reward decided it.

    ``verifier``: 1 if verified correct, else 0 (unknown counts as not solved);
    ``confidence``: mean token confidence; ``combined``: the verifier when it decided,
    otherwise confidence.
    """
    if reward == "confidence":
        return confidence_value(confidences), "confidence"
    if reward == "verifier":
        return (1.0 if verdict is True else 0.0), "verifier"
    if reward == "combined":
        if verdict is not None:
            return (1.0 if verdict else 0.0), "verifier"
        return confidence_value(confidences), "confidence"
    raise ValueError(f"unknown reward {reward!r}")
