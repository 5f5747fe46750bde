"""What the pages share: the store and the model (loaded once per process), example puzzles.

Errors a user can cause (a missing model, an unreadable database) are shown with
``st.error`` by the caller; these functions let ``MctsLabError`` through unchanged.
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from engine.backends import DEMO_MODEL_NAME, load_backend
from engine.backends.openai_server import is_server_spec
from engine.tasks.game24 import load_puzzles
from storage import RunStore, open_store

if TYPE_CHECKING:
    from engine.backends.protocol import Backend  # with torch: loaded with the model

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


WARM_UP_DELAY_S = 2.0
"""How long after a first screen is drawn torch starts loading: the browser is still
painting that screen, and an import beside it slowed the paint (2 cores)."""
_warm_up_lock = threading.Lock()
_warm_up: threading.Timer | None = None


def warm_up() -> None:
    """Import torch (seconds) in the background, once per process: a page calls this after
    it is drawn, so it shows at once and its first *New run* waits less. (Only torch, a
    library with no import cycle through this project's modules: a page importing it at
    the same time simply waits for it.)"""
    global _warm_up
    with _warm_up_lock:
        if _warm_up is None:
            _warm_up = threading.Timer(WARM_UP_DELAY_S, importlib.import_module, ("torch",))
            _warm_up.name, _warm_up.daemon = "mctslab-warm-up", True
            _warm_up.start()


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
