"""Helpers shared by the storage tests (imported as a plain module, like apptest_support)."""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pg_server import PgServer
from sqlalchemy import create_engine, text

from engine.core.config import SearchConfig
from engine.core.events import Event
from engine.core.tree import Tree
from storage import RunStore, open_store
from storage.database import resolve_url

PROBLEM = "4 5 6 10"
ITERATIONS = 30
MANUAL_REFLECTION_AFTER = 5
"""After this many iterations a reflection is added by hand, like the app's button does."""
BACKENDS = ["sqlite", "postgresql"]


class DbFactory:
    """``factory()``: a fresh, empty database of one backend, as ``--db`` takes it: a file
    path in ``folder`` (SQLite) or the URL of a new database on ``server`` (PostgreSQL)."""

    def __init__(self, backend: str, folder: Path, server: PgServer | None) -> None:
        self.backend, self.folder, self.server = backend, folder, server
        self._numbers = itertools.count(1)

    def __call__(self) -> str:
        if self.server is None:
            return str(self.folder / f"db{next(self._numbers)}.db")
        return self.server.new_database()


@dataclass
class LiveSearch:
    """The live search behind ``live_run``: its trees, and the appends that save it."""

    problem: str
    config: SearchConfig
    model_name: str
    model_fingerprint: str
    events: list[Event]
    live_after_iteration: list[Tree] = field(default_factory=list)
    live_after_phase: dict[tuple[int, str], Tree] = field(default_factory=dict)
    manual_parent: int = -1
    steps: list[tuple[list[Event], dict[str, Any]] | None] = field(default_factory=list)
    """In order: an append (its events and progress), or ``None``: read the tree back."""


@dataclass
class LiveRun:
    db: str
    """The database (a path or a URL) holding the run."""
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
    backend: str = "sqlite"
    new_db: DbFactory | None = None
    """Fresh databases of the same backend."""


def db_dump(db: str | Path) -> list[Any]:
    """The database's whole content (SQLite: as SQL; PostgreSQL: every row of our tables),
    to show that a refused operation changed nothing."""
    url = resolve_url(str(db))
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(url.database))
        try:
            return list(conn.iterdump())
        finally:
            conn.close()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [(table, [tuple(row) for row in conn.execute(
                        text(f"SELECT * FROM {table} ORDER BY 1"))])
                    for table in ("alembic_version", "runs", "events")]
    finally:
        engine.dispose()


def integrity_problems(db: str | Path) -> list[str]:
    """What is wrong with the database: SQLite's ``integrity_check``; on both, events whose
    run is gone and runs whose ``seq`` are not 0, 1, 2, ... without a gap."""
    url = resolve_url(str(db))
    problems: list[str] = []
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(url.database))
        try:
            checked = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
        if checked != [("ok",)]:
            problems.append(f"integrity_check: {checked}")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            orphans = conn.execute(text(
                "SELECT count(*) FROM events WHERE run_id NOT IN (SELECT id FROM runs)")).scalar()
            gaps = conn.execute(text(
                "SELECT run_id FROM events GROUP BY run_id "
                "HAVING min(seq) <> 0 OR max(seq) <> count(*) - 1")).all()
    finally:
        engine.dispose()
    if orphans:
        problems.append(f"{orphans} events without a run")
    if gaps:
        problems.append(f"runs with gaps in seq: {[g[0] for g in gaps]}")
    return problems


def copy_store(live: LiveRun, tmp_path: Path) -> tuple[RunStore, str]:
    """A fresh database of the live run's backend holding a copy of the live run (via export
    and import), so a test can change it freely; the copy's id is 1."""
    doc = open_store(live.db).export_run(live.run_id)
    db = live.new_db() if live.new_db is not None else str(tmp_path / "copy.db")
    store = open_store(db)
    assert store.import_run(doc) == 1
    return store, db
