"""Live output with real processes: a `mito coordinator` (with Redis, and without: the table store), a
`mito worker` agent running the tasks, and `mito tasks logs` following them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from client.sdk import Mitosis
from mito.vocab.output import CHUNK_MAX, TAIL_CHUNKS
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.helpers import ROOT, LiveCoordinator, tree_rss, wait_until
from tests.integration.agents import Agent

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"
LATENCY = 2.0  # seconds: a printed line reaches a follower within this (issue #14)
BURST_MB = 100
RSS_GROWTH_MAX = 50 * 1024 * 1024

TICKER = """
import sys, time
for i in range(15):
    print(f"line {i} {time.time():.3f}", flush=True)
    time.sleep(0.2)
print("boom", file=sys.stderr, flush=True)
"""
BURST = f"""
import os, sys
line = b"x" * 99 + b"\\n"
block = line * 10_000
for _ in range({BURST_MB}):
    os.write(1, block)
os.write(1, b"done\\n")
"""


@pytest.fixture(scope="module")
def redis_coordinator(db_url, tmp_path_factory, app):
    """A coordinator keeping tails in Redis streams (module-scoped)."""
    coordinator = LiveCoordinator(
        db_url, tmp_path_factory.mktemp("live-redis"), MITO_REDIS_URL=REDIS_URL
    ).start()
    yield coordinator
    coordinator.stop()


@pytest.fixture(params=["redis", "table"])
def coordinator(request, app) -> LiveCoordinator:
    """With Redis (a stream per task) and without (the output_chunks table)."""
    return request.getfixturevalue("redis_coordinator" if request.param == "redis" else "live_coordinator")


@pytest.fixture
def sdk(coordinator):
    with Mitosis(coordinator.url) as client:
        client.login(ADMIN_USER, ADMIN_PASSWORD)
        yield client


@pytest.fixture
def agent(coordinator, sdk, tmp_path):
    started = Agent(coordinator.url, tmp_path, ADMIN_USER, ADMIN_PASSWORD, sdk)
    yield started
    started.stop()


def _mito(coordinator: LiveCoordinator, home: Path, *args: str, **kw) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
    env.update(
        MITO_COORDINATOR_ADDR=coordinator.url, MITO_CONFIG_DIR=str(home / "config"), PYTHONUNBUFFERED="1"
    )
    return subprocess.Popen(
        [sys.executable, "-m", "mito", *args], env=env, cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw,
    )  # fmt: skip


def _run(coordinator, home, *args: str) -> subprocess.CompletedProcess[str]:
    proc = _mito(coordinator, home, *args)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture
def home(coordinator, tmp_path) -> Path:
    assert _run(coordinator, tmp_path, "login", ADMIN_USER, ADMIN_PASSWORD, "--retain").returncode == 0
    return tmp_path


def test_a_follower_sees_each_line_within_two_seconds(coordinator, sdk, agent, home):
    # held back by a tag no worker has until the follower is reading, so its own start-up is not counted
    args = [sys.executable, "-c", TICKER]
    uuid = sdk.submit_task(group_name=ADMIN_USER, args=args, tags=["live-hold"], timeout="2m")["uuid"]
    follower = _mito(coordinator, home, "tasks", "logs", uuid, "-f")
    wait_until(
        lambda: f"GET /tasks/{uuid}/output" in coordinator.log(), timeout=60, what="the follower reads"
    )
    sdk.update_task(uuid, tags=[])
    seen: list[tuple[str, float]] = []

    def read() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            seen.append((line, time.time()))

    reader = threading.Thread(target=read)
    reader.start()
    assert follower.wait(timeout=120) == 0, follower.stderr.read() if follower.stderr else ""
    reader.join()
    lines = [(text.split(), at) for text, at in seen]
    assert [words[1] for words, _ in lines] == [str(i) for i in range(15)]
    late = [(words, round(at - float(words[2]), 2)) for words, at in lines if at - float(words[2]) > LATENCY]
    assert not late, f"lines seen more than {LATENCY}s after they were printed: {late}"
    info = sdk.get_task(uuid)["info"]
    assert info["state"] == "Finished" and info["result"]["exit_status"] == 0


def test_logs_of_a_running_task_without_terminal_output_and_its_stderr(coordinator, sdk, agent, home):
    script = "import sys, time; print('hello', flush=True); print('warn', file=sys.stderr); time.sleep(60)"
    uuid = sdk.submit_task(group_name=ADMIN_USER, args=[sys.executable, "-c", script], timeout="2m")["uuid"]
    wait_until(
        lambda: _run(coordinator, home, "tasks", "logs", uuid).stdout == "hello\n", timeout=30, what="hello"
    )
    assert _run(coordinator, home, "tasks", "logs", uuid, "--stderr").stdout == "warn\n"
    sdk.cancel_task(uuid)
    sdk.wait_task(uuid, timeout=60, interval=0.2)
    ended = _run(coordinator, home, "tasks", "logs", uuid)  # no std-log: what is left of the tail (a grace)
    assert (ended.returncode, ended.stdout) == (0, "hello\n"), ended.stderr


def test_logs_of_a_finished_terminal_task_come_from_its_std_log(coordinator, sdk, agent, home):
    script = "for i in range(50): print(f'row {i}')"
    uuid = sdk.submit_task(
        group_name=ADMIN_USER, args=[sys.executable, "-c", script], terminal_output=True, timeout="2m"
    )["uuid"]
    sdk.wait_task(uuid, timeout=60, interval=0.2)
    got = _run(coordinator, home, "tasks", "logs", uuid, "--tail", "3")
    assert got.returncode == 0, got.stderr
    assert got.stdout == "row 47\nrow 48\nrow 49\n"
    assert "".join(sdk.task_logs(uuid)) == "".join(f"row {i}\n" for i in range(50))
    as_json = json.loads(_run(coordinator, home, "tasks", "logs", uuid, "--tail", "1", "--json").stdout)
    assert as_json == {"uuid": uuid, "stream": "stdout", "output": "row 49\n"}


def test_a_100_mb_burst_is_skipped_not_kept_and_the_coordinator_stays_small(coordinator, sdk, agent, home):
    assert coordinator.proc is not None
    before = tree_rss(coordinator.proc.pid)
    uuid = sdk.submit_task(group_name=ADMIN_USER, args=[sys.executable, "-c", BURST], timeout="5m")["uuid"]
    info = sdk.wait_task(uuid, timeout=240, interval=0.5)
    assert info["state"] == "Finished" and info["result"]["exit_status"] == 0
    growth = tree_rss(coordinator.proc.pid) - before
    assert growth < RSS_GROWTH_MAX, f"the coordinator grew by {growth / 1e6:.1f} MB"
    tail = sdk.task_output(uuid, stream="stdout")
    shipped = sum(len(c["data"]) for c in tail["chunks"])
    assert shipped <= TAIL_CHUNKS * CHUNK_MAX
    assert any(c["skipped"] > 0 for c in tail["chunks"]), "a burst this size must have been skipped"
    assert tail["chunks"][-1]["data"].endswith("done\n")


def test_following_an_unknown_task_is_a_clear_404(coordinator, home):
    got = _run(coordinator, home, "tasks", "logs", "00000000-0000-4000-8000-000000000000", "-f")
    assert got.returncode == 1
    assert "404" in got.stderr and "not found" in got.stderr and "Traceback" not in got.stderr
