"""Task timeouts: reclaim tasks Running longer than their timeout plus MITO_TASK_TIMEOUT_GRACE; and the
pruning of dispatch buckets that hold no Ready task (dispatch.prune_buckets).

Like the reaper, the reclaim waits until the coordinator has served for a whole grace period: an agent
that ended its task during an API outage gets that long to report it once the API is back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app import db
from app.db import UTCDateTime
from app.jobs import job
from app.jobs.workers import BATCH_LIMIT, remove_workers
from app.models import ActiveTask, TaskState, Worker
from app.services import dispatch, liveness
from mito.vocab import WorkerRemoval


def reclaim_overrun_tasks(*, now: datetime | None = None, limit: int = BATCH_LIMIT) -> int:
    """Remove the worker holding each overrun task (reason "task overrun"): the task goes back to Ready."""
    now = now or db.utcnow()
    grace = current_app.config["TASK_TIMEOUT_GRACE_SECONDS"]
    last_mark = liveness.served_throughout(grace, now=now)
    if last_mark is None:
        return 0
    now = last_mark  # time after the last mark is nobody's: the agent may be unable to report it
    select = (
        sa.select(Worker)
        .join(ActiveTask, ActiveTask.assigned_worker == Worker.id)
        .where(
            ActiveTask.state == TaskState.Running,
            ActiveTask.claimed_at < now - timedelta(seconds=grace),  # index prefilter
            _past_deadline(now, grace),
        )
    )
    return remove_workers(select, WorkerRemoval.TaskOverrun, limit)


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


@job("jobs.tasks.prune_buckets")
def prune_buckets() -> None:
    """Delete dispatch buckets left without Ready tasks."""
    dispatch.prune_buckets()
