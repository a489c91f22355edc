"""bucket tags index: a worker's dispatch buckets found through an index, however many exist

A GIN index on task_buckets.tags (a plain one on SQLite), read with `tags <@ worker_tags`; the housekeeping
job jobs.tasks.prune_buckets keeps the table to the buckets that hold Ready tasks.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_task_buckets_tags", "task_buckets", ["tags"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_task_buckets_tags", table_name="task_buckets", postgresql_using="gin")
