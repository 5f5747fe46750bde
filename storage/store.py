"""The run repository: create runs, append their events, read any moment of them back.

A run is its settings plus its events; a tree is never stored, only folded from events
(``storage.replay``), so a replayed tree equals the live one by construction.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import URL, Connection, Engine, delete, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.core.config import SearchConfig
from engine.core.events import PHASES, Event, event_to_dict
from engine.core.report import event_iteration, iteration_number
from engine.core.tree import Tree, best_answer
from storage import owners
from storage.database import database_error, describe, write_engine
from storage.errors import StorageError
from storage.models import RUN_STATUSES, SCHEMA_VERSION, EventRow, RunRow
from storage.replay import events_before_iteration, events_through_phase, fold_or_fail
from storage.rows import RunInfo, current_user, decode_event, insert_events, now_utc, run_info
from storage.rows import seq_after as first_seq_after

logger = logging.getLogger(__name__)

STALE_WRITER_S = 15 * 60
"""A running run whose writer is on another host (whose process this host cannot see) and
has not written for this long counts as abandoned: a crashed writer never locks a run for
good. A live search writes after every iteration, far more often."""


class RunStore:
    """Runs and their events in one database (open it with ``storage.open_store``)."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self.engine = engine
        self.url = url
        self.where = describe(url)
        self._writer = write_engine(engine)
        self._claimed: set[int] = set()
        """Runs a step of this process is writing now (``claim_run`` until ``release_run``):
        two sessions of one app share a process id, so the owner column cannot tell them
        apart."""
        self._claims = threading.Lock()

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with Session(self.engine) as session, session.begin():
                yield session
        except DBAPIError as err:
            raise database_error(err, self.where) from None

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One transaction that holds the write lock from its start (``BEGIN IMMEDIATE``)."""
        try:
            with Session(self._writer) as session, session.begin():
                yield session
        except DBAPIError as err:
            raise database_error(err, self.where) from None

    def _row(self, session: Session, run_id: int) -> RunRow:
        row = session.get(RunRow, run_id)
        if row is None:
            raise StorageError(f"no run {run_id}; `mctslab runs` lists them")
        return row

    # -- runs -----------------------------------------------------------------------------

    def create_run(
        self,
        *,
        problem: str,
        config: SearchConfig,
        model_name: str,
        model_fingerprint: str,
        title: str | None = None,
        parent_run_id: int | None = None,
        fork_iteration: int | None = None,
        status: str = "running",
    ) -> int:
        """Save a new run and return its id: ``running`` and owned by this process, or
        ``paused`` (nobody writes it until a ``claim_run``)."""
        if status not in ("running", "paused"):
            raise StorageError(f"a new run is running or paused, not {status!r}")
        with self._write() as session:
            owner = {} if status == "running" else {"owner_pid": None, "owner_host": None}
            return self._insert_run(
                session, problem=problem, config=config, model_name=model_name,
                model_fingerprint=model_fingerprint, title=title,
                parent_run_id=parent_run_id, fork_iteration=fork_iteration, status=status,
                **owner,
            )

    def _insert_run(self, session: Session, *, config: SearchConfig, **columns: Any) -> int:
        stamp = now_utc()
        values = {
            "task": config.task, "config": config.model_dump(mode="json"),
            "seed": config.seed, "status": "running", "iterations_done": 0,
            "best_answer": None, "solved": None, "owner_pid": os.getpid(),
            "owner_host": socket.gethostname(), "parent_run_id": None, "fork_iteration": None,
            "created_at": stamp, "updated_at": stamp, "schema_version": SCHEMA_VERSION,
            "user_name": current_user(),
        }
        values.update(columns)
        row = RunRow(**values)
        session.add(row)
        session.flush()
        return row.id

    def set_status(self, run_id: int, status: str) -> None:
        """Set a run's status; ``running`` also makes this process its owner."""
        if status not in RUN_STATUSES:
            raise StorageError(f"unknown run status {status!r}; use one of "
                               f"{', '.join(RUN_STATUSES)}")
        with self._write() as session:
            row = self._row(session, run_id)
            row.status = status
            row.updated_at = now_utc()
            if status == "running":
                row.owner_pid, row.owner_host = os.getpid(), socket.gethostname()
        if status != "running":
            with self._claims:
                self._claimed.discard(run_id)

    def claim_run(self, run_id: int, *, events_seen: int | None = None) -> None:
        """Make this process the run's writer (status ``running``) before it writes a step;
        ``release_run`` (or ``append_events(..., release=True)``) gives it back.

        Refused, with a ``StorageError`` that says why, while another writer holds the run:
        a live process (on this host, or on another host within ``STALE_WRITER_S`` of its
        last write) or another session of this process. A writer that died is never waited
        for. ``events_seen`` is how many of the run's events the caller's copy holds: a
        different stored count means someone else continued the run since, and the caller's
        copy would fork its history, so that is refused too."""
        with self._claims:
            if run_id in self._claimed:
                raise StorageError(f"run {run_id} is being stepped by another session of "
                                   "this app; wait for that step to finish")
            with self._write() as session:
                row = self._row(session, run_id)
                if row.status == "running":
                    self._check_writer_gone(row)
                if events_seen is not None:
                    stored = session.scalar(select(func.count()).select_from(EventRow)
                                            .where(EventRow.run_id == run_id)) or 0
                    if stored != events_seen:
                        raise StorageError(
                            f"run {run_id} was continued elsewhere ({stored} events stored, "
                            f"{events_seen} here); open it again from Runs to go on")
                row.status, row.updated_at = "running", now_utc()
                row.owner_pid, row.owner_host = os.getpid(), socket.gethostname()
            self._claimed.add(run_id)

    def _check_writer_gone(self, row: RunRow) -> None:
        """Raise unless the writer of ``row`` (a running run) is this process or gone."""
        here = socket.gethostname()
        if row.owner_host == here and row.owner_pid == os.getpid():
            return  # this process: its own sessions are told apart by ``_claimed``
        if row.owner_host == here:
            if owners.alive(row.owner_pid):
                raise StorageError(f"run {row.id} is being written by process {row.owner_pid} "
                                   "on this host; wait for it to finish or stop it first")
            logger.info("run %d: its writer (process %s) died; taking it over", row.id,
                        row.owner_pid)
            return
        quiet = (now_utc() - row.updated_at).total_seconds()
        if quiet < STALE_WRITER_S:
            raise StorageError(
                f"run {row.id} is being written by process {row.owner_pid} on "
                f"{row.owner_host} (last write {quiet:.0f} s ago); wait for it, or after "
                f"{STALE_WRITER_S // 60} minutes without a write it counts as gone")
        logger.warning("run %d: its writer on %s has not written for %.0f s; taking it over",
                       row.id, row.owner_host, quiet)

    def release_run(self, run_id: int) -> None:
        """End this process's claim: the run is ``paused`` (saved, nobody writing it) if it
        is still ``running`` under this process."""
        with self._claims:
            self._claimed.discard(run_id)
            with self._write() as session:
                row = self._row(session, run_id)
                if row.status == "running" and row.owner_pid == os.getpid() \
                        and row.owner_host == socket.gethostname():
                    row.status, row.owner_pid, row.owner_host = "paused", None, None

    def get_run(self, run_id: int) -> RunInfo:
        """The run ``run_id``; ``StorageError`` if there is none."""
        with self._read() as session:
            return run_info(self._row(session, run_id))

    def list_runs(self, *, user: str | None = None, problem: str | None = None
                  ) -> list[RunInfo]:
        """Every run, newest first; with ``user`` only that user's runs, with ``problem``
        only runs whose problem contains that text (ignoring case)."""
        query = select(RunRow).order_by(RunRow.id.desc())
        if user is not None:
            query = query.where(RunRow.user_name == user)
        if problem is not None:
            query = query.where(func.lower(RunRow.problem).contains(problem.lower(),
                                                                    autoescape=True))
        with self._read() as session:
            rows = session.scalars(query).all()
            return [run_info(row) for row in rows]

    def delete_run(self, run_id: int) -> None:
        """Delete a run and its events (forks of it keep their events, without a parent)."""
        with self._write() as session:
            self._row(session, run_id)
            session.execute(delete(RunRow).where(RunRow.id == run_id))

    def mark_interrupted_runs(self) -> list[int]:
        """Mark ``interrupted`` every running run whose writer, on this host, has died;
        return their ids."""
        host = socket.gethostname()
        running = (select(RunRow.id, RunRow.owner_pid)
                   .where(RunRow.status == "running", RunRow.owner_host == host))
        with self._read() as session:
            if all(owners.alive(pid) for _, pid in session.execute(running)):
                return []  # the usual case: no write lock taken just for opening
        with self._write() as session:
            dead = [run_id for run_id, pid in session.execute(running).all()
                    if not owners.alive(pid)]
            if dead:
                session.execute(update(RunRow).where(RunRow.id.in_(dead))
                                .values(status="interrupted", updated_at=now_utc()))
        for run_id in dead:
            logger.info("run %d: its writer died; marked interrupted", run_id)
        return dead

    # -- events ---------------------------------------------------------------------------

    def append_events(
        self,
        run_id: int,
        events: Sequence[Event],
        *,
        iterations_done: int,
        best_answer: str | None = None,
        solved: bool | None = None,
        release: bool = False,
    ) -> None:
        """Append ``events`` and record progress, in one transaction. The best answer and
        solved flag are updated together, when ``best_answer`` is given (an answer, once
        found, never goes away, so ``None`` leaves them as they are). ``release=True`` also
        ends this process's ``claim_run`` (the run becomes ``paused``) in that transaction."""
        progress: dict[str, Any] = {"iterations_done": iterations_done, "updated_at": now_utc()}
        if best_answer is not None:
            progress.update(best_answer=best_answer, solved=solved)
        if release:
            progress.update(status="paused", owner_pid=None, owner_host=None)
        payloads = [event_to_dict(e) for e in events]
        # Core statements, not the ORM: this runs once per iteration (or phase) of a search.
        with self._write_connection() as conn:
            found = conn.execute(update(RunRow).where(RunRow.id == run_id).values(progress))
            if found.rowcount == 0:
                raise StorageError(f"no run {run_id}; `mctslab runs` lists them")
            insert_events(conn, run_id, events, payloads)
        if release:
            with self._claims:
                self._claimed.discard(run_id)

    @contextmanager
    def _write_connection(self) -> Iterator[Connection]:
        try:
            with self._writer.begin() as conn:
                yield conn
        except DBAPIError as err:
            raise database_error(err, self.where) from None

    def load_events(self, run_id: int, upto_iteration: int | None = None) -> list[Event]:
        """The run's events in order; with ``upto_iteration=k`` only those before
        iteration ``k`` began (the first ``k`` iterations)."""
        with self._read() as session:
            self._row(session, run_id)
            query = select(EventRow.seq, EventRow.payload).where(EventRow.run_id == run_id)
            if upto_iteration is not None:
                end = first_seq_after(session, run_id, upto_iteration)
                if end is not None:
                    query = query.where(EventRow.seq < end)
            rows = session.execute(query.order_by(EventRow.seq)).all()
        events = [decode_event(run_id, seq, payload) for seq, payload in rows]
        if upto_iteration is not None:
            events = events_before_iteration(events, upto_iteration)
        return events

    def tree_at(
        self, run_id: int, iteration: int | None = None, phase: str | None = None
    ) -> Tree:
        """The tree at one moment of the run (``events_at``)."""
        return fold_or_fail(self.get_run(run_id).problem,
                            self.events_at(run_id, iteration, phase), f"run {run_id}")

    def events_at(
        self, run_id: int, iteration: int | None = None, phase: str | None = None
    ) -> list[Event]:
        """The run's events up to one moment, numbered as ``engine.core.report`` numbers
        iterations (iteration k is the k-th, from 1): right after ``phase`` of iteration
        ``iteration`` when both are given (``backprop``: the end of the iteration, the same
        as ``iteration`` alone); after ``iteration`` completed iterations when only it is
        (0: the root alone); after ``phase`` in the last iteration that has begun when only
        ``phase`` is; every event when neither is."""
        info = self.get_run(run_id)
        if phase is None and iteration is None:
            return self.load_events(run_id)
        if phase is None:
            assert iteration is not None
            if not 0 <= iteration <= info.iterations_done:
                raise StorageError(f"run {run_id} has {info.iterations_done} completed "
                                   f"iterations: choose --iteration 0..{info.iterations_done}")
            return self.load_events(run_id, iteration)
        if phase not in PHASES:
            raise StorageError(f"unknown phase {phase!r}; use one of {', '.join(PHASES)}")
        last = self._last_started_iteration(run_id)
        started = 0 if last is None else iteration_number(last)
        if iteration is None:
            iteration = max(started, 1)
        if iteration == 0:
            raise StorageError("iteration 0 is the start (the root alone) and has no phases: "
                               "leave out --phase, or choose --iteration 1.."
                               f"{max(started, 1)} with it")
        # Iteration k's events and the hand-added ones before iteration k + 1 began.
        events = self.load_events(run_id, upto_iteration=iteration)
        cut = events_through_phase(events, event_iteration(iteration), phase)
        if cut is None:
            span = "none yet" if last is None else f"iterations 1..{started}"
            raise StorageError(f"run {run_id} has no {phase} event in iteration {iteration} "
                               f"({span} have events; iterations count from 1)")
        return cut

    def _last_started_iteration(self, run_id: int) -> int | None:
        with self._read() as session:
            return session.scalar(select(func.max(EventRow.iteration)).where(
                EventRow.run_id == run_id, EventRow.phase == "select"))

    # -- fork, export, import -------------------------------------------------------------

    def fork_run(self, run_id: int, at_iteration: int, config: SearchConfig) -> int:
        """A new run with ``config`` that starts from the first ``at_iteration`` iterations
        of run ``run_id`` (their events are copied); return its id. It is ``running`` and
        owned by this process, as a new run is."""
        parent = self.get_run(run_id)
        if not 0 <= at_iteration <= parent.iterations_done:
            raise StorageError(f"run {run_id} has {parent.iterations_done} completed "
                               f"iterations: fork it at 0..{parent.iterations_done}")
        if config.task != parent.task:
            raise StorageError(f"run {run_id} is a {parent.task} run; a fork keeps the task "
                               f"(got {config.task})")
        events = self.load_events(run_id, upto_iteration=at_iteration)
        tree = fold_or_fail(parent.problem, events, f"run {run_id}")
        answer, verdict = best_answer(tree)
        title = parent.title or f"run {run_id}"
        with self._write() as session:
            new_id = self._insert_run(
                session, problem=parent.problem, config=config, model_name=parent.model_name,
                model_fingerprint=parent.model_fingerprint,
                title=f"{title} (fork at {at_iteration})", parent_run_id=run_id,
                fork_iteration=at_iteration, iterations_done=tree.iterations_done,
                best_answer=answer, solved=verdict,
            )
            insert_events(session.connection(), new_id, events)
        return new_id

    def export_run(self, run_id: int) -> dict[str, Any]:
        """The run as a JSON-ready document (``storage.transfer`` describes the format),
        read in one transaction so that a run being written exports consistently."""
        from storage.transfer import export_document

        with self._read() as session:
            info = run_info(self._row(session, run_id))
            payloads = session.scalars(select(EventRow.payload).where(
                EventRow.run_id == run_id).order_by(EventRow.seq)).all()
        return export_document(info, list(payloads))

    def import_run(self, doc: Any) -> int:
        """Validate an exported document completely, then save it as a new run; return its
        id. Nothing is written if anything in it is wrong."""
        from storage.transfer import validate_document

        checked = validate_document(doc)
        with self._write() as session:
            new_id = self._insert_run(session, config=checked.config, **checked.columns)
            insert_events(session.connection(), new_id, checked.events)
        return new_id
