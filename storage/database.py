"""Opening a database: where it is, SQLite's settings, and bringing its schema up to date.

On SQLite every connection runs with foreign keys on and a busy timeout, the file is in
WAL mode (readers never block the writer), and a write transaction starts with
``BEGIN IMMEDIATE`` so that two processes writing at once queue on the busy timeout
instead of failing with "database is locked" when a read lock cannot be upgraded.

On PostgreSQL (``postgresql+psycopg://user:password@host:port/db``, psycopg 3 from the
``postgres`` extra) a write transaction takes the same one-writer-at-a-time lock as its first
statement: a transaction-level advisory lock of the database (``pg_advisory_xact_lock``),
waited for up to ``BUSY_TIMEOUT_S``, and then runs at READ COMMITTED, so it sees everything
the writer before it committed (the next event ``seq`` of a run, a claim, a migration). A
read transaction runs at REPEATABLE READ: one snapshot, like a SQLite read transaction, so a
run being written exports consistently.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import platformdirs
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import URL, Connection, Engine, create_engine, event, inspect
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import ConnectionPoolEntry

from storage.errors import StorageError

logger = logging.getLogger(__name__)

DB_ENV = "MCTSLAB_DB"
"""Environment variable naming the database (a SQLAlchemy URL or a file path)."""
BUSY_TIMEOUT_S = 10.0
"""How long a writer waits for another writer's transaction before giving up."""
WRITE_OPTION = "mctslab_write"
"""Execution option that makes a transaction begin with ``BEGIN IMMEDIATE``."""
WRITE_LOCK_KEY = 0x6D63746C61620001
"""The PostgreSQL advisory lock that write transactions hold (one writer at a time)."""
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_OUR_TABLES = {"alembic_version", "runs", "events"}


def default_db_path() -> Path:
    """``<user data dir>/mctslab/mctslab.db``."""
    return Path(platformdirs.user_data_dir("mctslab")) / "mctslab.db"


def resolve_url(db: str | None) -> URL:
    """The URL for ``db`` (a SQLAlchemy URL or a plain path); ``None`` means ``$MCTSLAB_DB``
    and then the file under the user data directory."""
    value = db or os.environ.get(DB_ENV) or None
    if value is None:
        return _sqlite_url(default_db_path())
    if "://" in value:
        try:
            from sqlalchemy import make_url

            return make_url(value)
        except ArgumentError as err:
            raise StorageError(f"--db {value!r} is not a database URL or path: {err}") from None
    return _sqlite_url(Path(value).expanduser())


def _sqlite_url(path: Path) -> URL:
    return URL.create("sqlite", database=str(path.absolute()))


def describe(url: URL) -> str:
    """The database as a user would name it: the file path, or the URL without password."""
    if _is_sqlite_file(url):
        return str(url.database)
    return url.render_as_string(hide_password=True)


def is_postgres(url: URL) -> bool:
    return url.get_backend_name() == "postgresql"


def _is_sqlite_file(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")


def check_sqlite_file(path: Path) -> None:
    """Refuse, without touching anything, a path that cannot hold an MCTS Lab database:
    a folder, a file that is not SQLite, or a place that is not writable."""
    if path.is_dir():
        raise StorageError(f"database {path} is a folder; pass a file path with --db")
    folder = path.parent
    if not folder.exists():
        try:
            folder.mkdir(parents=True)
        except OSError as err:
            raise StorageError(f"cannot create the folder {folder} for the database "
                               f"({err.strerror}); pass a writable --db") from None
    if not folder.is_dir():
        raise StorageError(f"cannot put the database in {folder}: it is not a folder; "
                           "pass a writable --db")
    if path.exists():
        with path.open("rb") as handle:
            head = handle.read(len(_SQLITE_MAGIC))
        if head and head != _SQLITE_MAGIC:
            raise StorageError(f"{path} is not a database (it is some other kind of file); "
                               "pass another --db")
        if not os.access(path, os.W_OK):
            raise StorageError(f"database {path} is read-only; pass a writable --db")
    # WAL mode keeps two files beside the database, so the folder must be writable too.
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StorageError(f"the folder {folder} is read-only, so the database cannot be "
                           "written there; pass a writable --db")


def make_engine(url: URL) -> Engine:
    """An engine for ``url``; on SQLite with the per-connection settings described above."""
    if is_postgres(url):
        return _postgres_engine(url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(
        url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _: ConnectionPoolEntry) -> None:
        # SQLAlchemy emits BEGIN itself (below); pysqlite's own implicit BEGIN would be
        # deferred and could not be made IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        # In WAL mode NORMAL loses nothing when a process dies, only on power loss.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _postgres_engine(url: URL) -> Engine:
    # pre_ping: a connection the server dropped (a restart) is replaced, not used.
    engine = create_engine(url, pool_pre_ping=True,
                           connect_args={"connect_timeout": int(BUSY_TIMEOUT_S)})

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION, False):
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(BUSY_TIMEOUT_S * 1000)}ms'")
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
        else:
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    return engine


def write_engine(engine: Engine) -> Engine:
    """The same engine, but its transactions take the write lock when they begin."""
    return engine.execution_options(**{WRITE_OPTION: True})


def alembic_config(url: URL, connection: Connection | None = None) -> Config:
    """A programmatic alembic config for the shipped migrations (no alembic.ini)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option(
        "sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%")
    )
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def prepare(engine: Engine, url: URL) -> None:
    """Check the database is ours (or empty) and at a schema we know; migrate it to the
    newest revision; switch SQLite to WAL. Raise ``StorageError`` and change nothing if the
    database is someone else's or newer than this code."""
    where = describe(url)
    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_current_head()
    try:
        with engine.connect() as conn:
            current = _current_revision(conn, script, where)
        if current != head:
            with write_engine(engine).begin() as conn:
                # Again under the write lock: another process may have migrated meanwhile.
                current = _current_revision(conn, script, where)
                if current != head:
                    logger.info("migrating %s from %s to %s", where, current, head)
                    command.upgrade(alembic_config(url, conn), "head")
        if _is_sqlite_file(url):
            _enable_wal(engine)
    except DBAPIError as err:
        raise database_error(err, where) from None


def _current_revision(conn: Connection, script: ScriptDirectory, where: str) -> str | None:
    tables = set(inspect(conn).get_table_names())
    if tables and not _OUR_TABLES <= tables:
        raise StorageError(f"database {where} holds other tables ({', '.join(sorted(tables))})"
                           " and is not an MCTS Lab database; pass another --db")
    current = MigrationContext.configure(conn).get_current_revision()
    if current is not None:
        try:
            script.get_revision(current)
        except CommandError:
            raise StorageError(f"database {where} was written by a newer MCTS Lab (schema "
                               f"{current}); upgrade mctslab") from None
    return current


def _enable_wal(engine: Engine) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        mode = cursor.fetchone()
        cursor.close()
    finally:
        raw.close()
    if mode is None or str(mode[0]).lower() != "wal":
        logger.warning("SQLite did not switch to WAL mode (journal mode %s)", mode)


def database_error(err: DBAPIError, where: str) -> StorageError:
    """A one-line ``StorageError`` for a driver error, saying what to do."""
    text = str(err.orig).splitlines()[0] if err.orig is not None else str(err)
    low = text.lower()
    if where.startswith("postgresql"):
        return _postgres_error(text, low, where)
    if "not a database" in low or "malformed" in low:
        return StorageError(f"{where} is not an MCTS Lab database (SQLite: {text}); "
                            "pass another --db")
    if "readonly" in low or "read-only" in low or "unable to open" in low:
        return StorageError(f"cannot write database {where} (SQLite: {text}); the file or "
                            "its folder is read-only or missing; pass a writable --db")
    if "locked" in low or "busy" in low:
        return StorageError(f"database {where} is locked by another process (SQLite: "
                            f"{text}); try again")
    return StorageError(f"database {where}: {text}")


def _postgres_error(text: str, low: str, where: str) -> StorageError:
    # psycopg's first line: "connection failed: connection to server at "HOST", port P
    # failed: FATAL:  ...": the host, never the password.
    reason = text.split("FATAL:", 1)[-1].strip() if "FATAL:" in text else text
    if "password authentication failed" in low or "no password supplied" in low:
        return StorageError(f"cannot log in to PostgreSQL at {where} ({reason}); check the "
                            "user and password in --db / $MCTSLAB_DB")
    if "database" in low and "does not exist" in low:
        return StorageError(f"PostgreSQL at {where} has no such database ({reason}); create "
                            "it (createdb) or fix the name in --db / $MCTSLAB_DB")
    if ("connection refused" in low or "connection failed" in low or "could not connect" in low
            or "server closed the connection" in low or "terminating connection" in low
            or "connection is lost" in low or "connection is closed" in low
            or "consuming input failed" in low or "timeout expired" in low):
        return StorageError(f"cannot reach the PostgreSQL server of {where} ({text}); is it "
                            "running? Saved work is kept: resume once it is back")
    if "lock timeout" in low:
        return StorageError(f"database {where} is locked by another writer (PostgreSQL: "
                            f"{text}); try again")
    return StorageError(f"database {where}: {text}")


def open_engine(db: str | None) -> tuple[Engine, URL]:
    """Resolve, check, connect and migrate; return the ready engine and its URL."""
    url = resolve_url(db)
    if _is_sqlite_file(url):
        check_sqlite_file(Path(str(url.database)))
    try:
        engine = make_engine(url)
    except ArgumentError as err:
        raise StorageError(f"cannot use database {describe(url)}: {err}") from None
    except ImportError as err:
        extra = " (pip install 'mctslab[postgres]')" if is_postgres(url) else ""
        raise StorageError(f"cannot use database {describe(url)}: {err}{extra}") from None
    prepare(engine, url)
    return engine, url

