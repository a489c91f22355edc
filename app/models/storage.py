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
    __tablename__ = "artifacts"
    __table_args__ = (sa.UniqueConstraint("task_uuid", "content_type", name="uq_artifacts_task_uuid_content_type"),)

    id: Mapped[int] = mapped_column(_id_type(), primary_key=True)
    task_uuid: Mapped[uuid_mod.UUID] = mapped_column(sa.Uuid, nullable=False)
    content_type: Mapped[ArtifactContentType] = mapped_column(IntEnumType(ArtifactContentType), nullable=False)
    size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    # The task's group, charged for the artifact's bytes.
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("groups.id"), nullable=False, index=True)


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)
