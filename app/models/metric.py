"""Counters kept in the database (metrics): every process and replica adds to, and reads, the same rows."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IntEnumType
from app.models.enums import TaskState

# Writers pick one of SHARDS rows at random, so concurrent transactions rarely wait on the same row lock;
# a scrape sums the shards.
SHARDS = 8


class TaskCount(Base):
    """How many tasks (active and archived) a group has in each state, kept by the lifecycle module."""

    __tablename__ = "task_counts"

    group_id: Mapped[int] = mapped_column(sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[TaskState] = mapped_column(IntEnumType(TaskState), primary_key=True)
    shard: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)


class MetricCounter(Base):
    """A monotonic counter (`name` with canonical `labels`): claims, commits by outcome, losses, job runs."""

    __tablename__ = "metric_counters"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    labels: Mapped[str] = mapped_column(sa.String(512), primary_key=True)
    shard: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    value: Mapped[float] = mapped_column(sa.Float, nullable=False, default=0.0)
