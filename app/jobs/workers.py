"""Worker liveness: remove workers silent past the heartbeat timeout, and workers whose token expired.

Silence is judged against the coordinator's own availability (app/services/liveness.py): while the API is
down, or until it has served for a whole heartbeat timeout since, nobody is removed for silence.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app import db
from app.jobs import job
from app.models import Worker
from app.services import liveness
from app.services import worker as worker_service
from mito.vocab import WorkerRemoval

log = logging.getLogger(__name__)

BATCH_LIMIT = 10_000


def reap_silent_workers(*, now: datetime | None = None, limit: int = BATCH_LIMIT) -> int:
    """Remove every worker silent longer than MITO_HEARTBEAT_TIMEOUT while the coordinator was serving.

    Its task goes back to Ready. Nothing is removed unless the coordinator served throughout the timeout.
    """
    now = now or db.utcnow()
    timeout = current_app.config["HEARTBEAT_TIMEOUT_SECONDS"]
    last_mark = liveness.served_throughout(timeout, now=now)
    if last_mark is None:
        return 0
    cutoff = last_mark - timedelta(seconds=timeout)
    silent = sa.select(Worker).where(Worker.last_heartbeat < cutoff)
    return remove_workers(silent, WorkerRemoval.HeartbeatTimeout, limit)


def remove_expired_workers(*, now: datetime | None = None, limit: int = BATCH_LIMIT) -> int:
    """Remove every worker whose token lifetime has passed (it can no longer call in)."""
    now = now or db.utcnow()
    expired = sa.select(Worker).where(Worker.expires_at < now)
    removed = remove_workers(expired, WorkerRemoval.LifetimeExpired, limit)
    worker_service.forget_removed_workers(now=now)
    return removed


def remove_workers(select: sa.Select[Worker], reason: WorkerRemoval, limit: int) -> int:
    """Remove the workers `select` finds, one transaction each, skipping rows another process holds."""
    removed = 0
    while removed < limit and _remove_one(select, reason):
        removed += 1
    if removed:
        log.info("removed %d worker(s): %s", removed, reason)
    return removed


@db.transactional
def _remove_one(select: sa.Select[Worker], reason: WorkerRemoval) -> bool:
    stmt = select.order_by(Worker.id).limit(1).with_for_update(skip_locked=True, of=Worker)
    worker = db.session.scalars(stmt).first()
    if worker is None:
        return False
    log.warning("removing worker %s (task id %s): %s", worker.uuid, worker.assigned_task_id, reason)
    worker_service.remove_worker(worker=worker, reason=reason)
    return True


@job("jobs.workers.reap")
def reap() -> None:
    """Remove workers silent past the heartbeat timeout."""
    reap_silent_workers()


@job("jobs.workers.expire")
def expire() -> None:
    """Remove workers whose token lifetime expired."""
    remove_expired_workers()
