"""Shared fixtures: the real bundled demo model, loaded once per test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@pytest.fixture(scope="session")
def demo_model():  # type: ignore[no-untyped-def]
    from engine.backends.hf import HFModel

    return HFModel()
