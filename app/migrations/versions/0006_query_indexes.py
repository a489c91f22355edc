"""query indexes: each task table in the query order (created_at, id), whole and by state

Task queries walk these newest first and stop after a page (app/services/task_query.py), so the order
needs the id as its tie-break inside the index. The by-state index of active tasks gains the id too (the
queue-age metric still reads its first entry); archived tasks get one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("active_tasks", "archived_tasks")


def upgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_group_created", table_name=table)
        op.create_index(f"ix_{table}_group_created", table, ["group_id", "created_at", "id"])
    op.drop_index("ix_active_tasks_group_state_created", table_name="active_tasks")
    for table in TABLES:
        op.create_index(f"ix_{table}_group_state_created", table, ["group_id", "state", "created_at", "id"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_group_state_created", table_name=table)
        op.drop_index(f"ix_{table}_group_created", table_name=table)
        op.create_index(f"ix_{table}_group_created", table, ["group_id", "created_at"])
    op.create_index("ix_active_tasks_group_state_created", "active_tasks", ["group_id", "state", "created_at"])
