"""Retry policies and attempt history with real processes: a `mito coordinator`, `mito worker` agents and the
`mito` CLI (issue #14 item 2). A failing task is retried as its policy says, each attempt is recorded, a
lost worker counts against the same budget, and bad policies are refused before anything is submitted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from app import db
from app.models import ActiveTask, Worker
from app.services import worker as worker_service
from client.sdk import Mitosis
from mito.vocab import WorkerRemoval
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.integration.agents import Agent
from tests.integration.test_cli_tasks import User

pytestmark = pytest.mark.integration


@pytest.fixture
def user(live_coordinator, tmp_path) -> User:
    person = User(live_coordinator.url, tmp_path)
    person.run("login", ADMIN_USER, ADMIN_PASSWORD)
    return person


@pytest.fixture
def sdk(live_coordinator):
    with Mitosis(live_coordinator.url) as api:
        api.login(ADMIN_USER, ADMIN_PASSWORD)
        yield api


def _ended(sdk: Mitosis, uuid: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        task = sdk.get_task(uuid)
        if task["info"]["state"] in ("Finished", "Cancelled") and task["info"]["result"] is not None:
            return task
        assert time.monotonic() < deadline, f"task {uuid} never ended: {task}"
        time.sleep(0.3)


def _until(sdk: Mitosis, uuid: str, check, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while not check(task := sdk.get_task(uuid)):
        assert time.monotonic() < deadline, f"task {uuid}: {task}"
        time.sleep(0.2)
    return task


def test_exit_1_under_retries_3_on_exit_1_runs_4_times_and_records_4_attempts(
    user, sdk, live_coordinator, tmp_path
):
    uuid = user.run(
        "tasks", "submit", "--retries", "3", "--retry-on", "exit:1", "--terminal",
        "--", "sh", "-c", "echo attempt $MITO_TASK_UUID; exit 1",
    )  # fmt: skip
    agent = Agent(live_coordinator.url, tmp_path, ADMIN_USER, ADMIN_PASSWORD, sdk)
    try:
        task = _ended(sdk, uuid)
    finally:
        agent.stop()
    info = task["info"]
    assert (info["state"], info["result"]["exit_status"], info["retry_count"]) == ("Finished", 1, 3)
    assert info["retry"] == {"retries": 3, "on": ["exit:1"], "delay": "0s", "backoff": "fixed"}
    attempts = task["attempts"]
    assert [a["number"] for a in attempts] == [1, 2, 3, 4]
    assert {(a["end"], a["exit_status"], a["signal"]) for a in attempts} == {("exit", 1, None)}
    assert all(a["ended_at"] and a["worker_uuid"] for a in attempts)
    shown = user.run("tasks", "get", uuid)
    assert "attempts" in shown and shown.count(" exit ") >= 4
    # every attempt's std-log stays downloadable (per-attempt keys), the last one is the task's own
    assert all([x["content_type"] for x in a["artifacts"]] == ["std-log"] for a in attempts)
    logs = []
    for number in (1, 2, 3, 4):
        out = tmp_path / f"std-{number}"
        user.run("tasks", "artifacts", "download", uuid, "std-log", "--attempt", str(number), "-x", str(out))
        logs.append(b"".join(p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()))
    assert all(b"attempt " + uuid.encode() in log for log in logs), logs
    assert sdk.download_artifact(uuid, "std-log")["size"] == attempts[3]["artifacts"][0]["size"]


def test_exit_2_is_not_retried_under_a_policy_naming_exit_1_and_tasks_retry_reruns_it(
    user, sdk, live_coordinator, tmp_path
):
    uuid = user.run("tasks", "submit", "--retries", "3", "--retry-on", "exit:1", "--", "sh", "-c", "exit 2")
    agent = Agent(live_coordinator.url, tmp_path, ADMIN_USER, ADMIN_PASSWORD, sdk)
    try:
        task = _ended(sdk, uuid)
        assert task["info"]["result"]["exit_status"] == 2
        assert [(a["number"], a["end"], a["exit_status"]) for a in task["attempts"]] == [(1, "exit", 2)]
        assert user.run("tasks", "retry", uuid) == uuid
        task = _until(sdk, uuid, lambda t: len(t["attempts"]) == 2 and t["info"]["result"] is not None)
    finally:
        agent.stop()
    assert [(a["number"], a["exit_status"]) for a in task["attempts"]] == [(1, 2), (2, 2)]


def test_campaigns_retry_failed_reruns_only_the_failed_point(user, sdk, live_coordinator, tmp_path):
    name = user.run(
        "tasks", "submit", "--campaign", "codes", "--sweep", "code=0,3", "--", "sh", "-c", "exit {code}"
    )
    agent = Agent(live_coordinator.url, tmp_path, ADMIN_USER, ADMIN_PASSWORD, sdk)
    try:
        done = lambda: sdk.campaign_status(ADMIN_USER, name)["done"]  # noqa: E731
        deadline = time.monotonic() + 90
        while not done():
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert user.run("campaigns", "retry", name, "--failed") == f"Re-running 1 task(s) of {name}"
        tasks = sdk.campaign_tasks(ADMIN_USER, name)["tasks"]
        by_code = {t["params"]["code"]: t["uuid"] for t in tasks}
        _until(sdk, by_code["3"], lambda t: len(t["attempts"]) == 2 and t["info"]["result"] is not None)
    finally:
        agent.stop()
    assert len(sdk.get_task(by_code["0"])["attempts"]) == 1


def _remove_the_worker(app) -> None:
    with app.app_context():
        row = db.session.scalar(sa.select(Worker))
        worker_service.remove_worker(worker=row, reason=WorkerRemoval.HeartbeatTimeout)
        db.session.remove()


def test_a_lost_worker_counts_against_the_retries(app, user, sdk, live_coordinator, tmp_path):
    uuid = user.run("tasks", "submit", "--retries", "1", "--retry-on", "lost", "--", "sleep", "600")
    for attempt in (1, 2):
        (home := tmp_path / str(attempt)).mkdir()
        agent = Agent(live_coordinator.url, home, ADMIN_USER, ADMIN_PASSWORD, sdk)
        try:
            _until(sdk, uuid, lambda t, n=attempt: (t["info"]["state"], len(t["attempts"])) == ("Running", n))
            _remove_the_worker(app)
            agent.proc.wait(timeout=30)
        finally:
            agent.stop()
        if attempt == 1:
            task = sdk.get_task(uuid)
            assert (task["info"]["state"], task["info"]["retry_count"]) == ("Ready", 1)
    task = sdk.get_task(uuid)
    assert task["info"]["state"] == "Cancelled"
    result = task["info"]["result"]
    assert result["exit_status"] != 0 and "WorkerLost" in result["detail"]
    assert [(a["number"], a["end"]) for a in task["attempts"]] == [(1, "lost"), (2, "lost")]
    # a task ended by losses is no success: an exit_status 0 filter does not find it
    found = sdk.query_tasks(group_name=ADMIN_USER, exit_status="0")["tasks"]
    assert uuid not in {t["uuid"] for t in found}


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--retries", "3", "--retry-on", "sometimes"], "unknown retry-on kind"),
        (["--retries", "-1"], "-1"),
        (["--retries", "2", "--retry-on", "exit:0"], "exit codes go from 1"),
        (["--retry-on", "exit:1"], "need --retries"),
        (["--retries", "2", "--retry-delay", "soon"], "soon"),
    ],
)
def test_a_bad_policy_is_a_usage_error_and_submits_nothing(app, user, options, said):
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(ActiveTask))
        db.session.remove()
    proc = subprocess.run(
        [sys.executable, "-m", "mito", "tasks", "submit", *options, "--", "true"],
        env=user.env, cwd=user.home, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert said in proc.stderr
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ActiveTask)) == before
        db.session.remove()
    assert json.loads(user.run("tasks", "query", "--json"))["count"] >= 0
