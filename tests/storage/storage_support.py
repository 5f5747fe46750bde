"""Helpers shared by the storage tests (imported as a plain module, like apptest_support)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.config import SearchConfig
from engine.core.events import Event
from engine.core.tree import Tree
from storage import RunStore, open_store

PROBLEM = "4 5 6 10"
ITERATIONS = 30
MANUAL_REFLECTION_AFTER = 5
"""After this many iterations a reflection is added by hand, like the app's button does."""

@dataclass
class LiveRun:
    db: Path
    run_id: int
    config: SearchConfig
    events: list[Event]
    """Every event of the live search, in order."""
    live_after_iteration: list[Tree] = field(default_factory=list)
    """``[k]``: the live tree after k completed iterations (k = 0..30)."""
    live_after_phase: dict[tuple[int, str], Tree] = field(default_factory=dict)
    """``[(k, phase)]``: the live tree right after that phase of iteration k."""
    manual_parent: int = -1
    """The node that got the hand-added reflection."""
    replayed_after_append: list[Tree] = field(default_factory=list)
    """``[k]``: ``store.tree_at(run_id)`` read right after iteration k's events were saved."""


def db_dump(db: Path) -> list[str]:
    """The database's whole content as SQL, to show that a refused operation changed
    nothing."""
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def copy_store(live: LiveRun, tmp_path: Path) -> tuple[RunStore, Path]:
    """A fresh database holding a copy of the live run (via export and import), so a test
    can change it freely; the copy's id is 1."""
    doc = open_store(str(live.db)).export_run(live.run_id)
    db = tmp_path / "copy.db"
    store = open_store(str(db))
    assert store.import_run(doc) == 1
    return store, db
