"""Alembic environment: migrations run on the connection ``storage.database`` hands over
(inside its write transaction), so no alembic.ini is needed at run time."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from storage.models import Base


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        # Developer use (``alembic revision --autogenerate`` with a programmatic config).
        url = context.config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("set sqlalchemy.url or pass a connection in attributes")
        with create_engine(url).begin() as own:
            _run(own)
        return
    _run(connection)


def _run(connection: object) -> None:
    # Batch mode: SQLite cannot ALTER most things, so alembic copies and renames tables.
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
