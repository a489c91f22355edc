"""A real Celery worker runs a job sent by name; beat schedules it by itself."""

from __future__ import annotations

import sqlalchemy as sa

from app import db
from app.models import Group
from tests.jobs import rows
from tests.jobs.procs import CeleryProcesses, wait_until


def _used(name: str) -> int:
    return rows.read(sa.select(Group.storage_used).where(Group.group_name == name))


def test_celery_worker_and_beat_repair_quota_drift(app_ctx, db_url, redis_db, tmp_path):
    lab = rows.group("lab")
    lab.storage_used = 123
    db.session.commit()
    procs = CeleryProcesses(db_url, tmp_path, redis_db, MITO_JOBS_INTERVAL_SCALE="0.001").start()
    try:
        wait_until(
            lambda: _used("lab") == 0, timeout=60, what="quota repaired by the Celery worker", procs=procs
        )
        assert procs.alive()
    finally:
        procs.stop()
    assert "jobs.quota.recompute" in procs.log("worker")
