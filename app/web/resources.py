"""What the pages share: the store and the model (loaded once per process), example puzzles.

Errors a user can cause (a missing model, an unreadable database) are shown with
``st.error`` by the caller; these functions let ``MctsLabError`` through unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from engine.backends import load_backend
from engine.backends.hf import DEMO_MODEL_NAME
from engine.backends.openai_server import is_server_spec
from engine.backends.protocol import Backend
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
def get_model(name: str) -> Backend:
    """The model ``name`` (``demo``, a local directory, a cached hub id, or a server's URL
    ``http://HOST:PORT/v1[?model=NAME]``), loaded once."""
    return load_backend(None if name in ("", DEMO_MODEL_NAME) else name)


def cached_hub_models() -> list[str]:
    """The ids of the models in the local Hugging Face cache (none if there is no cache)."""
    try:
        from huggingface_hub import scan_cache_dir

        repos = scan_cache_dir().repos
    except Exception:  # noqa: BLE001 - no cache, or one it cannot read: nothing to list
        return []
    return sorted(r.repo_id for r in repos if r.repo_type == "model")


def servers_used_before(store: RunStore) -> list[str]:
    """The model servers that stored runs were made with (their recorded model names)."""
    return sorted({r.model_name for r in store.list_runs() if is_server_spec(r.model_name)})


def known_models(store: RunStore | None) -> list[str]:
    """What the model box offers: the bundled model, cached models, servers used before."""
    servers = servers_used_before(store) if store is not None else []
    return [DEMO_MODEL_NAME, *cached_hub_models(), *servers]


@st.cache_data
def example_puzzles() -> list[str]:
    """The bundled Game-of-24 puzzles, as the text a user would type."""
    return [" ".join(str(n) for n in p) for p in load_puzzles(str(EXAMPLES_FILE))]
