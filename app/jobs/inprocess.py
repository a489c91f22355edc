"""Standalone mode: run the scheduled jobs in a daemon thread of the coordinator, with no broker.

Same schedule as Celery beat (schedule.JOBS); each job's plain function runs in an app context. A job that
fails is logged with its traceback and runs again at its next interval (every job is idempotent).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from flask import Flask

from app.jobs import schedule

log = logging.getLogger(__name__)


def _resolve(path: str) -> Callable[[], object]:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


class Runner:
    """The handle of a running in-process scheduler: `stop()`, and `trigger(task_name)` to run a job soon."""

    def __init__(self, app: Flask, interval_scale: float):
        self.app = app
        self.jobs = [
            (job, _resolve(job.function), schedule.scaled(job, interval_scale).total_seconds())
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
        from app import db

        with self.app.app_context():
            try:
                function()
            except Exception:  # the loop must outlive one failed run; the next interval retries it
                log.exception("housekeeping job %s failed", job.task)
                db.session.rollback()
        self.runs[job.task] += 1


def start(app: Flask, interval_scale: float = 1.0) -> Runner:
    """Start running every scheduled job in a daemon thread; register it so enqueue() can trigger jobs."""
    runner = Runner(app, interval_scale * schedule.interval_scale(app.config)).start()
    app.extensions["mito_jobs_runner"] = runner
    return runner
