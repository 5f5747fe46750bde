"""A run's row as the rest of the code sees it (``RunInfo``), and the row-level helpers the
store's transactions share: the time and user stamped on a run, event insertion and
decoding."""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.orm import Session

from engine.core.config import SearchConfig, make_config
from engine.core.events import Event, event_from_dict, event_to_dict
from engine.errors import InputError
from storage.errors import StorageError
from storage.models import EventRow, RunRow


@dataclass(frozen=True)
class RunInfo:
    """One stored run, every column of the ``runs`` table (times in UTC)."""

    id: int
    title: str | None
    problem: str
    task: str
    model_name: str
    model_fingerprint: str
    config: SearchConfig
    seed: int
    status: str
    """One of ``storage.models.RUN_STATUSES``."""
    iterations_done: int
    best_answer: str | None
    solved: bool | None
    owner_pid: int | None
    owner_host: str | None
    parent_run_id: int | None
    fork_iteration: int | None
    created_at: datetime
    updated_at: datetime
    schema_version: int
    user_name: str | None
    """Who made the run: ``current_user()`` of the process that created (or forked) it, or
    the user named in an imported export; None when unknown."""


def current_user() -> str | None:
    """The user name of the environment (``$LOGNAME``, ``$USER``, ..., else the account's
    name), as ``mctslab runs`` shows it."""
    try:
        return getpass.getuser() or None
    except (OSError, KeyError):  # no such variable and no passwd entry for the uid
        return None


def now_utc() -> datetime:
    """The current time in UTC without tzinfo, as the columns store it."""
    return datetime.now(UTC).replace(tzinfo=None)


def insert_events(
    conn: Connection, run_id: int, events: Sequence[Event],
    payloads: Sequence[dict[str, Any]] | None = None,
) -> None:
    """Insert ``events`` after the run's last stored event (in the caller's transaction)."""
    if not events:
        return
    if payloads is None:
        payloads = [event_to_dict(e) for e in events]
    last = conn.scalar(select(func.max(EventRow.seq)).where(EventRow.run_id == run_id))
    start = 0 if last is None else last + 1
    conn.execute(insert(EventRow), [
        {"run_id": run_id, "seq": start + i, "iteration": e.iteration, "phase": e.phase,
         "payload": payload}
        for i, (e, payload) in enumerate(zip(events, payloads, strict=True))
    ])


def decode_event(run_id: int, seq: int, payload: Any) -> Event:
    try:
        return event_from_dict(payload)
    except ValueError as err:
        raise StorageError(f"run {run_id}: stored event seq {seq} is unreadable ({err})") from None


def run_info(row: RunRow) -> RunInfo:
    try:
        config = make_config(**row.config)
    except InputError as err:
        raise StorageError(f"run {row.id}: its stored settings are not valid ({err})") from None
    return RunInfo(
        id=row.id, title=row.title, problem=row.problem, task=row.task,
        model_name=row.model_name, model_fingerprint=row.model_fingerprint, config=config,
        seed=row.seed, status=row.status, iterations_done=row.iterations_done,
        best_answer=row.best_answer, solved=row.solved, owner_pid=row.owner_pid,
        owner_host=row.owner_host, parent_run_id=row.parent_run_id,
        fork_iteration=row.fork_iteration, created_at=row.created_at.replace(tzinfo=UTC),
        updated_at=row.updated_at.replace(tzinfo=UTC), schema_version=row.schema_version,
        user_name=row.user_name,
    )


def seq_after(session: Session, run_id: int, iterations: int) -> int | None:
    """The seq of the first event after the moment ``iterations`` iterations were
    complete that is not part of it (``None``: every event is): the first selection or
    backpropagation after iteration ``iterations - 1``'s backpropagation (after it, an
    in-cycle event is one of those; an expansion or a steering action there is outside
    the cycle, and belongs to the moment)."""
    done = select(func.min(EventRow.seq)).where(EventRow.run_id == run_id,
                                                EventRow.phase.in_(("select", "backprop")))
    if iterations > 0:
        backup = session.scalar(select(EventRow.seq).where(
            EventRow.run_id == run_id, EventRow.iteration == iterations - 1,
            EventRow.phase == "backprop"))
        if backup is None:
            return None
        done = done.where(EventRow.seq > backup)
    return session.scalar(done)
