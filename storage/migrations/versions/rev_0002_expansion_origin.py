"""Event format 2: an expansion names its origin instead of a ``manual`` flag.

Format 1 stored ``manual: true`` for every expansion outside the four-phase cycle, so saved
beam-search runs read as reflections added by hand. This migration rewrites every stored
event payload with ``engine.core.events.upgrade_v1_to_v2`` (beam steps are told apart by
their reason, ``beam search: ...``) and adds the fields format 2 introduced, unknown for old
events. Runs keep their ids, order and everything else.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.core.events import upgrade_v1_to_v2

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BATCH = 500


def upgrade() -> None:
    conn = op.get_bind()
    events = sa.table("events", sa.column("id", sa.Integer), sa.column("payload", sa.JSON))
    last_id = -1
    while True:
        rows = conn.execute(
            sa.select(events.c.id, events.c.payload).where(events.c.id > last_id)
            .order_by(events.c.id).limit(_BATCH)
        ).all()
        if not rows:
            break
        for row_id, payload in rows:
            upgraded = upgrade_v1_to_v2(payload)
            if upgraded != payload:
                conn.execute(events.update().where(events.c.id == row_id)
                             .values(payload=upgraded))
        last_id = rows[-1][0]
    runs = sa.table("runs", sa.column("schema_version", sa.Integer))
    conn.execute(runs.update().values(schema_version=2))


def downgrade() -> None:
    raise NotImplementedError("event format 2 cannot be turned back into format 1")
