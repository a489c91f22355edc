"""metrics counters: task counts by group and state, event counters, the oldest-Ready index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

`task_counts` starts from the tasks already stored (one scan, here only), so /metrics reports the right
numbers from the first scrape; the lifecycle keeps it up to date from then on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

GROUP_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "metric_counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("labels", sa.String(length=512), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", "labels", "shard", name=op.f("pk_metric_counters")),
    )
    op.create_table(
        "task_counts",
        sa.Column("group_id", GROUP_ID, nullable=False),
        sa.Column("state", sa.SmallInteger(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_task_counts_group_id_groups"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("group_id", "state", "shard", name=op.f("pk_task_counts")),
    )
    op.execute(
        "INSERT INTO task_counts (group_id, state, shard, count) "
        "SELECT group_id, state, 0, count(*) FROM ("
        " SELECT group_id, state FROM active_tasks UNION ALL SELECT group_id, state FROM archived_tasks"
        ") AS tasks GROUP BY group_id, state"
    )
    with op.batch_alter_table("active_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_active_tasks_group_state_created", ["group_id", "state", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("active_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_active_tasks_group_state_created")
    op.drop_table("task_counts")
    op.drop_table("metric_counters")
