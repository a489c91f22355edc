"""campaigns: named parameter sweeps; each task's campaign, point and repetition

The task tables get three nullable columns and two partial indexes each (only campaign tasks are indexed).
The columns are added in place, without a foreign key: on SQLite a foreign key would rebuild the tables,
losing their AUTOINCREMENT and the dispatch index's descending priority. Downgrading drops the campaigns
and the columns; the tasks themselves stay, as tasks of no campaign.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
IN_CAMPAIGN = sa.text("campaign_id IS NOT NULL")
# table -> the columns after campaign_id of its status index
STATE_COLUMNS = {"active_tasks": ["state"], "archived_tasks": ["state", "exit_status"]}


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", ID, nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("group_id", ID, nullable=False),
        sa.Column("creator_id", ID, nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("points", sa.JSON(), nullable=True),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("template", sa.JSON(), nullable=False),
        sa.Column("task_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["creator_id"], ["users.id"], name=op.f("fk_campaigns_creator_id_users")),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name=op.f("fk_campaigns_group_id_groups")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("group_id", "name", name="uq_campaigns_group_id_name"),
        sa.UniqueConstraint("uuid", name=op.f("uq_campaigns_uuid")),
    )
    op.create_index("ix_campaigns_group", "campaigns", ["group_id", "id"])
    for table, by_state in STATE_COLUMNS.items():
        op.add_column(table, sa.Column("campaign_id", ID, nullable=True))
        op.add_column(table, sa.Column("params", sa.JSON(), nullable=True))
        op.add_column(table, sa.Column("campaign_repeat", sa.Integer(), nullable=True))
        partial = {"postgresql_where": IN_CAMPAIGN, "sqlite_where": IN_CAMPAIGN}
        op.create_index(f"ix_{table}_campaign", table, ["campaign_id", "id"], **partial)
        op.create_index(f"ix_{table}_campaign_state", table, ["campaign_id", *by_state], **partial)


def downgrade() -> None:
    for table in STATE_COLUMNS:
        op.drop_index(f"ix_{table}_campaign_state", table_name=table)
        op.drop_index(f"ix_{table}_campaign", table_name=table)
        for column in ("campaign_repeat", "params", "campaign_id"):
            op.drop_column(table, column)
    op.drop_table("campaigns")
