"""What the pages share: the store and the model (loaded once per process), example puzzles.

Errors a user can cause (a missing model, an unreadable database) are shown with
``st.error`` by the caller; these functions let ``MctsLabError`` through unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from engine.backends.hf import DEMO_MODEL_NAME, HFModel
from engine.tasks.game24 import load_puzzles
from storage import RunStore, open_store

DB_ENV = "MCTSLAB_DB"
EXAMPLES_FILE = Path(__file__).resolve().parents[2] / "assets" / "data" / \
    "game24_tot_901_1000.txt"


def db_location() -> str | None:
    """The database the app was started with (``mctslab app --db``), or None: the default."""
    return os.environ.get(DB_ENV) or None


@st.cache_resource(show_spinner="Opening the run database…")
def _store(db: str | None) -> RunStore:
    return open_store(db)


def get_store() -> RunStore:
    """The run store of this app (``StorageError`` if the database cannot be used)."""
    return _store(db_location())


@st.cache_resource(show_spinner="Loading the language model (once per app)…")
def get_model(name: str) -> HFModel:
    """The model ``name`` (``demo``, a local directory or a cached hub id), loaded once."""
    return HFModel(None if name in ("", DEMO_MODEL_NAME) else name)


@st.cache_data
def example_puzzles() -> list[str]:
    """The bundled Game-of-24 puzzles, as the text a user would type."""
    return [" ".join(str(n) for n in p) for p in load_puzzles(str(EXAMPLES_FILE))]
