"""The agent's calls to the coordinator: WorkerApi under the one backoff rule, and what 401 and 404 mean.

A 401 means this worker no longer exists: the control is told (the agent exits) and WorkerGone is raised.
A 404 on a report op means the task is no longer this worker's (TaskLost). Exec-state reports do not come
through here: they are progress information and never retried (worker_agent/announce.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from client.http import ApiError
from client.worker_api import WorkerApi
from worker_agent.backoff import Backoff
from worker_agent.control import Control, removal_in
from worker_agent.task import TaskLost, TaskRun, WorkerGone

T = TypeVar("T")


class Link:
    """WorkerApi calls retried while the coordinator is unreachable or answers 5xx/429."""

    def __init__(self, api: WorkerApi, backoff: Backoff, control: Control):
        self.api = api
        self.backoff = backoff
        self.control = control

    def call(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        interrupt: threading.Event | None = None,
        deadline: float | None = None,
        gone_on_401: bool = True,
    ) -> T:
        """Call the coordinator with retries; a 401 is WorkerGone, other errors are raised as they are.

        Retrying ends at `deadline` or when `interrupt` is set (default: the agent is forced to exit).
        """
        try:
            return self.backoff.retry(what, fn, interrupt=interrupt or self.control.forced, deadline=deadline)
        except ApiError as exc:
            if exc.status == 401 and gone_on_401:
                self.control.on_gone(f"{what}: 401", removal_in(exc))
                raise WorkerGone(exc.message) from exc
            raise

    def report(self, run: TaskRun, what: str, fn: Callable[[], T]) -> T:
        """A report op that must arrive: retried until the coordinator answers (404: the task is lost)."""
        try:
            return self.call(f"{what} of task {run.uuid}", fn)
        except ApiError as exc:
            if exc.status == 404:
                raise TaskLost(exc.message) from exc
            raise
