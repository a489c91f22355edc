"""MITO_LOG_FORMAT=json on real processes: a `mito coordinator` (gunicorn) and a `mito worker` agent."""

from __future__ import annotations

import json
import time

import pytest

from client.sdk import Mitosis
from tests.helpers import LiveCoordinator
from tests.integration.agents import Agent

pytestmark = pytest.mark.integration


def json_lines(text: str) -> list[dict]:
    """Every line parsed as JSON (a line that is not JSON fails the test, naming it)."""
    entries = []
    for line in text.splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
    return entries


def test_coordinator_and_agent_write_one_json_object_per_line(db_url, tmp_path, app):
    coordinator = LiveCoordinator(db_url, tmp_path / "coord", MITO_LOG_FORMAT="json").start()
    try:
        with Mitosis(coordinator.url) as admin:
            admin.login("mitosis_admin", "mitosis_admin", retain=True)
            admin.admin_create_user("alice", "alice-pw")
        with Mitosis(coordinator.url) as sdk:
            sdk.login("alice", "alice-pw", retain=True)
            agent_dir = tmp_path / "agent"
            agent_dir.mkdir()
            agent = Agent(coordinator.url, agent_dir, "alice", "alice-pw", sdk, MITO_LOG_FORMAT="json")
            try:
                uuid = sdk.submit_task(group_name="alice", args=["true"])["uuid"]
                sdk.wait_task(uuid, timeout=60, interval=0.2)
                worker_id = sdk.query_workers(group_name="alice")["workers"][0]["worker_id"]
            finally:
                agent.stop()
    finally:
        coordinator.stop()

    served = json_lines(coordinator.log())
    assert any(e["logger"].startswith("gunicorn") for e in served), "gunicorn's own lines follow the format"
    access = [e for e in served if e["logger"] == "mito.access"]
    submit = next(e for e in access if e["method"] == "POST" and e["path"] == "/tasks")
    assert submit["user"] == "alice" and submit["task"] == uuid and submit["status"] == 200
    fetch = next(
        e for e in access if e["path"] == "/workers/tasks" and e["method"] == "GET" and e["status"] == 200
    )
    assert fetch["worker"] == worker_id and fetch["task"] == uuid and fetch["duration_ms"] >= 0
    assert len({e["request_id"] for e in access}) == len(access)
    assert all(e["program"] == "coordinator" for e in served)

    ran = json_lines(agent.log_path.read_text())
    assert all(e["program"] == "agent" for e in ran)
    task_lines = [e for e in ran if e.get("task") == uuid]
    assert any("committed task" in e["msg"] for e in task_lines)
    done = next(e for e in task_lines if e["msg"].startswith(f"task {uuid} done"))
    assert done["worker"] == worker_id and done["duration_ms"] > 0


def test_coordinator_logs_stay_human_readable_by_default(db_url, tmp_path, app):
    coordinator = LiveCoordinator(db_url, tmp_path / "coord").start()
    try:
        Mitosis(coordinator.url).health()
        time.sleep(0.2)
    finally:
        coordinator.stop()
    line = next(ln for ln in coordinator.log().splitlines() if "mito.access: GET /health 200" in ln)
    assert "[request_id=" in line and not line.startswith("{")
