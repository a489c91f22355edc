"""`mito tasks explain` and the warning of `mito tasks submit`, in real processes: a coordinator, a real
agent carrying some tags, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.integration.test_cli_tasks import User

pytestmark = pytest.mark.integration


@pytest.fixture
def user(live_coordinator, tmp_path) -> User:
    person = User(live_coordinator.url, tmp_path)
    person.run("login", ADMIN_USER, ADMIN_PASSWORD)
    return person


def _submit(user: User, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mito", "tasks", "submit", *args],
        env=user.env, cwd=user.home, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _registered(user: User) -> None:
    deadline = time.monotonic() + 30
    while not json.loads(user.run("workers", "query", "--json"))["workers"]:
        assert time.monotonic() < deadline, (user.home / "agent.log").read_text()
        time.sleep(0.2)


def test_submit_warns_and_explain_names_the_tag_no_worker_carries(user):
    with user.agent("linux", "explain-cuda"):
        _registered(user)
        proc = _submit(user, "-t", "linux,explain-cuda,gpu", "--", "true")
        assert proc.returncode == 0, proc.stderr
        uuid = proc.stdout.strip()
        assert f"warning: no registered worker could run task {uuid}" in proc.stderr
        assert "the closest lack: gpu" in proc.stderr
        said = user.run("tasks", "explain", uuid)
        facts = json.loads(user.run("tasks", "explain", uuid, "--json"))
    assert "no worker of group mitosis_admin carries all its tags; the closest lack: gpu" in said
    assert facts["missing_tags"] == ["gpu"]
    assert facts["workers"]["group"] >= 1 and facts["workers"]["tags"] == 0


def test_submit_of_a_task_a_worker_can_run_warns_nothing(user):
    with user.agent("explain-ok"):
        _registered(user)
        proc = _submit(user, "-t", "explain-ok", "--", "true")
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        user.run("tasks", "wait", proc.stdout.strip(), "--timeout", "60s")


def test_explain_of_an_unknown_task_is_a_clear_cli_error(user):
    proc = subprocess.run(
        [sys.executable, "-m", "mito", "tasks", "explain", "00000000-0000-4000-8000-000000000000"],
        env=user.env, cwd=user.home, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "not found" in proc.stderr and "Traceback" not in proc.stderr
