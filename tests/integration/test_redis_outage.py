"""With Redis down the API keeps serving and /health says so; the jobs catch up once Redis is back.

Uses a private redis-server (never the machine's shared one on 6379), stopped and restarted on its port.
"""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from app import db
from app.models import Group, Worker
from tests import builders
from tests.helpers import LiveCoordinator, md5_list, wait_until
from tests.integration.procs import CeleryProcesses, RedisServer

pytestmark = pytest.mark.integration


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def _health(url: str) -> dict:
    resp = httpx.get(url + "/health", timeout=10)
    assert resp.status_code == 200
    return resp.json()


def test_redis_outage_degrades_health_and_jobs_catch_up(app_ctx, db_url, tmp_path, private_redis):
    coordinator = LiveCoordinator(db_url, tmp_path / "coordinator", MITO_REDIS_URL=private_redis.url).start()
    procs = CeleryProcesses(
        db_url, tmp_path / "celery", private_redis.url,
        MITO_JOBS_INTERVAL_SCALE="0.002", MITO_HEARTBEAT_TIMEOUT="2s",
    ).start()  # fmt: skip
    try:
        assert _health(coordinator.url) == {"status": "ok"}
        wait_until(lambda: "succeeded" in procs.log("worker"), what="the worker runs jobs", procs=procs)

        private_redis.stop()
        assert _health(coordinator.url) == {"status": "degraded", "redis": "unreachable"}
        # the rest of the API keeps answering
        assert httpx.get(coordinator.url + "/openapi.json", timeout=10).status_code == 200
        credentials = {"username": "mitosis_admin", "md5_password": md5_list("mitosis_admin")}
        login = httpx.post(coordinator.url + "/login", json=credentials, timeout=10)
        assert login.status_code == 200

        # work piles up while the broker is away
        silent = builders.worker(silent_for=60).uuid
        lab = builders.group("lab")
        lab.storage_used = 1234
        db.session.commit()
        # beat notices: its sends fail while the broker is away
        wait_until(lambda: "Connection refused" in procs.log("beat"), timeout=60, what="beat sees the outage")

        private_redis.start()
        wait_until(lambda: _health(coordinator.url) == {"status": "ok"}, timeout=30, what="health back to ok")
        worker_left = sa.select(sa.func.count()).select_from(Worker).where(Worker.uuid == silent)
        lab_used = sa.select(Group.storage_used).where(Group.group_name == "lab")
        wait_until(
            lambda: builders.read(worker_left) == 0 and builders.read(lab_used) == 0,
            timeout=90, what="jobs caught up after the outage", procs=procs,
        )  # fmt: skip
    finally:
        procs.stop()
        coordinator.stop()
