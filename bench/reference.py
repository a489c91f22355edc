"""The in-run references of issue 13 goals 1 and 2, started by the harness itself.

- `ClaimEndpoint`: a bare Flask + SQLAlchemy app whose one endpoint claims a task in one statement
  (`UPDATE ... RETURNING` on a `FOR UPDATE SKIP LOCKED` pick), served by gunicorn with the coordinator's
  settings (gthread, 8 threads per process, `--workers` processes) on the bench's own database.
- `celery_noop`: Celery + Redis running no-op tasks with a prefork pool of 2, on a queue of its own
  (nothing else on the shared Redis is touched), from the first send to the last result; and the CPU
  time the Celery worker (its main process and pool) spent per task meanwhile.

    gunicorn "bench.reference:create_app()"   # BENCH_DB_URL names the database, BENCH_GROUP_ID the group
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from celery import Celery
from flask import Flask, Response, jsonify

from bench.common import tree_cpu_seconds
from tests.helpers import ROOT, free_port, stop_process, wait_for_http

# The head of one dispatch bucket (the project's own index, ix_active_tasks_dispatch), claimed in place.
CLAIM = sa.text(
    """UPDATE active_tasks SET state = 2, claimed_at = now()
       WHERE id = (SELECT id FROM active_tasks
                   WHERE group_id = :group_id AND tags_key = '[]' AND state = 1
                   ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING id"""
)


def create_app() -> Flask:
    """The reference endpoint: GET /claim -> {"id": N}, or 204 when nothing is Ready."""
    app = Flask("bench-reference")
    engine = sa.create_engine(os.environ["BENCH_DB_URL"], pool_size=8)
    group = {"group_id": int(os.environ["BENCH_GROUP_ID"])}

    @app.get("/claim")
    def claim() -> Response | tuple[str, int]:
        with engine.begin() as conn:
            task_id = conn.execute(CLAIM, group).scalar()
        return jsonify(id=task_id) if task_id is not None else ("", 204)

    return app


class ClaimEndpoint:
    """The reference app under gunicorn, on `db_url`."""

    def __init__(self, db_url: str, group_id: int, processes: int, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "BENCH_DB_URL": db_url, "BENCH_GROUP_ID": str(group_id)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(processes), "-k", "gthread", "--threads", "8",
             "-b", f"127.0.0.1:{self.port}", "bench.reference:create_app()"],
            env=env, cwd=str(ROOT), stdout=log.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for_http(self.url + "/claim", proc=self.proc)

    def stop(self) -> None:
        stop_process(self.proc)


# ---------------------------------------------------------------- Celery

celery = Celery("bench-reference")
if os.environ.get("BENCH_REDIS_URL"):  # the reference worker process: its settings come from the harness
    url = os.environ["BENCH_REDIS_URL"]
    celery.conf.update(broker_url=url, result_backend=url, task_default_queue=os.environ["BENCH_QUEUE"])


@celery.task(name="bench.noop")
def noop() -> None:
    """Nothing: the cost of a task is the framework's."""


def celery_noop(tasks: int, redis_url: str, log: Path) -> tuple[float, float]:
    """No-op tasks/s through a Celery worker (prefork, 2 processes) on Redis, first send to last result,
    and the worker's CPU seconds per task."""
    queue = f"bench-{os.getpid()}"
    celery.conf.update(broker_url=redis_url, result_backend=redis_url, task_default_queue=queue,
                       result_expires=600)  # fmt: skip
    env = {**os.environ, "BENCH_REDIS_URL": redis_url, "BENCH_QUEUE": queue}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench.reference:celery", "worker", "-c", "2",
         "-P", "prefork", "-Q", queue, "-l", "WARNING", "--without-gossip", "--without-mingle",
         "--without-heartbeat"],
        env=env, cwd=str(ROOT), stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not celery.control.ping(timeout=1.0):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the reference Celery worker did not start: {log.read_text()[-2000:]}")
        noop.delay().get(timeout=60)  # warm
        cpu, start = tree_cpu_seconds(worker.pid), time.perf_counter()
        results = [noop.delay() for _ in range(tasks)]
        for result in results:
            result.get(timeout=300)
        elapsed = time.perf_counter() - start
        return tasks / elapsed, (tree_cpu_seconds(worker.pid) - cpu) / tasks
    finally:
        stop_process(worker)
