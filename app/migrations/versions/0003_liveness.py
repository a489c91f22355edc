"""coordinator liveness and removed workers

coordinator_liveness holds one row: when a serving coordinator process last marked itself alive, and since
when it has done so without a gap; the housekeeping jobs judge workers' silence against it (an outage of
the coordinator is not a lost worker). removed_workers remembers, until its token would have expired,
why a worker was removed, so its agent's next call is told (401 with `removed`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coordinator_liveness",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("live_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outage_after", sa.Float(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_coordinator_liveness_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coordinator_liveness")),
    )
    op.create_table(
        "removed_workers",
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_removed_workers")),
    )
    op.create_index(op.f("ix_removed_workers_expires_at"), "removed_workers", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_removed_workers_expires_at"), table_name="removed_workers")
    op.drop_table("removed_workers")
    op.drop_table("coordinator_liveness")
