"""Task attempts (extension, issue #14 item 2): one row per claim of a task, written by the lifecycle only.

An attempt starts when a worker claims the task and ends when that worker commits, is lost, or (never
having reported) the task is cancelled with it. `end` says why (mito.vocab.AttemptEnd); exit_status is
what the agent committed (-N for signal N), `msg` its TaskResultMessage.
"""

from __future__ import annotations

import uuid as uuid_mod
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class TaskAttempt(Base):
    __tablename__ = "task_attempts"
    __table_args__ = (sa.UniqueConstraint("task_uuid", "number", name="uq_task_attempts_task_uuid_number"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    task_uuid: Mapped[uuid_mod.UUID] = mapped_column(sa.Uuid, nullable=False)
    number: Mapped[int] = mapped_column(sa.Integer, nullable=False)  # 1, 2, ... (ActiveTask.attempt)
    worker_uuid: Mapped[uuid_mod.UUID | None] = mapped_column(sa.Uuid)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end: Mapped[str | None] = mapped_column(sa.String(16))  # AttemptEnd; None while it runs
    exit_status: Mapped[int | None] = mapped_column(sa.Integer)
    msg: Mapped[str | None] = mapped_column(sa.String(32))
    # When the task was given back to the queue for its next attempt after a delay (None: at once or never).
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def signal(self) -> int | None:
        """The signal that killed the command (exit status -N), else None."""
        return -self.exit_status if self.exit_status is not None and self.exit_status < 0 else None
