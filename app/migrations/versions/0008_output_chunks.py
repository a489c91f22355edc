"""output_chunks: the live-output tail of running tasks when no Redis is configured

Each row is one chunk an agent shipped; the coordinator keeps the newest TAIL_CHUNKS per task (read and
trimmed by (task_uuid, id)) and a housekeeping job removes the chunks of ended tasks (by created_at).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "output_chunks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("task_uuid", sa.Uuid(), nullable=False),
        sa.Column("stream", sa.SmallInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("skipped", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_output_chunks")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_output_chunks_task_uuid_id", "output_chunks", ["task_uuid", "id"], unique=False)
    op.create_index(op.f("ix_output_chunks_created_at"), "output_chunks", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_output_chunks_created_at"), table_name="output_chunks")
    op.drop_index("ix_output_chunks_task_uuid_id", table_name="output_chunks")
    op.drop_table("output_chunks")
