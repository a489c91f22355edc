"""Tasks: active (queued, running, awaiting commit) and archived (committed or cancelled by a user).

Dispatch is index-driven: Ready tasks sit in buckets keyed by (group_id, tags_key), where tags_key is the
canonical form of the task's tag set; `task_buckets` lists the buckets so that a fetch looks only at the
heads of the buckets whose tag set the worker carries, never at non-matching tasks.
"""

from __future__ import annotations

import json
import uuid as uuid_mod
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, QueryableAttribute, foreign, mapped_column, relationship

from app.db import Base, IntEnumType, StringSet, UTCDateTime, utcnow
from app.models._columns import Timestamps, gin_index
from app.models.campaign import Campaign
from app.models.enums import TaskExecState, TaskState
from app.models.group import Group
from app.models.user import User


def tags_key(tags: Iterable[str]) -> str:
    """The canonical key of a tag set (sorted, JSON)."""
    return json.dumps(sorted(set(tags)), separators=(",", ":"))


class _TaskColumns(Timestamps):
    creator_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("groups.id"), nullable=False)
    task_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    uuid: Mapped[uuid_mod.UUID] = mapped_column(sa.Uuid, unique=True, nullable=False, default=uuid_mod.uuid4)
    tags: Mapped[list[str]] = mapped_column(StringSet(), default=list, nullable=False)
    labels: Mapped[list[str]] = mapped_column(StringSet(), default=list, nullable=False)
    state: Mapped[TaskState] = mapped_column(IntEnumType(TaskState), nullable=False)
    timeout: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)  # seconds
    priority: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    upstream_task_uuid: Mapped[uuid_mod.UUID | None] = mapped_column(sa.Uuid)
    downstream_task_uuid: Mapped[uuid_mod.UUID | None] = mapped_column(sa.Uuid)
    # How many times a worker holding this task was lost (reaped, force-removed); see the housekeeping jobs.
    lost_count: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    # Extension (campaigns): the campaign the task belongs to, its point of the grid (parameter name ->
    # value) and which repetition of that point it is (1, 2, ...); all None for a task of no campaign.
    # No foreign key: adding one to these tables rebuilds them on SQLite, which would drop their
    # AUTOINCREMENT and the dispatch index's order; campaigns are never deleted.
    campaign_id: Mapped[int | None] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    params: Mapped[dict[str, str] | None] = mapped_column(sa.JSON)
    campaign_repeat: Mapped[int | None] = mapped_column(sa.Integer)
    # Extension (retries): the task's retry policy as stored (mito.vocab.retries), None without one, and
    # how many retries it has used since it was submitted or last re-run by its user.
    retry_policy: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    retry_count: Mapped[int] = mapped_column(sa.Integer, server_default="0", nullable=False)

    if TYPE_CHECKING:  # declared by each table below
        creator: User
        group: Group
        campaign: Campaign | None

    @property
    def creator_username(self) -> str:
        """The submitter's username (TaskQueryInfo.creator_username)."""
        return self.creator.username

    @property
    def group_name(self) -> str:
        """The task's group (TaskQueryInfo.group_name)."""
        return self.group.group_name

    @property
    def campaign_point(self) -> dict[str, Any] | None:
        """TaskQueryInfo.campaign (extension): the campaign's name, the task's parameters and repetition."""
        if self.campaign_id is None or self.campaign is None:
            return None
        return {"name": self.campaign.name, "params": self.params or {}, "repeat": self.campaign_repeat}


def campaign_indexes(
    model: type[ActiveTask] | type[ArchivedTask], *by_state: QueryableAttribute[Any]
) -> None:
    """A campaign's tasks in id order (its task pages), and by state (its status counts, read from the
    index alone; archived tasks add the exit status, so successes are told from failures there too).

    Both are partial: tasks of no campaign are not indexed and cost nothing more to write.
    """
    table = model.__tablename__
    in_campaign = model.campaign_id.is_not(None)
    only: dict[str, Any] = {"postgresql_where": in_campaign, "sqlite_where": in_campaign}
    sa.Index(f"ix_{table}_campaign", model.campaign_id, model.id, **only)
    sa.Index(f"ix_{table}_campaign_state", model.campaign_id, *by_state, **only)


class ActiveTask(_TaskColumns, Base):
    __tablename__ = "active_tasks"
    # Never reuse an id on SQLite (rowid reuse): archived_tasks keeps the ids of committed tasks.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    tags_key: Mapped[str] = mapped_column(sa.Text, nullable=False, default="[]")
    assigned_worker: Mapped[int | None] = mapped_column(sa.ForeignKey("workers.id", ondelete="SET NULL"))
    # Incremented by every claim: a report must come from the worker holding the current attempt.
    attempt: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    # When the current attempt was claimed (the timeout sweep compares against it).
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The last exec state the holding agent reported (report op extension ExecState).
    exec_state: Mapped[TaskExecState | None] = mapped_column(IntEnumType(TaskExecState))
    # A user asked to cancel this Running task; its agent learns it from the heartbeat response.
    cancel_requested: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    # A Pending task waiting for its next attempt (retry delay) becomes Ready at this time; None otherwise.
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    creator: Mapped[User] = relationship(lazy="joined", innerjoin=True)
    group: Mapped[Group] = relationship(lazy="joined", innerjoin=True)
    campaign: Mapped[Campaign | None] = relationship(
        primaryjoin=lambda: foreign(ActiveTask.campaign_id) == Campaign.id, viewonly=True
    )

    @property
    def reporter_uuid(self) -> uuid_mod.UUID | None:
        """An active task has no reporter yet: its result is committed with the archive."""
        return None


sa.Index(
    "ix_active_tasks_dispatch",
    ActiveTask.group_id,
    ActiveTask.tags_key,
    ActiveTask.priority.desc(),
    ActiveTask.id,
    postgresql_where=ActiveTask.state == TaskState.Ready,
    sqlite_where=ActiveTask.state == TaskState.Ready,
)
# Task queries walk these in their order, newest first (task_query.py); the queue-age metric reads the
# oldest Ready task of a group with one probe of the second.
sa.Index("ix_active_tasks_group_created", ActiveTask.group_id, ActiveTask.created_at, ActiveTask.id)
sa.Index(
    "ix_active_tasks_group_state_created",
    ActiveTask.group_id,
    ActiveTask.state,
    ActiveTask.created_at,
    ActiveTask.id,
)
sa.Index("ix_active_tasks_group_task_id", ActiveTask.group_id, ActiveTask.task_id, unique=True)
sa.Index("ix_active_tasks_state_claimed", ActiveTask.state, ActiveTask.claimed_at)
sa.Index("ix_active_tasks_assigned_worker", ActiveTask.assigned_worker)
sa.Index("ix_active_tasks_upstream", ActiveTask.upstream_task_uuid)
# The delayed retries that are due (the claim releases them first): only tasks waiting on a delay.
sa.Index(
    "ix_active_tasks_retry_at",
    ActiveTask.retry_at,
    postgresql_where=ActiveTask.retry_at.is_not(None),
    sqlite_where=ActiveTask.retry_at.is_not(None),
)
gin_index("ix_active_tasks_tags", ActiveTask.tags)
gin_index("ix_active_tasks_labels", ActiveTask.labels)
campaign_indexes(ActiveTask, ActiveTask.state)


class ArchivedTask(_TaskColumns, Base):
    __tablename__ = "archived_tasks"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    reporter_uuid: Mapped[uuid_mod.UUID | None] = mapped_column(sa.Uuid, index=True)
    # result.exit_status as a number, so that exit_status filters are index-friendly numeric comparisons.
    exit_status: Mapped[int | None] = mapped_column(sa.Integer)

    creator: Mapped[User] = relationship(lazy="joined", innerjoin=True)
    group: Mapped[Group] = relationship(lazy="joined", innerjoin=True)
    campaign: Mapped[Campaign | None] = relationship(
        primaryjoin=lambda: foreign(ArchivedTask.campaign_id) == Campaign.id, viewonly=True
    )

    @property
    def exec_state(self) -> TaskExecState | None:
        """No agent runs an archived task, so it has no exec state."""
        return None


sa.Index("ix_archived_tasks_group_created", ArchivedTask.group_id, ArchivedTask.created_at, ArchivedTask.id)
sa.Index(
    "ix_archived_tasks_group_state_created",
    ArchivedTask.group_id,
    ArchivedTask.state,
    ArchivedTask.created_at,
    ArchivedTask.id,
)
sa.Index("ix_archived_tasks_group_task_id", ArchivedTask.group_id, ArchivedTask.task_id, unique=True)
sa.Index("ix_archived_tasks_group_exit_status", ArchivedTask.group_id, ArchivedTask.exit_status)
gin_index("ix_archived_tasks_tags", ArchivedTask.tags)
gin_index("ix_archived_tasks_labels", ArchivedTask.labels)
campaign_indexes(ArchivedTask, ArchivedTask.state, ArchivedTask.exit_status)


class TaskBucket(Base):
    """One row per (group, tag set) that has ever held a Ready task: the dispatch entry points."""

    __tablename__ = "task_buckets"
    __table_args__ = (sa.UniqueConstraint("group_id", "tags_key", name="uq_task_buckets_group_id_tags_key"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("groups.id", ondelete="CASCADE"), nullable=False)
    tags_key: Mapped[str] = mapped_column(sa.Text, nullable=False)
    tags: Mapped[list[str]] = mapped_column(StringSet(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


# A worker's buckets: tag sets contained in its tags (`<@`), found through this index however many exist.
gin_index("ix_task_buckets_tags", TaskBucket.tags)


class TaskLoss(Base):
    """A record of a worker lost while it held a task (heartbeat timeout, overrun, force shutdown)."""

    __tablename__ = "task_losses"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    task_uuid: Mapped[uuid_mod.UUID] = mapped_column(sa.Uuid, nullable=False, index=True)
    worker_uuid: Mapped[uuid_mod.UUID] = mapped_column(sa.Uuid, nullable=False)
    reason: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
