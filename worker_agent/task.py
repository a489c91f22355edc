"""One claimed task on its way through the steps: what the coordinator sent, its workspace, how it ends.

The exceptions say why a task leaves the steps without a commit; the conductor catches them.
"""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from mito.vocab import TaskResultMessage, parse_duration
from worker_agent.workspace import Workspace


class WorkerGone(Exception):
    """The coordinator answered 401: this worker was removed, shut down, or its token expired."""


class TaskLost(Exception):
    """The coordinator no longer gives this task to this worker (404 on a report)."""


class Aborted(Exception):
    """The agent is stopping: drop the task without committing (the coordinator puts it back to Ready)."""


class StopReason(enum.Enum):
    """Why a running task was told to stop."""

    USER = "the user cancelled it"  # the heartbeat listed it
    SHUTDOWN = "the agent is stopping"  # SIGTERM/SIGINT
    GONE = "the worker was removed"  # a 401
    LOST = "the task was reassigned"  # a 404 on a report


@dataclass
class TaskRun:
    """A claimed task (the WorkerTaskResp), its workspace, and the result the steps build up."""

    task: dict[str, Any]
    workspace: Workspace
    cancel: threading.Event = field(default_factory=threading.Event)
    reason: StopReason | None = None
    pgid: int | None = None
    exit_status: int = 0
    msg: TaskResultMessage | None = None
    detail: str | None = None  # in words, what went wrong (e.g. the missing resource)
    claimed_at: float = field(default_factory=time.monotonic)  # the fetch time limit counts from here
    next_task: dict[str, Any] | None = None  # the task the commit's answer claimed (report_batch)
    # Report ops queued for this task and the lock that keeps its sends in order (worker_agent/outbox.py)
    pending: list[Any] = field(default_factory=list)
    sending: threading.Lock = field(default_factory=threading.Lock)
    settled: bool = False  # committed, lost or dropped: nothing more is sent for it

    @property
    def id(self) -> int:
        """The task id that report ops carry."""
        return int(self.task["id"])

    @property
    def attempt(self) -> int | None:
        """The attempt the claim started (extension), which batched reports name (None: an older one)."""
        attempt = self.task.get("attempt")
        return int(attempt) if attempt is not None else None

    @property
    def uuid(self) -> str:
        """The task's public id."""
        return str(self.task["uuid"])

    @property
    def spec(self) -> dict[str, Any]:
        """The TaskSpec: args, envs, resources, terminal_output, watch."""
        spec: dict[str, Any] = self.task["spec"]
        return spec

    @property
    def timeout(self) -> float:
        """The task's timeout in seconds (the wire carries seconds or a duration string)."""
        timeout = self.task.get("timeout")
        if isinstance(timeout, int | float):
            return float(timeout)
        return parse_duration(str(timeout))

    def stop(self, reason: StopReason) -> None:
        """Ask the steps to end this task; the first reason given is the one that counts."""
        if self.reason is None:
            self.reason = reason
        self.cancel.set()

    def check_abort(self) -> None:
        """Raise when the task must be dropped without a commit (the agent stops, or the task is lost)."""
        if self.reason is StopReason.GONE:
            raise WorkerGone("removed while running a task")
        if self.reason is StopReason.SHUTDOWN:
            raise Aborted("shutting down")
        if self.reason is StopReason.LOST:
            raise TaskLost("404 on an exec state report")
