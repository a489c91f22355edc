"""Worker agents and the group -> worker roles."""

from __future__ import annotations

import uuid as uuid_mod
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from app.db import Base, IntEnumType, StringSet, UTCDateTime, utcnow
from app.models._columns import Timestamps, gin_index
from app.models.enums import Role, WorkerState
from app.models.task import ActiveTask
from app.models.user import User


class Worker(Timestamps, Base):
    __tablename__ = "workers"
    __table_args__ = (gin_index("ix_workers_tags", "tags"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    uuid: Mapped[uuid_mod.UUID] = mapped_column(sa.Uuid, unique=True, nullable=False, default=uuid_mod.uuid4)
    creator_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False, index=True)
    tags: Mapped[list[str]] = mapped_column(StringSet(), default=list, nullable=False)
    labels: Mapped[list[str]] = mapped_column(StringSet(), default=list, nullable=False)
    state: Mapped[WorkerState] = mapped_column(
        IntEnumType(WorkerState), default=WorkerState.Normal, nullable=False
    )
    last_heartbeat: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, nullable=False, index=True
    )
    # The active task this worker holds (active_tasks.id); no FK to avoid a cycle with active_tasks.
    assigned_task_id: Mapped[int | None] = mapped_column(sa.BigInteger, index=True)
    # When the worker's token expires (RegisterWorkerReq.lifetime); the cleanup job removes it after that.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)

    creator: Mapped[User] = relationship(lazy="joined", innerjoin=True)
    # The uuid of the task it holds (WorkerQueryInfo.assigned_task_id); loaded only where asked for.
    assigned_task_uuid: Mapped[uuid_mod.UUID | None] = column_property(
        sa.select(ActiveTask.uuid).where(ActiveTask.id == assigned_task_id).scalar_subquery(), deferred=True
    )

    @property
    def creator_username(self) -> str:
        """The registering user's username (WorkerQueryInfo.creator_username)."""
        return self.creator.username


class GroupWorker(Base):
    __tablename__ = "group_worker"
    __table_args__ = (
        sa.UniqueConstraint("group_id", "worker_id", name="uq_group_worker_group_id_worker_id"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("groups.id", ondelete="CASCADE"), nullable=False)
    worker_id: Mapped[int] = mapped_column(
        sa.ForeignKey("workers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    role: Mapped[Role] = mapped_column(IntEnumType(Role), nullable=False)


class RemovedWorker(Base):
    """A worker that no longer exists, kept until its token would have expired: its 401 says why it went."""

    __tablename__ = "removed_workers"

    uuid: Mapped[uuid_mod.UUID] = mapped_column(sa.Uuid, primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    removed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
