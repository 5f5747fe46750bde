"""Who made a run: ``runs.user_name``, the user name of the environment that created it
(``storage.rows.current_user``). Runs saved before this revision have none (NULL).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("user_name", sa.Text(), nullable=True))
    op.create_index("ix_runs_user_name", "runs", ["user_name"])


def downgrade() -> None:
    op.drop_index("ix_runs_user_name", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("user_name")
