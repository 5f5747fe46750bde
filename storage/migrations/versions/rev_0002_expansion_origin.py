"""Event format 2: an expansion names its origin instead of a ``manual`` flag.

Format 1 stored ``manual: true`` for every expansion outside the four-phase cycle, so saved
beam-search runs read as reflections added by hand. This migration rewrites every stored
event payload with ``engine.core.event_formats.upgrade_v1_to_v2`` (beam steps are told apart by
their reason, ``beam search: ...``) and adds the fields format 2 introduced, unknown for old
events. Each run's stored settings get the values of this round's new settings that search
as round one did (``engine.core.config.upgrade_v1_config``: no step check, outcome values,
rollout leaves, no widening), so a resumed or replayed old run keeps its behaviour. Runs
keep their ids, order and everything else.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.core.config import upgrade_v1_config
from engine.core.event_formats import upgrade_v1_to_v2

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
    # Settings stored before state values and widening existed search as round one did.
    runs = sa.table("runs", sa.column("id", sa.Integer), sa.column("config", sa.JSON),
                    sa.column("schema_version", sa.Integer))
    for run_id, config in conn.execute(sa.select(runs.c.id, runs.c.config)).all():
        conn.execute(runs.update().where(runs.c.id == run_id)
                     .values(config=upgrade_v1_config(config), schema_version=2))


def downgrade() -> None:
    raise NotImplementedError("event format 2 cannot be turned back into format 1")
