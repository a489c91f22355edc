"""Task timeouts: reclaim tasks Running longer than their timeout plus MITO_TASK_TIMEOUT_GRACE."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app import db
from app.db import UTCDateTime
from app.jobs import job
from app.jobs.workers import BATCH_LIMIT, remove_workers
from app.models import ActiveTask, TaskState, Worker


def reclaim_overrun_tasks(*, now: datetime | None = None, limit: int = BATCH_LIMIT) -> int:
    """Remove the worker holding each overrun task (reason "task overrun"): the task goes back to Ready."""
    now = now or db.utcnow()
    grace = current_app.config["TASK_TIMEOUT_GRACE_SECONDS"]
    select = (
        sa.select(Worker)
        .join(ActiveTask, ActiveTask.assigned_worker == Worker.id)
        .where(
            ActiveTask.state == TaskState.Running,
            ActiveTask.claimed_at < now - timedelta(seconds=grace),  # index prefilter
            _past_deadline(now, grace),
        )
    )
    return remove_workers(select, "task overrun", limit)


def _past_deadline(now: datetime, grace: int) -> sa.ColumnElement[bool]:
    """claimed_at + timeout + grace < now, in each backend's date arithmetic."""
    if db.is_postgres():
        allowed = sa.func.make_interval(0, 0, 0, 0, 0, 0, sa.cast(ActiveTask.timeout + grace, sa.Float))
        return ActiveTask.claimed_at + allowed < now
    now_day = sa.func.julianday(sa.literal(now, UTCDateTime()))
    return sa.func.julianday(ActiveTask.claimed_at) + (ActiveTask.timeout + grace) / 86400.0 < now_day


@job("jobs.tasks.reclaim_overrun")
def reclaim_overrun() -> None:
    """Reclaim tasks running past their timeout plus the grace period."""
    reclaim_overrun_tasks()
