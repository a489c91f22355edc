"""Worker liveness: remove workers silent past the heartbeat timeout, and workers whose token expired."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app import db
from app.jobs import job
from app.models import Worker
from app.services import worker as worker_service

log = logging.getLogger(__name__)

BATCH_LIMIT = 10_000


def reap_silent_workers(*, now: datetime | None = None, limit: int = BATCH_LIMIT) -> int:
    """Remove every worker silent longer than MITO_HEARTBEAT_TIMEOUT; its task goes back to Ready."""
    now = now or db.utcnow()
    cutoff = now - timedelta(seconds=current_app.config["HEARTBEAT_TIMEOUT_SECONDS"])
    return remove_workers(sa.select(Worker).where(Worker.last_heartbeat < cutoff), "heartbeat timeout", limit)


def remove_expired_workers(*, now: datetime | None = None, limit: int = BATCH_LIMIT) -> int:
    """Remove every worker whose token lifetime has passed (it can no longer call in)."""
    now = now or db.utcnow()
    return remove_workers(sa.select(Worker).where(Worker.expires_at < now), "lifetime expired", limit)


def remove_workers(select: sa.Select, reason: str, limit: int) -> int:
    """Remove the workers `select` finds, one transaction each, skipping rows another process holds."""
    removed = 0
    while removed < limit and _remove_one(select, reason):
        removed += 1
    if removed:
        log.info("removed %d worker(s): %s", removed, reason)
    return removed


@db.transactional
def _remove_one(select: sa.Select, reason: str) -> bool:
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
