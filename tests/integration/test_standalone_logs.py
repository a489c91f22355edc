"""`mito standalone` keeps each program's log in its data directory (written by one process, rotated)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.helpers import ROOT, free_port, wait_for_http, wait_until

pytestmark = pytest.mark.integration


def test_standalone_keeps_json_logs_in_its_data_dir(tmp_path):
    port = free_port()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
    env.update(MITO_LOG_FORMAT="json", PYTHONUNBUFFERED="1")
    with (tmp_path / "console.log").open("wb") as console:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mito", "standalone", "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--data-dir", str(data), "--polling-interval", "0.2s"],
            env=env, cwd=ROOT, stdout=console, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for_http(f"http://127.0.0.1:{port}/health", timeout=60, proc=proc)
            rid = httpx.get(f"http://127.0.0.1:{port}/health", headers={"X-Request-ID": "standalone-1"})
            assert rid.headers["X-Request-ID"] == "standalone-1"
            agent_log = data / "logs" / "agent-1.log"
            wait_until(
                lambda: agent_log.exists() and "registered worker" in agent_log.read_text(), what="agent"
            )
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=60) == 0
    logs = data / "logs"
    assert sorted(p.name for p in logs.iterdir()) == ["agent-1.log", "coordinator.log", "standalone.log"]
    parsed = {name: [json.loads(line) for line in (logs / name).read_text().splitlines()] for name in
              ("agent-1.log", "coordinator.log", "standalone.log")}  # fmt: skip
    assert any(
        e.get("request_id") == "standalone-1" and e["status"] == 200 for e in parsed["coordinator.log"]
    )
    assert {e["program"] for e in parsed["agent-1.log"]} == {"agent"}
    assert any(e.get("job") for e in parsed["standalone.log"])
