"""Issue 13 goal 1: no-op tasks end to end through real `mito worker` agents, against Celery in the same run.

N no-op tasks (`true`) are batch-submitted to the bench's `mito coordinator` (PostgreSQL) and run by real
agents; the rate counts from the submission to the last commit (the last task archived). The reference is
Celery + Redis, prefork -c2, the same N no-op tasks from the first send to the last result
(bench/reference.py). Beside the rate:

- requests per task: what the coordinator served on its worker routes meanwhile (its own request
  histogram, GET /metrics), by route;
- CPU per task: the agents' own (every thread, and their watchdogs), the commands they ran (`true`,
  reaped by the agents), the coordinator's (gunicorn's arbiter and workers), PostgreSQL's (the backends
  serving the bench database) and, as the reference, the Celery worker's (its main process and pool).

The agents run with the default heartbeat interval (30 s; the integration tests' 0.5 s would add 8
requests/s of heartbeats that no real agent sends) and a 0.2 s polling interval while idle.

    .venv/bin/python -m bench throughput --only e2e --agents 4 --tasks 500
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import Figure, cpu_seconds, load, tree_cpu_seconds, worker_requests
from bench.dispatch import Bench
from bench.reference import celery_noop

E2E_TASKS_PER_S = 250.0
MAX_REQUESTS_PER_TASK = 3.0  # a task with nothing to upload: claim, finish with its states, commit
AGENT_ENV = {"MITO_HEARTBEAT_INTERVAL": "30s", "MITO_POLLING_INTERVAL": "0.2s"}


@dataclass(frozen=True)
class Usage:
    """What the agents and the coordinator had used at one moment: CPU seconds and requests served."""

    agents: float
    commands: float
    coordinator: float
    database: dict[int, float]  # by backend pid
    requests: dict[str, float]

    @classmethod
    def now(cls, bench: Bench, pids: list[int]) -> Usage:
        assert bench.coordinator.proc is not None
        backends = bench.sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).scalars()
        database = {}
        for pid in backends:
            with contextlib.suppress(OSError):  # a backend that ended meanwhile
                database[pid] = cpu_seconds(pid)
        return cls(
            agents=sum(tree_cpu_seconds(pid) for pid in pids),
            commands=sum(cpu_seconds(pid, reaped=True) for pid in pids),
            coordinator=tree_cpu_seconds(bench.coordinator.proc.pid),
            database=database,
            requests=worker_requests(bench.coordinator.url),
        )

    def database_since(self, before: Usage) -> float:
        """CPU seconds of the database's backends since `before` (those that ended meanwhile are missed)."""
        return sum(cpu - before.database.get(pid, 0.0) for pid, cpu in self.database.items())


def _archived(bench: Bench) -> int:
    """Committed tasks so far (read in SQL: polling the API would load the coordinator being measured)."""
    return int(bench.sql("SELECT count(*) FROM archived_tasks").scalar_one())


def end_to_end(bench: Bench, folder: Path, agents: int, tasks: int, redis_url: str) -> list[Figure]:
    """Goal 1: no-op tasks/s through real agents, requests and CPU per task, and Celery's in the same run."""
    from client.sdk import Mitosis
    from tests.integration.agents import Agent

    print(f"end to end: load average {load()}", flush=True)
    celery_rate, celery_cpu = celery_noop(tasks, redis_url, folder / "celery.log")
    bench.clear_tasks()
    sdk = Mitosis(bench.coordinator.url)
    sdk.login("bench", "pw")
    running = []
    try:
        for n in range(agents):
            (folder / f"agent{n}").mkdir()
            running.append(
                Agent(bench.coordinator.url, folder / f"agent{n}", "bench", "pw", sdk, **AGENT_ENV)
            )
        while sdk.query_workers(group_name="bench", count=True)["count"] < agents:
            time.sleep(0.1)  # Agent() returns once the group has a worker: the first agent's
        pids = [agent.proc.pid for agent in running]
        item = {"group_name": "bench", "tags": [], "labels": [], "timeout": "1m", "priority": 0,
                "task_spec": {"args": ["true"]}}  # fmt: skip
        before = Usage.now(bench, pids)
        start = time.perf_counter()
        for offset in range(0, tasks, 500):
            sdk.submit_tasks([item] * min(500, tasks - offset))
        deadline = time.monotonic() + 600
        while _archived(bench) < tasks:
            if time.monotonic() > deadline:
                raise RuntimeError("the agents did not commit the tasks within 10 minutes")
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        after = Usage.now(bench, pids)
    finally:
        for agent in running:
            agent.stop()
        sdk.close()
    project = tasks / elapsed
    routes = {r: (after.requests[r] - before.requests.get(r, 0.0)) / tasks for r in after.requests}
    per_task = sum(routes.values())
    agent_ms = (after.agents - before.agents) / tasks * 1000
    command_ms = (after.commands - before.commands) / tasks * 1000
    coordinator_ms = (after.coordinator - before.coordinator) / tasks * 1000
    database_ms = after.database_since(before) / tasks * 1000
    detail = ", ".join(f"{route} {n:.2f}" for route, n in sorted(routes.items()) if n)
    print(
        f"end to end: {tasks} no-op tasks, {agents} agents: project {project:,.1f} tasks/s "
        f"({elapsed:.2f} s), Celery {celery_rate:,.0f} tasks/s\n"
        f"  worker requests per task: {per_task:.2f} ({detail})\n"
        f"  CPU per task: agents {agent_ms:.2f} ms (+ their commands {command_ms:.2f} ms), coordinator "
        f"{coordinator_ms:.2f} ms, PostgreSQL {database_ms:.2f} ms; "
        f"Celery worker {celery_cpu * 1000:.2f} ms\n"
        f"end to end: load average {load()}",
        flush=True,
    )  # fmt: skip
    note = f">= {E2E_TASKS_PER_S:g} tasks/s; {agents} real agents; reference: Celery + Redis prefork -c2"
    cpu_note = f"reference: the Celery worker's; the commands themselves: {command_ms:.2f} ms"
    server_note = f"gunicorn arbiter and workers; PostgreSQL's backends: {database_ms:.2f} ms"
    requests_met = per_task <= MAX_REQUESTS_PER_TASK
    return [
        Figure("1: end-to-end no-op tasks", project, celery_rate, "/s", project >= E2E_TASKS_PER_S, note),
        Figure("1: worker requests per no-op task", per_task, None, "", requests_met, detail),
        Figure("1: agent CPU per task", agent_ms, celery_cpu * 1000, "ms", None, cpu_note),
        Figure("1: coordinator CPU per task", coordinator_ms, None, "ms", None, server_note),
    ]
