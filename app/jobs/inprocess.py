"""Standalone mode: run the scheduled jobs in a daemon thread of the coordinator, with no broker.

Same schedule as Celery beat (schedule.JOBS); each job's plain function runs in an app context. A job that
fails is logged with its traceback and runs again at its next interval (every job is idempotent).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from flask import Flask

from app import db
from app.jobs import record_run, schedule, tasks, workers
from app.services import deletion, dispatch, output_store, quota
from mito import logs

log = logging.getLogger(__name__)

# The plain function behind each scheduled Celery task (what its task body calls), by task name.
PLAIN: dict[str, Callable[[], object]] = {
    "jobs.workers.reap": workers.reap_silent_workers,
    "jobs.tasks.reclaim_overrun": tasks.reclaim_overrun_tasks,
    "jobs.workers.expire": workers.remove_expired_workers,
    "jobs.storage.delete_pending": deletion.drain,
    "jobs.quota.recompute": quota.recompute_storage_used,
    "jobs.tasks.prune_buckets": dispatch.prune_buckets,
    "jobs.output.prune": output_store.prune,
}


class Runner:
    """The handle of a running in-process scheduler: `stop()`, and `trigger(task_name)` to run a job soon."""

    def __init__(self, app: Flask, interval_scale: float):
        self.app = app
        self.jobs = [
            (job, PLAIN[job.task], schedule.scaled(job, interval_scale).total_seconds())
            for job in schedule.JOBS
        ]
        now = time.monotonic()
        self._due = {job.task: now for job, _, _ in self.jobs}
        self.runs: Counter[str] = Counter()  # finished runs per job
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name="mito-jobs", daemon=True)

    def start(self) -> Runner:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the job in progress (if any) finishes."""
        self._stopping.set()
        self._wake.set()
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)

    def trigger(self, task_name: str) -> None:
        """Run the job named `task_name` as soon as possible (what enqueue does without a broker)."""
        with self._lock:
            if task_name in self._due:
                self._due[task_name] = time.monotonic()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            for job, function, every in self.jobs:
                with self._lock:
                    due = self._due[job.task] <= time.monotonic()
                    if due:
                        self._due[job.task] = time.monotonic() + every
                if due and not self._stopping.is_set():
                    self._run(job, function)
            with self._lock:
                wait = max(0.0, min(self._due.values()) - time.monotonic())
            self._wake.wait(wait)
            self._wake.clear()

    def _run(self, job: schedule.Job, function: Callable[[], object]) -> None:
        started, state = time.perf_counter(), "SUCCESS"
        with self.app.app_context(), logs.bound(job=job.task):
            try:
                function()
            except Exception:  # the loop must outlive one failed run; the next interval retries it
                state = "FAILURE"
                log.exception("housekeeping job %s failed", job.task)
                db.session.rollback()
            duration = round((time.perf_counter() - started) * 1000, 2)
            log.info(
                "job %s %s in %.1fms", job.task, state, duration,
                extra={"state": state, "duration_ms": duration},
            )  # fmt: skip
            record_run(job.task, succeeded=state == "SUCCESS", seconds=duration / 1000)
        self.runs[job.task] += 1


def start(app: Flask, interval_scale: float = 1.0) -> Runner:
    """Start running every scheduled job in a daemon thread; register it so enqueue() can trigger jobs."""
    runner = Runner(app, interval_scale * schedule.interval_scale(app.config)).start()
    app.extensions["mito_jobs_runner"] = runner
    return runner
