"""task attempts and retry policies: one row per claim of a task; a task's policy, retries used, retry time

`task_attempts` records every attempt (worker, start, end, why it ended, exit status). The task tables get
`retry_policy` (JSON, null without a policy) and `retry_count`; active_tasks gets `retry_at`, the time a
delayed retry becomes Ready, with a partial index over the tasks that wait on one. Columns are added in
place (SQLite keeps its AUTOINCREMENT and the dispatch index). Downgrading drops the attempt history.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WAITING = sa.text("retry_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "task_attempts",
        sa.Column("id", ID, nullable=False),
        sa.Column("task_uuid", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("worker_uuid", sa.Uuid(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end", sa.String(length=16), nullable=True),
        sa.Column("exit_status", sa.Integer(), nullable=True),
        sa.Column("msg", sa.String(length=32), nullable=True),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_attempts")),
        sa.UniqueConstraint("task_uuid", "number", name="uq_task_attempts_task_uuid_number"),
    )
    for table in ("active_tasks", "archived_tasks"):
        op.add_column(table, sa.Column("retry_policy", sa.JSON(), nullable=True))
        op.add_column(table, sa.Column("retry_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column("active_tasks", sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_active_tasks_retry_at", "active_tasks", ["retry_at"], postgresql_where=WAITING, sqlite_where=WAITING
    )


def downgrade() -> None:
    op.drop_index("ix_active_tasks_retry_at", table_name="active_tasks")
    op.drop_column("active_tasks", "retry_at")
    for table in ("active_tasks", "archived_tasks"):
        op.drop_column(table, "retry_count")
        op.drop_column(table, "retry_policy")
    op.drop_table("task_attempts")
