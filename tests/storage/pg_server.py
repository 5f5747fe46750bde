"""A real PostgreSQL 15 server of the tests' own: ``initdb`` into a temporary folder, started
with ``pg_ctl`` as an unprivileged user (``postgres`` when the tests run as root, which the
server refuses), listening on a free TCP port of 127.0.0.1 and on a socket in that folder.

The tests connect as ``mctslab`` with a password over TCP (so a wrong password is refused
for real); the server's own superuser connects through the socket, trusted, to create a
fresh database per test. ``stop`` ends the server and removes the folder; it runs at the end
of the session and again at exit. A session that was killed (so that neither ran) leaves a
folder whose ``owner.pid`` names a dead process: the next ``PgServer`` stops that server
and removes its folder first.

    python tests/storage/pg_server.py                    # start one, print its URL, stop on Enter
    python tests/storage/pg_server.py COMMAND ... {url}  # run COMMAND against a new database
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy import URL

from storage.owners import alive

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PREFIX = "mctslab-pg-"
USER = "mctslab"
PASSWORD = "s3cret-Pw"
"""The tests' password: a test checks that no error message or log line shows it."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgServer:
    """One server; ``start`` it, ``url`` a database of it, ``stop`` it for good."""

    def __init__(self, *, durable: bool = False) -> None:
        if not (PG_BIN / "initdb").is_file():
            raise RuntimeError(f"PostgreSQL 15 is not installed ({PG_BIN / 'initdb'} is "
                               "missing): run `make postgres-deps` (apt-get install "
                               "postgresql)")
        self.durable = durable
        """False: fsync off (the tests kill processes, never the machine)."""
        self._as_postgres = os.geteuid() == 0
        remove_stale_servers()
        self.base = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.base / "owner.pid").write_text(str(os.getpid()))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = _free_port()
        self._names = itertools.count(1)
        self._running = False
        if self._as_postgres:
            info = pwd.getpwnam("postgres")
            os.chown(self.base, info.pw_uid, info.pw_gid)
        atexit.register(self.stop, remove=True)
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                 "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")

    def _pg(self, tool: str, *args: str) -> None:
        command = [str(PG_BIN / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}{log[-3000:]}")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=400")
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                 "-t", "60", "start")
        self._running = True
        if not getattr(self, "_role_made", False):
            with self.admin() as conn:
                conn.execute(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
            self._role_made = True

    def stop(self, *, remove: bool = False) -> None:
        """Stop the server (fast: clients are disconnected); ``remove`` deletes its folder."""
        if self._running:
            self._running = False
            self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        if remove and self.base.exists():
            shutil.rmtree(self.base)

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host=str(self.base), port=self.port, user="postgres",
                               dbname="postgres", autocommit=True)

    def url(self, database: str, *, password: str = PASSWORD, port: int | None = None) -> str:
        return URL.create("postgresql+psycopg", username=USER, password=password,
                          host="127.0.0.1", port=port or self.port,
                          database=database).render_as_string(hide_password=False)

    def new_database(self) -> str:
        """A fresh, empty database owned by the tests' user; its URL."""
        name = f"t{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} OWNER {USER}")
        return self.url(name)


def remove_stale_servers() -> None:
    """Stop the server and remove the folder of every earlier session that died."""
    for base in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        owner = base / "owner.pid"
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            pid = None
        if pid is not None and alive(pid):
            continue  # another test session, still running
        if pid is None and time.time() - base.stat().st_mtime < 60:
            continue  # being made by another session right now (owner.pid comes next)
        postmaster = base / "data" / "postmaster.pid"
        if postmaster.exists():
            with contextlib.suppress(ValueError, IndexError):
                server_pid = int(postmaster.read_text().splitlines()[0])
                with contextlib.suppress(ProcessLookupError):
                    os.kill(server_pid, signal.SIGKILL)
                    time.sleep(0.2)
        shutil.rmtree(base, ignore_errors=True)


def _main(command: list[str]) -> int:
    """A durable server (fsync on, PostgreSQL's defaults otherwise) for manual use."""
    server = PgServer(durable=True)
    try:
        server.start()
        url = server.new_database()
        if not command:
            print(url, flush=True)
            with contextlib.suppress(EOFError, KeyboardInterrupt):
                input("running; Enter stops it\n")
            return 0
        return subprocess.run([part.replace("{url}", url) for part in command]).returncode
    finally:
        server.stop(remove=True)


if __name__ == "__main__":
    import sys

    raise SystemExit(_main(sys.argv[1:]))
