"""The agent's notices (fakeredis), its exit code when removed, and its watchdog (real processes)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import threading
import time

import fakeredis
import pytest

from tests.worker_agent.test_agent import run_until, start, wait_for
from worker_agent import agent as agent_module
from worker_agent.control import EXIT_REMOVED
from worker_agent.watchdog import Watchdog, watch


@pytest.fixture
def redis_server(monkeypatch):
    """Agents connect to a fakeredis server whatever URL they are given."""
    server = fakeredis.FakeServer()
    monkeypatch.setattr(agent_module, "connect_redis", lambda url, skip: fakeredis.FakeRedis(server=server))
    return server


def _publish(server, agent, notice: dict) -> None:
    """Publish once the agent's listener is subscribed (PUBLISH counts the receivers)."""
    client = fakeredis.FakeRedis(server=server)
    wait_for(lambda: agent.worker_id is not None)
    deadline = time.monotonic() + 10
    while client.publish(f"worker:{agent.worker_id}", json.dumps(notice)) == 0:
        assert time.monotonic() < deadline, "the agent never subscribed to its channel"
        time.sleep(0.02)


def start_with_result(agent, result: dict) -> threading.Thread:
    """Run the agent in a thread; its exit code lands in result["rc"]."""
    thread = threading.Thread(target=lambda: result.setdefault("rc", agent.run()), daemon=True)
    thread.start()
    return thread


def _spawned(fake, uuid):
    return lambda: "ExecSpawned" in fake.tasks[uuid]["exec_states"]


@pytest.mark.parametrize(
    ("reason", "code"), [("force shutdown", 0), ("graceful shutdown", 0), ("heartbeat timeout", EXIT_REMOVED),
                         ("task overrun", EXIT_REMOVED), (None, EXIT_REMOVED)],
)  # fmt: skip
def test_a_removed_worker_exits_0_only_when_someone_asked(fake, make_agent, reason, code):
    agent = make_agent()
    result = {}
    thread = start_with_result(agent, result)
    wait_for(lambda: fake.heartbeats > 0)
    fake.removal, fake.worker_removed = reason, True
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert result["rc"] == code
    assert not fake.unregistered


def test_a_signal_stop_exits_0(fake, make_agent):
    assert run_until(make_agent(), lambda: fake.heartbeats > 0) == 0
    assert fake.unregistered


def test_a_cancel_notice_ends_the_task_long_before_the_next_heartbeat(fake, make_agent, redis_server):
    uuid = fake.add_task(["sleep", "30"])
    agent = make_agent(heartbeat_interval=600.0)
    thread = start(agent)
    wait_for(_spawned(fake, uuid))
    fake.cancel.add(uuid)  # what the heartbeat would say, 600 s from now
    sent = time.monotonic()
    _publish(redis_server, agent, {"cancel": uuid})
    wait_for(lambda: fake.tasks[uuid]["result"] is not None)
    assert time.monotonic() - sent < 2
    assert fake.tasks[uuid]["result"] == {"exit_status": -15, "msg": "UserCancellation"}
    agent.stopping.set()
    thread.join(timeout=10)


def test_a_drop_notice_ends_the_task_without_a_commit_and_the_agent_goes_on(fake, make_agent, redis_server):
    dropped = fake.add_task(["sleep", "30"])
    agent = make_agent(heartbeat_interval=600.0)
    thread = start(agent)
    wait_for(_spawned(fake, dropped))
    _publish(redis_server, agent, {"drop": dropped})
    after = fake.add_task(["true"])
    wait_for(lambda: fake.tasks[after]["result"] is not None)
    assert fake.tasks[after]["result"] == {"exit_status": 0, "msg": None}
    assert fake.tasks[dropped]["result"] is None
    assert "Cancel" not in fake.ops(dropped) and "Finish" not in fake.ops(dropped)
    agent.stopping.set()
    thread.join(timeout=10)


@pytest.mark.parametrize(("reason", "code"), [("force shutdown", 0), ("heartbeat timeout", EXIT_REMOVED)])
def test_a_removed_notice_stops_the_agent_at_once(fake, make_agent, redis_server, reason, code):
    uuid = fake.add_task(["sleep", "30"])
    agent = make_agent(heartbeat_interval=600.0)
    result = {}
    thread = start_with_result(agent, result)
    wait_for(_spawned(fake, uuid))
    _publish(redis_server, agent, {"removed": reason})
    thread.join(timeout=5)
    assert not thread.is_alive() and result["rc"] == code
    assert fake.tasks[uuid]["result"] is None


def test_a_notice_it_does_not_understand_is_ignored(fake, make_agent, redis_server):
    uuid = fake.add_task(["sh", "-c", "sleep 0.5"])
    agent = make_agent(heartbeat_interval=600.0)
    thread = start(agent)
    wait_for(_spawned(fake, uuid))
    _publish(redis_server, agent, {"reboot": "now"})
    wait_for(lambda: fake.tasks[uuid]["result"] is not None)
    assert fake.tasks[uuid]["result"] == {"exit_status": 0, "msg": None}
    agent.stopping.set()
    thread.join(timeout=10)


# ---------------------------------------------------------------- the watchdog


def test_watch_returns_the_groups_still_listed():
    lines = io.BytesIO(b"+10\n+11\n-10\n+12\nnonsense\n-99\n+x\n")
    assert watch(lines) == {11, 12}


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen(["sleep", "600"], start_new_session=True)


def _gone(proc: subprocess.Popen, timeout: float = 5.0) -> bool:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_the_watchdog_kills_a_tracked_group_when_its_agent_goes():
    dog = Watchdog().start()
    tracked, untracked = _sleeper(), _sleeper()
    try:
        dog.track(tracked.pid)
        dog.track(untracked.pid)
        dog.untrack(untracked.pid)
        dog.close()  # what the kernel does to the pipe when the agent dies
        assert _gone(tracked) and tracked.returncode == -signal.SIGKILL
        assert not _gone(untracked, timeout=0.3)
    finally:
        for proc in (tracked, untracked):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
