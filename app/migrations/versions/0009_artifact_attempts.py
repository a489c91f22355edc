"""per-attempt artifacts and delayed re-deletion (issue #12 item 6, issue #14 item 2)

artifacts get `attempt` (0: a user's upload or an object stored before this revision, whose key keeps its
old form) and `current` (the one the task shows per content type). The unique key becomes (task_uuid,
content_type, attempt) plus a partial unique index on (task_uuid, content_type) WHERE current. SQLite
rebuilds the artifacts table for the constraint (batch mode); no other table changes shape.
storage_deletions gets `not_before`, for the second deletion of an object whose upload URL was still live.
Downgrading keeps only each task's current artifact rows (lossy: the others' objects stay in the store
uncharged until jobs.quota.recompute, and current ones of attempts keep keys the old code cannot name).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CURRENT = sa.text("current")


def upgrade() -> None:
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("current", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch.drop_constraint("uq_artifacts_task_uuid_content_type", type_="unique")
        batch.create_unique_constraint(
            "uq_artifacts_task_uuid_content_type_attempt", ["task_uuid", "content_type", "attempt"]
        )
    op.create_index(
        "uq_artifacts_current", "artifacts", ["task_uuid", "content_type"], unique=True,
        postgresql_where=CURRENT, sqlite_where=CURRENT,
    )  # fmt: skip
    op.add_column("storage_deletions", sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("storage_deletions", "not_before")
    op.drop_index("uq_artifacts_current", table_name="artifacts")
    op.execute(sa.text("DELETE FROM artifacts WHERE NOT current"))
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_constraint("uq_artifacts_task_uuid_content_type_attempt", type_="unique")
        batch.create_unique_constraint("uq_artifacts_task_uuid_content_type", ["task_uuid", "content_type"])
        batch.drop_column("current")
        batch.drop_column("attempt")
