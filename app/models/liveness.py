"""The coordinator's liveness mark: one row that every serving coordinator process keeps fresh."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime

SINGLETON_ID = 1


class CoordinatorLiveness(Base):
    """`seen_at`: the last mark of any serving process; `live_since`: when the current run of marks began.

    `outage_after` is the marking process's own threshold (seconds): a mark older than that means the
    coordinator is down, whatever heartbeat timeout the reader was configured with.
    """

    __tablename__ = "coordinator_liveness"
    __table_args__ = (sa.CheckConstraint(f"id = {SINGLETON_ID}", name="singleton"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    live_since: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    outage_after: Mapped[float] = mapped_column(sa.Float, nullable=False)
