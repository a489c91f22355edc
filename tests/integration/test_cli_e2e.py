"""Acceptance: the real `mito` CLI in subprocesses against a real coordinator process and a real agent."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.helpers import ROOT

pytestmark = pytest.mark.integration


class Mito:
    """Runs `python -m mito ...` with a private config dir against one coordinator."""

    def __init__(self, url: str, home: Path):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
        self.env.update(MITO_COORDINATOR_ADDR=url, MITO_CONFIG_DIR=str(home / "config"), PYTHONUNBUFFERED="1")
        self.cwd = home
        home.mkdir(parents=True, exist_ok=True)

    def run(self, *args: str, ok: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "mito", *args],
            env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if ok:
            assert proc.returncode == 0, (
                f"mito {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def json(self, *args: str) -> dict:
        return json.loads(self.run("--json", *args).stdout)

    @contextlib.contextmanager
    def agent(self, *args: str):
        """A `mito worker` subprocess for the block; stopped (SIGTERM: it unregisters) afterwards."""
        env = dict(self.env, MITO_WORK_DIR=str(self.cwd / "agent"), MITO_POLLING_INTERVAL="1s")
        log = self.cwd / "agent.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "mito", "worker", *args],
            env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield log
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_cli_login_group_attachment_submit_wait_download(live_coordinator, tmp_path):
    admin = Mito(live_coordinator.url, tmp_path / "admin")
    admin.run("login", ADMIN_USER, ADMIN_PASSWORD)
    admin.run("admin", "users", "create", "alice", "alice-pw")

    alice = Mito(live_coordinator.url, tmp_path / "alice")
    assert alice.json("login", "alice", "alice-pw") == {"ok": True, "username": "alice"}
    assert alice.json("groups", "create", "lab") == {"ok": True, "group_name": "lab"}
    data = alice.cwd / "data.txt"
    data.write_text("hello mitosis\n")
    uploaded = alice.json("groups", "attachments", "upload", str(data), "inputs/data.txt", "-g", "lab")
    assert uploaded == {"ok": True, "group_name": "lab", "key": "inputs/data.txt", "size": 14}
    assert alice.json("groups", "attachments", "query", "-g", "lab", "--count")["count"] == 1
    listed = alice.json("groups", "attachments", "query", "-g", "lab")
    assert [a["key"] for a in listed["attachments"]] == ["inputs/data.txt"]

    with alice.agent("--user", "alice", "--password", "alice-pw", "--groups", "lab", "--tags", "e2e") as log:
        submitted = alice.json(
            "tasks", "submit", "-g", "lab", "-t", "e2e", "-l", "acceptance",
            "-r", "attachment=inputs/data.txt:data.txt", "--",
            "sh", "-c", 'tr a-z A-Z < "$MITO_RESOURCE_DIR/data.txt" > "$MITO_RESULT_DIR/upper.txt"',
        )  # fmt: skip
        uuid = submitted["uuid"]
        waited = alice.run("tasks", "wait", uuid, "--timeout", "60s", "--json", timeout=90)
        assert waited.returncode == 0, waited.stderr + log.read_text()
        info = json.loads(waited.stdout)
        assert info["state"] == "Finished" and info["result"]["exit_status"] == 0

        task = alice.json("tasks", "get", uuid)
        assert "result" in {a["content_type"] for a in task["artifacts"]}
        assert alice.json("tasks", "query", "-g", "lab", "-l", "acceptance", "--count")["count"] == 1
        found = alice.json("tasks", "query", "-g", "lab", "-l", "acceptance")
        assert [t["uuid"] for t in found["tasks"]] == [uuid]

        got = alice.json("tasks", "artifacts", "download", uuid, "result", "-o", "result.tar.gz", "-x", "out")
        assert got["path"] == "result.tar.gz" and got["size"] > 0
        with tarfile.open(alice.cwd / "result.tar.gz") as archive:
            names = archive.getnames()
        upper = [p for p in (alice.cwd / "out").rglob("upper.txt")]
        assert upper, names
        assert upper[0].read_text() == "HELLO MITOSIS\n"


def test_wait_exits_with_the_task_exit_status(live_coordinator, tmp_path):
    user = Mito(live_coordinator.url, tmp_path)
    user.run("login", ADMIN_USER, ADMIN_PASSWORD)
    with user.agent("--user", ADMIN_USER, "--password", ADMIN_PASSWORD, "--tags", "exit3"):
        uuid = user.json("tasks", "submit", "-t", "exit3", "--", "sh", "-c", "exit 3")["uuid"]
        waited = user.run("tasks", "wait", uuid, "--timeout", "60s", ok=False, timeout=90)
        assert waited.returncode == 3, waited.stdout + waited.stderr


def test_wait_timeout_exits_124(live_coordinator, tmp_path):
    user = Mito(live_coordinator.url, tmp_path)
    user.run("login", ADMIN_USER, ADMIN_PASSWORD)
    uuid = user.json("tasks", "submit", "-t", "no-such-worker", "--", "true")["uuid"]
    waited = user.run("tasks", "wait", uuid, "--timeout", "1s", ok=False)
    assert waited.returncode == 124 and "Ready" in waited.stderr
    assert user.json("tasks", "cancel", uuid) == {"ok": True, "uuid": uuid}
