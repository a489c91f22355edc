"""Integration: a real Celery worker and beat on Redis reap a silent agent; its task goes to another agent.

The agents are plain HTTP clients of a live coordinator (client/worker_api.py), so the test decides exactly
when each one heartbeats.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app.models import TaskLoss
from client.http import ApiError, HttpClient
from client.sdk import Mitosis
from client.worker_api import WorkerApi
from tests import builders
from tests.helpers import LiveCoordinator, wait_until
from tests.integration.procs import CeleryProcesses

pytestmark = pytest.mark.integration

ADMIN = ("mitosis_admin", "mitosis_admin")


def _agent(url: str) -> WorkerApi:
    agent = WorkerApi(HttpClient(url, None, timeout=10))
    agent.register(agent.login(*ADMIN), tags=[], groups=[])
    return agent


def test_silent_worker_is_reaped_and_its_task_committed_by_another(app_ctx, db_url, redis_db, tmp_path):
    coordinator = LiveCoordinator(db_url, tmp_path / "coordinator").start()
    procs = CeleryProcesses(
        db_url, tmp_path / "celery", redis_db, MITO_JOBS_INTERVAL_SCALE="0.02", MITO_HEARTBEAT_TIMEOUT="3s"
    ).start()
    user = Mitosis(coordinator.url)
    try:
        user.login(*ADMIN)
        task_uuid = user.submit_task(group_name=ADMIN[0], args=["true"], timeout="10m")["uuid"]
        first, second = _agent(coordinator.url), _agent(coordinator.url)
        first.heartbeat()
        claimed = first.fetch()
        assert claimed["uuid"] == task_uuid
        assert second.fetch() is None  # the task is held

        def second_gets_it():  # the second agent stays alive while the first one falls silent
            second.heartbeat()
            return second.fetch()

        again = wait_until(second_gets_it, timeout=60, interval=0.3, what="task handed over", procs=procs)
        assert again["uuid"] == task_uuid
        second.report_finish(again["id"])
        second.report_commit(again["id"], 0)

        with pytest.raises(ApiError) as gone:
            first.heartbeat()
        assert gone.value.status == 401
        info = user.get_task(task_uuid)["info"]
        assert info["state"] == "Finished"
        assert info["result"]["exit_status"] == 0
        [loss] = builders.read_all(
            sa.select(TaskLoss.reason).where(TaskLoss.task_uuid == uuid.UUID(task_uuid))
        )
        assert loss == "heartbeat timeout"
        assert "removed 1 worker(s): heartbeat timeout" in procs.log("worker")
    finally:
        user.close()
        procs.stop()
        coordinator.stop()
