"""The live-output tail of running tasks, when no Redis is configured (with Redis: a stream per task)."""

from __future__ import annotations

import uuid as uuid_mod
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IntEnumType, UTCDateTime, utcnow
from mito.vocab import OutputStream


class OutputChunk(Base):
    """One chunk an agent shipped: the newest TAIL_CHUNKS per task are kept, in id order."""

    __tablename__ = "output_chunks"
    # AUTOINCREMENT on SQLite: an id (a follower's cursor) is never reused after the newest rows went
    __table_args__ = (
        sa.Index("ix_output_chunks_task_uuid_id", "task_uuid", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    task_uuid: Mapped[uuid_mod.UUID] = mapped_column(sa.Uuid, nullable=False)
    stream: Mapped[OutputStream] = mapped_column(IntEnumType(OutputStream), nullable=False)
    data: Mapped[str] = mapped_column(sa.Text, nullable=False)
    skipped: Mapped[int] = mapped_column(sa.BigInteger, default=0, nullable=False)  # bytes skipped before it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)
