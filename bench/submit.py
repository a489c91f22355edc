"""Issue 13 goals 2 and 4: batch submit keeps >= 5,000 tasks/s, against Celery's enqueue in the same run.

N tasks submitted over HTTP in batches of 500 (`POST /tasks/submit`, one client, as the issue measured it)
to the bench's `mito coordinator` (PostgreSQL), from the first request to the last answer; and, as the
reference, Celery's `apply_async` (`noop.delay()`) of N tasks to Redis from one producer, alternated
`--rounds` times (medians). The issue was filed at ~5,400 tasks/s against Celery's ~3,200/s on a faster
machine: the bound is absolute (5,000/s), the ratio is printed beside it.

    .venv/bin/python -m bench submit [--tasks 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import redis

from bench.common import Figure, load
from bench.dispatch import SUBMIT_BATCH as BATCH
from bench.dispatch import Bench
from bench.reference import celery, noop

PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"
SUBMIT_TASKS_PER_S = 5000.0


def celery_rate(tasks: int, redis_url: str) -> float:
    """Celery's enqueue (`delay()`) of no-op tasks/s to Redis on a queue of its own, emptied after."""
    queue = f"bench-submit-{time.monotonic_ns()}"
    celery.conf.update(broker_url=redis_url, result_backend=redis_url, task_default_queue=queue)
    noop.delay()  # the connection and the queue's declaration
    start = time.perf_counter()
    for _ in range(tasks):
        noop.delay()
    rate = tasks / (time.perf_counter() - start)
    redis.Redis.from_url(redis_url).delete(queue)
    return rate


def run(tasks: int, rounds: int, processes: int) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(PG_URL, processes, Path(tmp))
        try:
            bench.submit_rate(BATCH * 2)  # warm
            project, reference = [], []
            for _ in range(rounds):
                reference.append(celery_rate(tasks, REDIS_URL))
                project.append(bench.submit_rate(tasks))
                print(f"  round: batch submit {project[-1]:,.0f} tasks/s, Celery enqueue "
                      f"{reference[-1]:,.0f} tasks/s; load {load()}", flush=True)  # fmt: skip
        finally:
            bench.close()
    rate, ref = statistics.median(project), statistics.median(reference)
    note = f">= {SUBMIT_TASKS_PER_S:,.0f} tasks/s; batches of {BATCH}, one client; reference: Celery delay()"
    return [Figure("2/4: batch submit", rate, ref, "/s", rate >= SUBMIT_TASKS_PER_S, note)]


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2, help="gunicorn processes of the coordinator")
    args = parser.parse_args(argv)
    return run(args.tasks, args.rounds, args.processes)
