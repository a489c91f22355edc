"""The chaos suite (issue 12 item 14): a few hundred short tasks while processes are killed and services stop.

Real processes: two `mito coordinator` replicas, a Celery worker and beat, a private redis-server, moto's
S3 server over HTTP, and several `mito worker` agents run MITO_CHAOS_TASKS (default 200) short tasks. For
MITO_CHAOS_SECONDS (default 60; longer until each kind of fault happened once, shorter if the tasks are
done) faults are injected at random: an agent or a coordinator killed with SIGKILL (and started again),
Celery restarted, Redis or S3 stopped for a few seconds. Then, once every task ended:

- every task was committed exactly once (archived once, none left active), Finished with exit status 0;
- every Finished task's result artifact is in S3 with the size its row records;
- every group's `storage_used` equals the bytes of the objects in the store;
- no coordinator answered a 5xx except a 503 during (or just after) an injected Redis or S3 outage.

The run is random but repeatable: MITO_CHAOS_SEED (printed, and named in every failure) replays it. It
needs PostgreSQL (several processes writing at once), so it runs in the PostgreSQL pass of `make test`.
    MITO_CHAOS_SEED=1234 MITO_CHAOS_SECONDS=600 .venv/bin/pytest tests/integration/test_chaos.py
"""

from __future__ import annotations

import os
import random
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import httpx
import pytest
import sqlalchemy as sa
from moto.server import ThreadedMotoServer

from app import db
from app.models import ActiveTask, ArchivedTask, Artifact, Attachment, Group, StorageDeletion, TaskAttempt
from app.storage import artifact_key
from client.sdk import Mitosis
from tests import builders
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, BACKEND
from tests.helpers import LiveCoordinator, free_port, wait_until
from tests.integration.agents import Agent
from tests.integration.procs import CeleryProcesses, RedisServer

SEED = int(os.environ.get("MITO_CHAOS_SEED") or random.SystemRandom().randrange(1 << 31))
SECONDS = float(os.environ.get("MITO_CHAOS_SECONDS", "60"))
TASKS = int(os.environ.get("MITO_CHAOS_TASKS", "200"))
SETTLE = 900.0  # seconds for every task to end once the faults stop (a loaded machine is slow)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(BACKEND != "postgresql", reason="chaos runs once, in the PostgreSQL pass"),
    pytest.mark.timeout(int(SECONDS + SETTLE + 600)),
]
AGENTS = 4
FAULTS = ("agent", "coordinator", "celery", "redis", "s3")
START_TIMEOUT = 180.0  # a coordinator's start-up, on a machine loaded by the fleet itself
OUTAGE_GRACE = timedelta(seconds=5)  # a request that started in an outage may answer just after it
ACCESS = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ mito\.access: (\S+) (\S+) (\d{3}) ")
SETTINGS = {
    "MITO_HEARTBEAT_TIMEOUT": "8s",
    "MITO_MAX_TASK_LOSSES": "1000",  # losses come from the faults: a task must finish whatever it takes
    "MITO_S3_ACCESS_KEY": "testing",
    "MITO_S3_SECRET_KEY": "testing",
}


class S3:
    """moto's server on a fixed port, stoppable and restartable (its objects live in this process).

    moto keeps its buckets in process-wide state that outlives a server: the first start empties it (an
    earlier test's objects would otherwise count as orphans here), a restart after an outage keeps it.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: ThreadedMotoServer | None = None
        self.started = False

    def start(self) -> S3:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        if not self.started:
            httpx.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()
            self.started = True
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def client(self):
        return boto3.client(
            "s3", endpoint_url=self.url, aws_access_key_id="testing", aws_secret_access_key="testing",
            region_name="us-east-1",
        )  # fmt: skip


@dataclass
class Fleet:
    """Everything the chaos acts on, and the outage windows a 503 is allowed in."""

    tmp: Path
    redis: RedisServer
    s3: S3
    coordinators: list[LiveCoordinator]
    celery: CeleryProcesses
    sdk: Mitosis
    agents: list[Agent | None] = field(default_factory=list)
    outages: list[tuple[datetime, datetime]] = field(default_factory=list)
    faults: Counter = field(default_factory=Counter)
    started: int = 0

    def connect(self) -> None:
        """A fresh client of the first coordinator, logged in as the admin."""
        self.sdk.close()
        self.sdk = Mitosis(self.coordinators[0].url)
        self.sdk.login(ADMIN_USER, ADMIN_PASSWORD)

    def start_agent(self, slot: int) -> None:
        self.started += 1
        home = self.tmp / f"agent-{slot}-{self.started}"
        home.mkdir(parents=True)
        url = self.coordinators[slot % len(self.coordinators)].url
        self.agents[slot] = Agent(url, home, ADMIN_USER, ADMIN_PASSWORD, self.sdk)

    def revive(self) -> None:
        """Start again what a fault (or a removal: exit status 75) stopped."""
        for coordinator in self.coordinators:
            if coordinator.proc is None or coordinator.proc.poll() is not None:
                coordinator.start(timeout=START_TIMEOUT)
                self.connect()  # the old client's pooled connections died with the coordinator
        for slot, agent in enumerate(self.agents):
            if agent is None or agent.proc.poll() is not None:
                self.start_agent(slot)

    def outage(self, stop, start, seconds: float) -> None:
        began = datetime.now()
        stop()
        time.sleep(seconds)
        start()
        self.outages.append((began, datetime.now() + OUTAGE_GRACE))

    def inject(self, rng: random.Random) -> None:
        # every kind once (in a random order) before any repeats, so even a short run has each fault
        unused = [k for k in FAULTS if not self.faults[k]]
        kind = rng.choice(unused or [*FAULTS, "agent"])
        self.faults[kind] += 1
        if kind == "agent":
            agent = self.agents[rng.randrange(len(self.agents))]
            if agent is not None and agent.proc.poll() is None:
                agent.proc.send_signal(signal.SIGKILL)
                agent.proc.wait()
        elif kind == "coordinator":
            coordinator = rng.choice(self.coordinators)
            if coordinator.proc is not None and coordinator.proc.poll() is None:
                coordinator.proc.send_signal(signal.SIGKILL)
                coordinator.proc.wait()
            time.sleep(rng.uniform(0.5, 2))
        elif kind == "celery":
            self.celery.stop()
            self.celery.start()
        elif kind == "redis":
            self.outage(self.redis.stop, self.redis.start, rng.uniform(1, 4))
        else:
            self.outage(self.s3.stop, self.s3.start, rng.uniform(1, 4))

    def server_errors(self) -> list[str]:
        """5xx access lines of every coordinator, but a 503 within an injected outage."""
        bad = []
        for coordinator in self.coordinators:
            for line in coordinator.log().splitlines():
                match = ACCESS.match(line)
                if not match or not match.group(4).startswith("5"):
                    continue
                at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
                if match.group(4) == "503" and any(a <= at <= b for a, b in self.outages):
                    continue
                bad.append(line)
        return bad

    def stop(self) -> None:
        for agent in self.agents:
            if agent is not None:
                agent.stop()
        self.celery.stop()
        for coordinator in self.coordinators:
            coordinator.stop()
        self.redis.stop()
        self.s3.stop()


def _script(rng: random.Random) -> list[str]:
    size, pause = rng.randrange(1, 50_000), rng.choice(["0", "0.2", "0.5", "1"])
    return ["sh", "-c", f'sleep {pause}; head -c {size} /dev/urandom > "$MITO_RESULT_DIR/out.bin"']


def test_chaos_loses_nothing_and_commits_once(app_ctx, db_url, tmp_path):
    print(f"\nchaos: MITO_CHAOS_SEED={SEED} MITO_CHAOS_SECONDS={SECONDS:g} MITO_CHAOS_TASKS={TASKS}")
    rng = random.Random(SEED)
    redis, s3 = RedisServer(tmp_path).start(), S3().start()
    env = {**SETTINGS, "MITO_REDIS_URL": redis.url, "MITO_S3_URL": s3.url}
    coordinators = [LiveCoordinator(db_url, tmp_path / f"coordinator-{i}", **env) for i in range(2)]
    for coordinator in coordinators:
        coordinator.start(timeout=START_TIMEOUT)
    celery = CeleryProcesses(db_url, tmp_path / "celery", redis.url, MITO_JOBS_INTERVAL_SCALE="0.02", **env)
    fleet = Fleet(tmp_path, redis, s3, coordinators, celery.start(), Mitosis(coordinators[0].url))
    fleet.agents = [None] * AGENTS
    try:
        fleet.sdk.login(ADMIN_USER, ADMIN_PASSWORD)
        for slot in range(AGENTS):
            fleet.start_agent(slot)
        reqs = [
            {"group_name": ADMIN_USER, "timeout": "2m", "task_spec": {"args": _script(rng)}}
            for _ in range(TASKS)
        ]
        for start in range(0, TASKS, 50):
            results = fleet.sdk.submit_tasks(reqs[start : start + 50])["results"]
            assert all("Ok" in r for r in results), (SEED, results)

        deadline = time.monotonic() + SECONDS
        while (time.monotonic() < deadline or len(fleet.faults) < len(FAULTS)) and builders.read(
            sa.select(sa.func.count()).select_from(ActiveTask)
        ):
            time.sleep(rng.uniform(1, 4))
            fleet.inject(rng)
            fleet.revive()
        print(f"chaos: faults injected {dict(fleet.faults)}")

        def settled() -> bool:
            fleet.revive()
            return not builders.read(
                sa.select(sa.func.count()).select_from(ActiveTask)
            ) and not builders.read(sa.select(sa.func.count()).select_from(StorageDeletion))

        wait_until(settled, timeout=SETTLE, interval=1, what=f"every task ended (seed {SEED})")

        archived = builders.read_all(sa.select(ArchivedTask.uuid))
        assert len(archived) == len(set(archived)) == TASKS, SEED
        results = Counter(
            (state.name, exit_status)
            for state, exit_status in db.session.execute(
                sa.select(ArchivedTask.state, ArchivedTask.exit_status)
            )
        )
        db.session.rollback()
        assert results == {("Finished", 0): TASKS}, (SEED, results)
        # one attempt per task committed; the others were lost with their worker
        ends = Counter(builders.read_all(sa.select(TaskAttempt.end)))
        committed = Counter(
            builders.read_all(sa.select(TaskAttempt.task_uuid).where(TaskAttempt.end != "lost"))
        )
        assert set(committed) == set(archived) and set(committed.values()) == {1}, (SEED, ends)
        print(f"chaos: attempts {dict(ends)}")

        client = s3.client()
        stored = {}
        for bucket in ("mitosis-artifacts", "mitosis-attachments"):
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                stored.update({(bucket, o["Key"]): o["Size"] for o in page.get("Contents", [])})
        artifacts = db.session.execute(
            sa.select(
                Artifact.task_uuid, Artifact.content_type, Artifact.attempt, Artifact.size, Artifact.current
            )
        ).all()
        db.session.rollback()
        current = {u for u, kind, _a, _s, is_current in artifacts if kind.wire == "result" and is_current}
        assert current == set(archived), SEED
        booked = {
            ("mitosis-artifacts", artifact_key(u, kind, a)): (size, c) for u, kind, a, size, c in artifacts
        }
        for key, (size, is_current) in booked.items():
            if is_current:  # what a committed task shows is stored, at its recorded size
                assert stored.get(key) == size, (SEED, key, size, stored.get(key))
            elif key in stored:
                assert stored[key] == size, (SEED, key, size, stored[key])
        assert set(stored) <= set(booked), (SEED, sorted(set(stored) - set(booked))[:5])
        # storage_used is the stored bytes, plus what a lost attempt booked for an upload it never made
        unused = sum(size for key, (size, _c) in booked.items() if key not in stored)
        used = builders.read(sa.select(sa.func.sum(Group.storage_used)))
        assert used == sum(stored.values()) + unused, (SEED, used, sum(stored.values()), unused)
        print(
            f"chaos: {len(stored)} objects, {sum(stored.values())} bytes; {unused} bytes booked, not uploaded"
        )
        assert builders.read(sa.select(sa.func.count()).select_from(Attachment)) == 0

        assert fleet.server_errors() == [], SEED
    finally:
        fleet.sdk.close()
        fleet.stop()
        db.session.remove()
