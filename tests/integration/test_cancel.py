"""Fast cancel and fast removal with real processes: a `mito coordinator`, `mito worker` agents, the `mito`
CLI and, where said, a private redis-server. With Redis the agent hears a cancel, a force shutdown or a
removal at once (its heartbeat is a minute apart, so that cannot be what tells it); without Redis, at its
next heartbeat.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid as uuid_mod
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import db
from app.models import ActiveTask, Worker
from app.services import worker as worker_service
from client.sdk import Mitosis
from mito.vocab import WorkerRemoval
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.helpers import ROOT, LiveCoordinator, wait_until
from tests.integration.agents import Agent
from tests.integration.procs import RedisServer
from worker_agent.control import EXIT_REMOVED

pytestmark = pytest.mark.integration

SLOW_HEARTBEAT = "60s"  # with Redis: the heartbeat never comes in time, only the notice can
HEARTBEAT = 2.0  # without Redis: the bound is one heartbeat


@pytest.fixture(scope="module")
def redis_coordinator(app, db_url, tmp_path_factory):
    """A coordinator with a private redis-server (module-scoped): (coordinator, Redis URL)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    coordinator = LiveCoordinator(db_url, tmp_path_factory.mktemp("coord"), MITO_REDIS_URL=server.url).start()
    yield coordinator, server.url
    coordinator.stop()
    server.stop()


@pytest.fixture(params=["redis", "no-redis"])
def setup(request, app, monkeypatch):
    """(coordinator, admin SDK, agent heartbeat interval in seconds or None with Redis).

    With Redis, this process's services (which the tests call as the jobs would) publish there too.
    """
    if request.param == "redis":
        coordinator, url = request.getfixturevalue("redis_coordinator")
        monkeypatch.setitem(app.config, "REDIS_URL", url)
    else:
        coordinator = request.getfixturevalue("live_coordinator")
    with Mitosis(coordinator.url) as sdk:
        sdk.login(ADMIN_USER, ADMIN_PASSWORD)
        yield coordinator, sdk, None if request.param == "redis" else HEARTBEAT


@pytest.fixture
def start_agent(tmp_path):
    """Start agents as the admin (heartbeat every `heartbeat` s, or a minute apart with Redis)."""
    started: list[Agent] = []

    def start(coordinator, sdk, heartbeat: float | None) -> Agent:
        interval = SLOW_HEARTBEAT if heartbeat is None else f"{heartbeat}s"
        agent = Agent(
            coordinator.url, tmp_path, ADMIN_USER, ADMIN_PASSWORD, sdk, MITO_HEARTBEAT_INTERVAL=interval
        )
        started.append(agent)
        if heartbeat is None:
            wait_until(
                lambda: "listening for notices" in agent.log_path.read_text(), timeout=30, what="subscribed"
            )
        return agent

    yield start
    for agent in started:
        agent.stop()


def _sleeping_task(sdk: Mitosis, tmp_path: Path) -> tuple[str, int]:
    """A running `sleep 600` (the process group leader); its uuid and pid."""
    pid_file = tmp_path / "task.pid"
    script = f"echo $$ > {pid_file}; exec sleep 600"
    uuid = sdk.submit_task(group_name=ADMIN_USER, args=["sh", "-c", script], timeout="20m")["uuid"]
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=30, what="task started")
    return str(uuid), int(pid_file.read_text())


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def _seconds_until_dead(pid: int, limit: float = 30.0) -> float:
    started = time.monotonic()
    wait_until(lambda: not _alive(pid), timeout=limit, interval=0.02, what=f"process {pid} ended")
    return time.monotonic() - started


def _cancel_requested(app, uuid: str) -> bool:
    with app.app_context():
        stmt = sa.select(ActiveTask.cancel_requested).where(ActiveTask.uuid == uuid_mod.UUID(uuid))
        flag = db.session.scalar(stmt)
        db.session.remove()
    return bool(flag)


def test_mito_tasks_cancel_wait_ends_a_running_sleep_600(app, setup, start_agent, tmp_path):
    coordinator, sdk, heartbeat = setup
    start_agent(coordinator, sdk, heartbeat)
    uuid, pid = _sleeping_task(sdk, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
    env.update(MITO_COORDINATOR_ADDR=coordinator.url, MITO_CONFIG_DIR=str(tmp_path / "cli"))
    mito = [sys.executable, "-m", "mito"]
    login = [*mito, "login", "--retain", ADMIN_USER, ADMIN_PASSWORD]
    subprocess.run(login, env=env, cwd=ROOT, check=True, capture_output=True)
    cancel = subprocess.Popen(
        [*mito, "tasks", "cancel", uuid, "--wait", "--interval", "200ms", "--timeout", "60s"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    # The cancel's commit is seen as the flag, or already as the task's end: with Redis the agent can stop the
    # task and commit it (the row leaves the active table) between two of these polls.
    wait_until(
        lambda: _cancel_requested(app, uuid) or not _alive(pid),
        timeout=30,
        interval=0.02,
        what="cancel committed",
    )
    took = _seconds_until_dead(pid)
    out, _ = cancel.communicate(timeout=60)
    bound = 2.0 if heartbeat is None else heartbeat + 1.0  # with Redis: 2 s; without: one heartbeat
    assert took < bound, f"SIGTERM came {took:.2f}s after the cancel"
    assert cancel.returncode == 0, out
    assert out.strip() == f"{uuid} Cancelled exit_status=-15 (UserCancellation)"
    info = sdk.get_task(uuid)["info"]
    assert (info["state"], info["result"]) == ("Cancelled", {"exit_status": -15, "msg": "UserCancellation"})


def test_a_force_shutdown_ends_the_task_and_the_agent_exits_0(setup, start_agent, tmp_path):
    coordinator, sdk, heartbeat = setup
    agent = start_agent(coordinator, sdk, heartbeat)
    uuid, pid = _sleeping_task(sdk, tmp_path)
    worker = sdk.query_workers(group_name=ADMIN_USER)["workers"][0]["worker_id"]
    sdk.shutdown_worker(str(worker), op="Force")
    took = _seconds_until_dead(pid)
    assert agent.proc.wait(timeout=30) == 0
    assert took < (2.0 if heartbeat is None else heartbeat + 1.0)
    assert sdk.get_task(uuid)["info"]["state"] == "Ready"


def test_a_worker_the_coordinator_gave_up_on_exits_75_for_its_supervisor(app, setup, start_agent, tmp_path):
    coordinator, sdk, heartbeat = setup
    agent = start_agent(coordinator, sdk, heartbeat)
    uuid, pid = _sleeping_task(sdk, tmp_path)
    with app.app_context():
        row = db.session.scalar(sa.select(Worker))
        worker_service.remove_worker(worker=row, reason=WorkerRemoval.HeartbeatTimeout)
        db.session.remove()
    assert agent.proc.wait(timeout=30) == EXIT_REMOVED
    assert not _alive(pid)
    assert "removed: heartbeat timeout" in agent.log_path.read_text()
    assert sdk.get_task(uuid)["info"]["state"] == "Ready"


def test_the_task_dies_with_an_agent_killed_by_sigkill(live_coordinator, start_agent, tmp_path):
    with Mitosis(live_coordinator.url) as sdk:
        sdk.login(ADMIN_USER, ADMIN_PASSWORD)
        agent = start_agent(live_coordinator, sdk, HEARTBEAT)
        _, pid = _sleeping_task(sdk, tmp_path)
    agent.proc.send_signal(signal.SIGKILL)
    agent.proc.wait(timeout=10)
    assert _seconds_until_dead(pid, limit=10) < 3
