"""The tables: a run is its settings plus its stream of phase events.

Nothing else is stored: any tree of a run is ``engine.core.tree.fold`` over its events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_VERSION = 3
"""The schema this code writes; bumped with every migration that changes the tables."""

RUN_STATUSES = ("running", "paused", "finished", "failed", "interrupted")
"""``running``: a process is writing the run now (``owner_pid`` on ``owner_host``).
``paused``: saved between two steps, nobody writing it, resumable anywhere (a run in the
app between clicks, a fork not stepped yet). ``finished``: its search ended (budget spent or
tree exhausted). ``failed``: its search raised. ``interrupted``: its writer stopped
mid-search (Ctrl-C, a killed process), resumable."""


class Base(DeclarativeBase):
    """Declarative base of the MCTS Lab tables."""


class RunRow(Base):
    """One search: its problem, model and settings, and where it has got to."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    title: Mapped[str | None] = mapped_column(Text)
    problem: Mapped[str] = mapped_column(Text)
    task: Mapped[str] = mapped_column(String(32))
    model_name: Mapped[str] = mapped_column(Text)
    model_fingerprint: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    """``SearchConfig.model_dump()``."""
    seed: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    """One of ``RUN_STATUSES``."""
    iterations_done: Mapped[int] = mapped_column(default=0)
    best_answer: Mapped[str | None] = mapped_column(Text)
    solved: Mapped[bool | None]
    owner_pid: Mapped[int | None]
    """The process writing the run while it is running (to notice a dead writer)."""
    owner_host: Mapped[str | None] = mapped_column(Text)
    parent_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL")
    )
    """The run this one was forked from."""
    fork_iteration: Mapped[int | None]
    """How many of the parent's iterations the fork started from."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    schema_version: Mapped[int] = mapped_column(default=SCHEMA_VERSION)
    user_name: Mapped[str | None] = mapped_column(Text, index=True)
    """Who made the run (the environment's user name); None for runs saved before it was
    recorded (schema revision 0003)."""


class EventRow(Base):
    """One phase event of a run, as ``engine.core.events.event_to_dict`` writes it."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("run_id", "seq", name="uq_events_run_seq"),
        Index("ix_events_run_iteration_seq", "run_id", "iteration", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    seq: Mapped[int]
    """0, 1, 2, ... within the run: the order the events were applied in."""
    iteration: Mapped[int]
    phase: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
