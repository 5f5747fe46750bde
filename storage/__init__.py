"""Runs that last: SQLite (or any SQLAlchemy database) persistence of search runs.

A run is its settings plus its stream of phase events; any moment of it is
``engine.core.tree.fold`` over a prefix of that stream. ``open_store`` opens (creating and
migrating as needed) a database and returns the ``RunStore`` that reads and writes it.
"""

from __future__ import annotations

import logging

from storage.database import open_engine
from storage.errors import StorageError
from storage.rows import RunInfo
from storage.store import RunStore

__all__ = ["RunInfo", "RunStore", "StorageError", "open_store"]

logger = logging.getLogger(__name__)


def open_store(db: str | None = None) -> RunStore:
    """The store in ``db``: a SQLAlchemy URL or a file path; ``None`` means ``$MCTSLAB_DB``,
    else ``mctslab.db`` in the user data directory. The schema is created or migrated on
    open, and runs whose writer process died are marked ``interrupted``. Raise
    ``StorageError`` (one line) if the database cannot be used."""
    engine, url = open_engine(db)
    store = RunStore(engine, url)
    interrupted = store.mark_interrupted_runs()
    if interrupted:
        logger.warning("marked interrupted (their writer died): runs %s",
                       ", ".join(map(str, interrupted)))
    return store
