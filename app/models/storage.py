"""Artifacts (per task), attachments (per group) and the queue of objects to delete from the store."""

from __future__ import annotations

import uuid as uuid_mod
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IntEnumType, UTCDateTime, utcnow
from app.models._columns import Timestamps
from app.models.enums import ArtifactContentType


def _id_type():
    return sa.BigInteger().with_variant(sa.Integer, "sqlite")


class Artifact(Timestamps, Base):
    """One object of a task: per attempt (issue #12 item 6, issue #14 item 2).

    `attempt` is the attempt whose agent uploaded it (its key holds the number), 0 for a user's upload
    (and objects stored before attempts had keys). `current` marks the one the task shows for its content
    type: the last booked, then, at each commit, the committing attempt's; the others stay downloadable
    by attempt, and a stale attempt's upload URL can only ever write its own, never-current, key.
    """

    __tablename__ = "artifacts"
    __table_args__ = (
        sa.UniqueConstraint(
            "task_uuid", "content_type", "attempt", name="uq_artifacts_task_uuid_content_type_attempt"
        ),
        sa.Index(
            "uq_artifacts_current",
            "task_uuid",
            "content_type",
            unique=True,
            postgresql_where=sa.text("current"),
            sqlite_where=sa.text("current"),
        ),
    )

    id: Mapped[int] = mapped_column(_id_type(), primary_key=True)
    task_uuid: Mapped[uuid_mod.UUID] = mapped_column(sa.Uuid, nullable=False)
    content_type: Mapped[ArtifactContentType] = mapped_column(
        IntEnumType(ArtifactContentType), nullable=False
    )
    size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    # The task's group, charged for the artifact's bytes.
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("groups.id"), nullable=False, index=True)
    attempt: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0", nullable=False)
    current: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true(), nullable=False)


class Attachment(Timestamps, Base):
    __tablename__ = "attachments"
    __table_args__ = (sa.UniqueConstraint("group_id", "key", name="uq_attachments_group_id_key"),)

    id: Mapped[int] = mapped_column(_id_type(), primary_key=True)
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("groups.id"), nullable=False)
    key: Mapped[str] = mapped_column(sa.String(1024), nullable=False)
    content_type: Mapped[int] = mapped_column(sa.SmallInteger, default=0, nullable=False)
    size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)


class StorageDeletion(Base):
    """An object to remove from the store; the batch-deletion job works through these with retries."""

    __tablename__ = "storage_deletions"

    id: Mapped[int] = mapped_column(_id_type(), primary_key=True)
    bucket: Mapped[str] = mapped_column(sa.String(16), nullable=False)  # "artifacts" | "attachments"
    key: Mapped[str] = mapped_column(sa.String(2048), nullable=False)
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("groups.id", ondelete="SET NULL"))
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0, nullable=False)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    # Not before this time (None: at once): the second deletion of an object whose upload URL was still
    # valid when its row went, so a replayed PUT cannot leave an object with no row and no quota charge.
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)
