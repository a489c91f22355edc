"""Real agents (`python -m mito worker` subprocesses) against a real coordinator and its local-disk store."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
import redis
import sqlalchemy as sa

from client.sdk import Mitosis, submit_request, task_spec
from tests.helpers import ROOT, LiveCoordinator, wait_until

pytestmark = pytest.mark.integration

USER, PASSWORD = "alice", "alice-password"
ADMIN_USER, ADMIN_PASSWORD = "mitosis_admin", "mitosis_admin"
REDIS_URL = os.environ.get("MITO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class AgentProcess:
    """One `mito worker` subprocess with short intervals, its own work dir and log file."""

    def __init__(self, coordinator: LiveCoordinator, tmp: Path, name: str, *args: str, **env: str):
        self.log_path = tmp / f"agent-{name}.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
        full_env.update(
            MITO_POLLING_INTERVAL="0.2s", MITO_HEARTBEAT_INTERVAL="0.5s", MITO_KILL_GRACE="1s",
            MITO_WORK_DIR=str(tmp / f"work-{name}"), MITO_CREDENTIAL_PATH=str(tmp / f"cred-{name}.json"),
            MITO_CONFIG=str(tmp / "none.toml"), PYTHONUNBUFFERED="1",
        )  # fmt: skip
        full_env.update(env)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mito", "worker", "--coordinator", coordinator.url,
                 "--user", USER, "--password", PASSWORD, "--groups", USER, *args],
                env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT),
            )  # fmt: skip
        self.worker_id = wait_until(self._registered, what=f"agent {name} registration")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _registered(self) -> str | None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"agent exited with {self.proc.returncode}:\n{self.log()}")
        m = re.search(r"registered worker ([0-9a-f-]{36})", self.log())
        return m.group(1) if m else None

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def agents(tmp_path):
    started: list[AgentProcess] = []

    def start(coordinator: LiveCoordinator, *args: str, **env: str) -> AgentProcess:
        agent = AgentProcess(coordinator, tmp_path, str(len(started) + 1), *args, **env)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()


def user_sdk(coordinator: LiveCoordinator) -> Mitosis:
    admin = Mitosis(coordinator.url)
    admin.login(ADMIN_USER, ADMIN_PASSWORD, retain=True)
    admin.admin_create_user(USER, PASSWORD)
    admin.close()
    sdk = Mitosis(coordinator.url)
    sdk.login(USER, PASSWORD, retain=True)
    return sdk


@pytest.fixture
def coordinator(live_coordinator):
    return live_coordinator


@pytest.fixture
def sdk(coordinator):
    with user_sdk(coordinator) as sdk:
        yield sdk


def submit(sdk: Mitosis, args: list[str], **kwargs) -> str:
    kwargs.setdefault("timeout", "1m")
    return str(sdk.submit_task(group_name=USER, args=args, **kwargs)["uuid"])


def done(sdk: Mitosis, uuid: str, timeout: float = 60.0) -> dict:
    return sdk.wait_task(uuid, timeout=timeout, interval=0.1)


def artifact_files(sdk: Mitosis, uuid: str, content_type: str, tmp_path: Path) -> dict[str, bytes]:
    dest = tmp_path / f"{uuid}-{content_type}.tar.gz"
    sdk.fetch_artifact(uuid, content_type, dest)
    with tarfile.open(fileobj=io.BytesIO(dest.read_bytes()), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def held_task(tmp_path: Path, then: str = "") -> tuple[str, Path, Path]:
    """A task script that marks its start in a file, then waits for a release file before doing `then`.

    Tests wait for the marker, not for the exec state ExecSpawned: that state is transient (the agent sends it
    batched, up to MITO_REPORT_DELAY later, and a short task can be past it before a poll sees it), and the
    release keeps the task running until the test has done what it needs a running task for.
    """
    started, release = tmp_path / "started", tmp_path / "release"
    script = f'echo "$MITO_RESULT_DIR" >> {started}; until [ -e {release} ]; do sleep 0.05; done; {then}'
    return script, started, release


def exec_state(app, uuid: str) -> str | None:
    """The exec state the agents reported for a task (read from the database)."""
    from app import db
    from app.models import ActiveTask

    with app.app_context():
        state = db.session.scalar(sa.select(ActiveTask.exec_state).where(ActiveTask.uuid == UUID(uuid)))
        db.session.remove()
    return state.name if state is not None else None


# ---- 1. echo
def test_echo_task_commits_zero_with_std_log_and_result(coordinator, sdk, agents, tmp_path):
    agents(coordinator)
    script = 'echo hello from $MITO_TASK_UUID; echo "42" > "$MITO_RESULT_DIR/answer.txt"'
    uuid = submit(sdk, ["sh", "-c", script], terminal_output=True)
    info = done(sdk, uuid)
    assert info["state"] == "Finished"
    assert info["result"]["exit_status"] == 0 and info["result"]["msg"] is None
    std = artifact_files(sdk, uuid, "std-log", tmp_path)
    assert std["std-log/stdout.log"] == f"hello from {uuid}\n".encode()
    assert std["std-log/stderr.log"] == b""
    assert artifact_files(sdk, uuid, "result", tmp_path) == {"result/answer.txt": b"42\n"}


# ---- 2. exit codes, timeouts
def test_exit_code_is_the_exit_status(coordinator, sdk, agents):
    agents(coordinator)
    info = done(sdk, submit(sdk, ["sh", "-c", "exit 3"]))
    assert (info["state"], info["result"]["exit_status"], info["result"]["msg"]) == ("Finished", 3, None)


@pytest.mark.parametrize("script", ["sleep 60", "trap '' TERM; sleep 60 & wait; sleep 60"])
def test_task_past_its_timeout_is_killed_and_committed_exec_timeout(coordinator, sdk, agents, script):
    agents(coordinator)
    uuid = submit(sdk, ["sh", "-c", script], timeout="2s")
    info = done(sdk, uuid, timeout=30)
    assert info["state"] == "Cancelled"
    assert info["result"]["msg"] == "ExecTimeout"
    assert info["result"]["exit_status"] in (-15, -9)


# ---- 3. resources
def test_attachment_and_artifact_are_in_place_before_the_command(coordinator, sdk, agents, tmp_path):
    agents(coordinator)
    source = tmp_path / "input.txt"
    source.write_bytes(b"attachment bytes")
    sdk.put_attachment(USER, "inputs/input.txt", source)
    producer = submit(sdk, ["sh", "-c", 'echo produced > "$MITO_RESULT_DIR/p.txt"'])
    done(sdk, producer)
    resources = [
        {"remote_file": {"Attachment": {"key": "inputs/input.txt"}}, "local_path": "in/input.txt"},
        {"remote_file": {"Artifact": {"uuid": producer, "content_type": "result"}}, "local_path": "prod.tgz"},
    ]
    script = (
        'cp "$MITO_RESOURCE_DIR/in/input.txt" "$MITO_RESULT_DIR/" && '
        'tar -xzf "$MITO_RESOURCE_DIR/prod.tgz" -C "$MITO_RESULT_DIR"'
    )
    uuid = submit(sdk, ["sh", "-c", script], resources=resources)
    info = done(sdk, uuid)
    assert info["result"]["exit_status"] == 0
    files = artifact_files(sdk, uuid, "result", tmp_path)
    assert files["result/input.txt"] == b"attachment bytes"
    assert files["result/result/p.txt"] == b"produced\n"


_ABSENT_TASK = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("remote", "detail"),
    [
        ({"Attachment": {"key": "inputs/absent.csv"}}, "attachment 'inputs/absent.csv' not found"),
        (
            {"Artifact": {"uuid": _ABSENT_TASK, "content_type": "exec-log"}},
            f"artifact exec-log of task {_ABSENT_TASK} not found",
        ),
    ],
)
def test_missing_resource_commits_resource_not_found_naming_it(coordinator, sdk, agents, remote, detail):
    agents(coordinator)
    resources = [{"remote_file": remote, "local_path": "x"}]
    uuid = submit(sdk, ["true"], resources=resources)
    info = done(sdk, uuid)
    assert info["state"] == "Cancelled"
    assert info["result"] == {"exit_status": 0, "msg": "ResourceNotFound", "detail": detail}
    listed = sdk.query_tasks(states=["Cancelled"])["tasks"]
    assert [t["result"] for t in listed if str(t["uuid"]) == uuid] == [info["result"]]


# ---- 4. watch
def _watch_scenario(coordinator, sdk, agents, tmp_path, app):
    """B (tag b) watches A (tag a) at ExecSpawned; A can only start once the agent with tag a exists."""
    a = submit(sdk, ["sh", "-c", "sleep 1"], tags=["a"])
    stamp_file = tmp_path / "b-started"
    stamp = f'python3 -c "import time; print(time.time())" > {stamp_file}'
    b = submit(sdk, ["sh", "-c", stamp], tags=["b"], watch=[a, "ExecSpawned"])
    agents(coordinator, "--tags", "b")
    wait_until(lambda: exec_state(app, b) == "Watch", what="B waiting on its watch")
    time.sleep(1.0)
    assert exec_state(app, b) == "Watch"
    assert sdk.get_task(b)["info"]["result"] is None
    a_claimable = time.time()
    agents(coordinator, "--tags", "a")
    info_b = done(sdk, b)
    assert info_b["state"] == "Finished" and info_b["result"]["exit_status"] == 0
    started = float(stamp_file.read_text())
    assert started > a_claimable
    done(sdk, a)
    return a, b


def test_watch_without_redis_waits_for_the_watched_task(coordinator, sdk, agents, tmp_path, app):
    _watch_scenario(coordinator, sdk, agents, tmp_path, app)


@pytest.fixture
def redis_coordinator(db_url, tmp_path, app):
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is needed at {REDIS_URL}: {exc}")
    coordinator = LiveCoordinator(db_url, tmp_path / "coord", MITO_REDIS_URL=REDIS_URL).start()
    yield coordinator
    coordinator.stop()


def test_watch_with_redis_waits_for_the_published_state(redis_coordinator, agents, tmp_path, app):
    with user_sdk(redis_coordinator) as sdk:
        a, b = _watch_scenario(redis_coordinator, sdk, agents, tmp_path, app)
    client = redis.Redis.from_url(REDIS_URL)
    # TaskCommitted (19), published by the agent once the coordinator has answered its commit: the API may
    # show the commit a moment before the agent's publish lands.
    for uuid in (a, b):
        wait_until(
            lambda u=uuid: client.get(f"task:{u}") == b"19", what=f"task {uuid} published as committed"
        )


# ---- 5. a killed agent
def _reap_everything(app) -> None:
    """The reaper with a clock far ahead (the coordinator serving till then), so every worker is silent."""
    from app import db
    from app.jobs.workers import reap_silent_workers
    from tests import builders

    later = datetime.now(UTC) + timedelta(days=1)
    with app.app_context():
        builders.coordinator_served(until=later)
        reap_silent_workers(now=later)
        db.session.remove()


def test_killed_agent_task_is_reaped_and_completed_once_by_another(coordinator, sdk, agents, app, tmp_path):
    first = agents(coordinator)
    runs = tmp_path / "runs"
    script, started, release = held_task(tmp_path, f'echo "$MITO_RESULT_DIR" >> {runs}')
    uuid = submit(sdk, ["sh", "-c", script])
    wait_until(started.exists, what="task spawned")
    first.proc.kill()
    first.wait()
    _reap_everything(app)
    assert sdk.get_task(uuid)["info"]["state"] == "Ready"
    release.touch()  # the first run, orphaned by the kill, ends too (it may append work-1)
    second = agents(coordinator)
    info = done(sdk, uuid)
    assert info["state"] == "Finished" and info["result"]["exit_status"] == 0
    assert info.get("reporter_uuid") in (None, second.worker_id)
    assert str(tmp_path / "work-2") in runs.read_text()
    assert sdk.query_tasks(count=True, states=["Finished"])["count"] == 1


# ---- 6. coordinator restart
@pytest.fixture
def own_coordinator(db_url, tmp_path, app):
    """A coordinator of the test's own (request it before `agents`: the agents stop first)."""
    coordinator = LiveCoordinator(db_url, tmp_path / "coord").start()
    yield coordinator
    coordinator.stop()


def test_coordinator_restart_mid_task_loses_nothing(own_coordinator, agents, tmp_path, app):
    coordinator = own_coordinator
    with user_sdk(coordinator) as sdk:
        agent = agents(coordinator)
        script, started, release = held_task(tmp_path, 'echo survived > "$MITO_RESULT_DIR/r.txt"; echo out')
        uuid = submit(sdk, ["sh", "-c", script], terminal_output=True)
        wait_until(started.exists, what="task spawned")
        coordinator.stop()
        release.touch()  # the task ends while the coordinator is down: its reports wait for it
        wait_until(lambda: "retrying" in agent.log(), what="the agent retrying", timeout=30)
        coordinator.start()
        info = done(sdk, uuid)
        assert info["state"] == "Finished" and info["result"]["exit_status"] == 0
        assert artifact_files(sdk, uuid, "result", tmp_path) == {"result/r.txt": b"survived\n"}
        assert artifact_files(sdk, uuid, "std-log", tmp_path)["std-log/stdout.log"] == b"out\n"
        assert agent.proc.poll() is None


# ---- 7. shutdown
def test_graceful_shutdown_finishes_the_task_then_the_agent_exits(coordinator, sdk, agents, tmp_path):
    agent = agents(coordinator)
    script, started, release = held_task(tmp_path)
    uuid = submit(sdk, ["sh", "-c", script])
    wait_until(started.exists, what="task spawned")
    sdk.shutdown_worker(agent.worker_id, op="Graceful")
    assert agent.proc.poll() is None  # a graceful shutdown waits for the running task
    release.touch()
    assert agent.wait(timeout=30) == 0
    info = sdk.get_task(uuid)["info"]
    assert info["state"] == "Finished" and info["result"]["exit_status"] == 0


def test_force_shutdown_stops_the_agent_now(coordinator, sdk, agents, tmp_path, app):
    agent = agents(coordinator)
    marker = tmp_path / "finished"
    uuid = submit(sdk, ["sh", "-c", f"sleep 30; touch {marker}"])
    wait_until(lambda: exec_state(app, uuid) == "ExecSpawned", what="task spawned")
    sdk.shutdown_worker(agent.worker_id, op="Force")
    assert agent.wait(timeout=15) == 0
    info = sdk.get_task(uuid)["info"]
    assert info["state"] == "Ready" and info["result"] is None
    assert not marker.exists()


def test_sigterm_hands_the_task_back_and_a_second_signal_exits_at_once(coordinator, sdk, agents, app):
    agent = agents(coordinator, MITO_KILL_GRACE="30s")
    uuid = submit(sdk, ["sh", "-c", "trap '' TERM; sleep 60"])
    wait_until(lambda: exec_state(app, uuid) == "ExecSpawned", what="task spawned")
    agent.signal(signal.SIGTERM)
    wait_until(lambda: "stopping" in agent.log(), what="first signal handled")
    agent.signal(signal.SIGTERM)
    assert agent.wait(timeout=10) != 0
    calm = agents(coordinator, MITO_KILL_GRACE="1s")
    uuid2 = submit(sdk, ["sh", "-c", "sleep 60"])
    wait_until(lambda: exec_state(app, uuid2) == "ExecSpawned", what="second task spawned")
    calm.signal(signal.SIGTERM)
    assert calm.wait(timeout=15) == 0
    assert "unregistered worker" in calm.log()
    assert sdk.get_task(uuid2)["info"]["state"] == "Ready"


# ---- 8. many tasks
def test_200_short_tasks_over_4_agents_are_each_committed_once(own_coordinator, agents, app):
    with user_sdk(own_coordinator) as sdk:
        reqs = [submit_request(USER, task_spec(["true"]), timeout="1m") for _ in range(200)]
        uuids = [str(r["Ok"]["uuid"]) for r in sdk.submit_tasks(reqs)["results"]]
        fleet = [agents(own_coordinator, MITO_POLLING_INTERVAL="0.1s") for _ in range(4)]
        wait_until(
            lambda: sdk.query_tasks(count=True, states=["Finished"])["count"] == 200,
            timeout=240, what="200 tasks committed", interval=1.0,
        )  # fmt: skip
        for uuid in uuids[::20]:
            assert sdk.get_task(uuid)["info"]["result"] == {"exit_status": 0, "msg": None}
    for agent in fleet:
        assert "answered 404" not in agent.log()
    assert sum(agent.log().count("committed task") for agent in fleet) == 200
