"""Opening databases: where they are, SQLite's settings, and refusing what is not ours."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from storage_support import db_dump

from engine.core.config import make_config
from storage import StorageError, open_store
from storage.database import default_db_path, resolve_url


def _make_run(db: Path) -> int:
    store = open_store(str(db))
    run_id = store.create_run(problem="4 5 6 10", config=make_config(seed=1),
                              model_name="demo", model_fingerprint="f", title="kept")
    store.set_status(run_id, "finished")
    store.engine.dispose()
    return run_id


def _one_line_error(db: str) -> str:
    with pytest.raises(StorageError) as err:
        open_store(db)
    message = str(err.value)
    assert "\n" not in message and message
    return message


def test_new_database_is_created_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "dir" / "runs.db"
    store = open_store(str(db))
    assert store.list_runs() == []
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0003",)]
    indexes = {row[1] for row in conn.execute("PRAGMA index_list(events)")}
    assert "ix_events_run_iteration_seq" in indexes
    conn.close()
    with store.engine.connect() as sa_conn:
        assert sa_conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert sa_conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
    # Opening again migrates nothing and keeps the runs.
    run_id = _make_run(db)
    assert [r.id for r in open_store(str(db)).list_runs()] == [run_id]


def test_db_argument_env_variable_and_default(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCTSLAB_DB", str(tmp_path / "env.db"))
    assert resolve_url(None).database == str(tmp_path / "env.db")
    assert resolve_url(f"sqlite:///{tmp_path}/url.db").database == f"{tmp_path}/url.db"
    assert resolve_url(str(tmp_path / "p.db")).database == str(tmp_path / "p.db")
    open_store(None).list_runs()
    assert (tmp_path / "env.db").is_file()
    monkeypatch.delenv("MCTSLAB_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert resolve_url(None).database == str(default_db_path())
    assert default_db_path() == tmp_path / "xdg" / "mctslab" / "mctslab.db"
    open_store(None).list_runs()
    assert default_db_path().is_file()


def test_a_file_that_is_not_a_database_is_left_alone(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"my notes, not a database\n" * 100)
    before = sorted(os.listdir(tmp_path))
    message = _one_line_error(str(notes))
    assert "is not a database" in message
    assert notes.read_bytes() == b"my notes, not a database\n" * 100
    assert sorted(os.listdir(tmp_path)) == before


def test_someone_elses_sqlite_database_is_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.execute("INSERT INTO contacts VALUES ('Ada')")
    conn.commit()
    conn.close()
    before = db_dump(db)
    message = _one_line_error(str(db))
    assert "is not an MCTS Lab database" in message and "contacts" in message
    assert db_dump(db) == before
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()


def test_newer_schema_is_refused_and_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "newer.db"
    _make_run(db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    before = db_dump(db)
    message = _one_line_error(str(db))
    assert message == (f"database {db} was written by a newer MCTS Lab (schema 9999); "
                       "upgrade mctslab")
    assert db_dump(db) == before


@contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """Make ``path`` read-only for real, even for root (who ignores mode bits): the
    immutable attribute where we are root, mode bits otherwise."""
    mode = path.stat().st_mode
    as_root = os.geteuid() == 0
    os.chmod(path, 0o555)
    if as_root:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        os.chmod(path, mode)


def test_read_only_location(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "runs.db"
    _make_run(db)
    before = db_dump(db)
    listing = sorted(os.listdir(folder))
    with _read_only(folder):
        with pytest.raises(OSError):
            (folder / "probe").write_text("x")  # the folder really is read-only
        assert "read-only" in _one_line_error(str(db))
        assert "read-only" in _one_line_error(str(folder / "new.db"))
        assert sorted(os.listdir(folder)) == listing
    assert db_dump(db) == before


def test_unwritable_folder_and_folder_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    assert "cannot create the folder" in _one_line_error(str(blocker / "sub" / "x.db"))
    assert "is a folder" in _one_line_error(str(tmp_path))
    assert blocker.read_text() == "a file where a folder should be"


def test_bad_url() -> None:
    assert "cannot use database nosuchdriver+x://" in _one_line_error("nosuchdriver+x://")
