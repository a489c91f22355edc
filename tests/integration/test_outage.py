"""A coordinator outage longer than the heartbeat timeout, with the reaper running throughout, kills nobody.

Real processes: a `mito coordinator`, a Celery worker and beat (reaping every 0.6 s with a 2 s heartbeat
timeout) on a private redis-server, and a `mito worker` agent running a task. The coordinator is stopped for
three timeouts and started again: the agent keeps its registration, its task commits normally, and a worker
that then falls silent is still reaped (the reaper was judging, not asleep).
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from app import db
from app.models import TaskLoss, Worker
from client.http import ApiError, HttpClient
from client.sdk import Mitosis
from client.worker_api import WorkerApi
from tests import builders
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.helpers import LiveCoordinator, wait_until
from tests.integration.agents import Agent
from tests.integration.procs import CeleryProcesses, RedisServer

pytestmark = pytest.mark.integration

TIMEOUT = 2.0
SETTINGS = {"MITO_HEARTBEAT_TIMEOUT": f"{TIMEOUT:g}s"}


def _reap_runs(procs: CeleryProcesses) -> int:
    return procs.log("worker").count("jobs.workers.reap[")


def test_an_outage_longer_than_the_heartbeat_timeout_removes_no_worker(app_ctx, db_url, tmp_path):
    broker = RedisServer(tmp_path).start()
    coordinator = LiveCoordinator(db_url, tmp_path / "coordinator", **SETTINGS).start()
    procs = CeleryProcesses(
        db_url, tmp_path / "celery", broker.url, MITO_JOBS_INTERVAL_SCALE="0.02", **SETTINGS
    )
    procs.start()
    sdk = Mitosis(coordinator.url)
    agent = None
    try:
        sdk.login(ADMIN_USER, ADMIN_PASSWORD)
        agent = Agent(coordinator.url, tmp_path, ADMIN_USER, ADMIN_PASSWORD, sdk)
        [worker_uuid] = builders.read_all(sa.select(Worker.uuid))
        # The task marks its start and runs until released: the exec state ExecSpawned, which the test polled
        # for, is transient (reported batched, up to 0.5 s late) and a short task could be past it unseen.
        started, release = tmp_path / "started", tmp_path / "release"
        held = f"touch {started}; until [ -e {release} ]; do sleep 0.05; done; "
        script = held + 'echo survived > "$MITO_RESULT_DIR/r.txt"'
        uuid = str(sdk.submit_task(group_name=ADMIN_USER, args=["sh", "-c", script], timeout="5m")["uuid"])
        wait_until(started.exists, what="task spawned", procs=procs)

        coordinator.stop()
        release.touch()  # the task ends during the outage: its reports wait for the coordinator
        runs = _reap_runs(procs)
        time.sleep(3 * TIMEOUT)
        assert _reap_runs(procs) > runs + 3, "the reaper did not run during the outage"
        assert builders.read_all(sa.select(Worker.uuid)) == [worker_uuid]
        coordinator.start()

        info = sdk.wait_task(uuid, timeout=60, interval=0.2)
        assert (info["state"], info["result"]) == ("Finished", {"exit_status": 0, "msg": None})
        assert builders.read_all(sa.select(TaskLoss.reason)) == []
        assert builders.read_all(sa.select(Worker.uuid)) == [worker_uuid]
        assert agent.proc.poll() is None

        # the reaper still judges: a worker that registers and falls silent is removed, the agent is not
        silent = WorkerApi(HttpClient(coordinator.url, None, timeout=10))
        silent.register(silent.login(ADMIN_USER, ADMIN_PASSWORD), tags=[], groups=[])

        def refused() -> ApiError | None:
            try:
                silent.fetch()  # a fetch is no heartbeat: the worker stays silent
            except ApiError as exc:
                return exc
            return None

        gone = wait_until(refused, timeout=60, what="the silent worker reaped", procs=procs)
        assert gone.status == 401 and gone.body["removed"] == "heartbeat timeout"
        assert builders.read_all(sa.select(Worker.uuid)) == [worker_uuid]
    finally:
        sdk.close()
        if agent is not None:
            agent.stop()
        procs.stop()
        coordinator.stop()
        broker.stop()
        db.session.remove()
