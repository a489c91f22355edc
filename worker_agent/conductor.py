"""The conductor: takes one claimed task through a table of steps, from the first download to the commit.

Each step is a row: the exec states it announces when it begins (`enters`), one function that does the
work and returns an Outcome, and a map from that outcome to what follows (`then`): the next step, an exec
state to announce on the way, and the result message the commit will carry. The table is the task's
whole progression (worker_agent/steps.py holds it); this module only walks it, so a new step is a row and
a function, and nothing else announces states in sequence.

Leaving the table early is not an outcome but an exception: the agent stops (Aborted), the worker was
removed (WorkerGone) or the task was given to another worker (TaskLost). Only `abortable` steps (those
before any result exists) are cut short that way; once the command has run, the result is uploaded and
committed even if the agent is asked to stop meanwhile.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from client.http import ApiError
from mito import logs
from mito.vocab import ExecState, TaskResultMessage
from worker_agent import metrics
from worker_agent.announce import Announcer
from worker_agent.config import WorkerConfig
from worker_agent.control import Control
from worker_agent.link import Link
from worker_agent.outbox import Outbox
from worker_agent.task import Aborted, TaskLost, TaskRun, WorkerGone
from worker_agent.watchdog import Watchdog
from worker_agent.workspace import Workspaces

log = logging.getLogger("mito.worker")


class Outcome(enum.Enum):
    """How a step ended; each step's row says which outcomes it can have."""

    OK = "ok"
    NOT_FOUND = "not found"
    FORBIDDEN = "forbidden"
    TIMED_OUT = "timed out"
    CANCELLED = "cancelled"
    FAILED = "failed"
    LOST = "lost"


@dataclass(frozen=True)
class AgentContext:
    """What the steps work with: settings, the coordinator, announcements, stop flags, the object store."""

    config: WorkerConfig
    link: Link
    announcer: Announcer
    control: Control
    files: httpx.Client  # for presigned URLs: no base URL, no token
    watchdog: Watchdog = field(default_factory=Watchdog)  # kills task groups if the agent is killed
    wants_next: Callable[[], bool] = lambda: True  # whether a commit may claim the next task
    # The agent's environment for its commands, without MITO_* keys (its password among them): read and
    # encoded once, not per task (35 variables cost ~30 us of CPU per command to decode and re-encode).
    inherited_env: dict[bytes, bytes] = field(default_factory=lambda: inherited_env())

    @property
    def outbox(self) -> Outbox:
        """Where report ops leave: batched, or one request each (worker_agent/outbox.py)."""
        return self.announcer.outbox

    @property
    def redis(self) -> redis.Redis | None:
        """The Redis the coordinator offered, when the agent could connect to it."""
        return self.announcer.redis

    def announce(self, run: TaskRun, state: ExecState) -> None:
        """Announce an exec state reached inside a step (e.g. ExecSpawned)."""
        self.announcer.announce(run, state)


def inherited_env() -> dict[bytes, bytes]:
    """The environment an agent hands its commands: its own, without MITO_* keys, as bytes."""
    return {k: v for k, v in os.environb.items() if not k.startswith(b"MITO_")}


END = None  # `Then.next` of the last step
StepFn = Callable[[AgentContext, TaskRun], Outcome]


@dataclass(frozen=True)
class Then:
    """What follows an outcome: the next step (END: done), a state to announce, the result message."""

    next: str | None
    announce: ExecState | None = None
    msg: TaskResultMessage | None = None  # None: keep the message set so far


@dataclass(frozen=True)
class Step:
    """One row of the table."""

    run: StepFn
    then: Mapping[Outcome, Then]
    enters: tuple[ExecState, ...] = ()
    when: Callable[[TaskRun], bool] | None = None  # the step is skipped (outcome OK) when this says no
    abortable: bool = False  # a stopping agent or a lost task drops the task after this step


class TableError(ValueError):
    """A step table that names a step it does not have, or an outcome its step has no row for."""


def check_table(steps: Mapping[str, Step], first: str) -> None:
    """Refuse a table with a dangling `next`, or with a step that cannot be reached from `first`."""
    if first not in steps:
        raise TableError(f"the first step {first!r} is not in the table")
    reached, todo = {first}, [first]
    while todo:
        for then in steps[todo.pop()].then.values():
            if then.next is END or then.next in reached:
                continue
            if then.next not in steps:
                raise TableError(f"a transition leads to {then.next!r}, which is not in the table")
            reached.add(then.next)
            todo.append(then.next)
    if unreachable := sorted(set(steps) - reached):
        raise TableError(f"steps never reached from {first!r}: {', '.join(unreachable)}")


class Conductor:
    """Runs each claimed task through the step table."""

    def __init__(self, ctx: AgentContext, steps: Mapping[str, Step], first: str):
        check_table(steps, first)
        self.ctx = ctx
        self.steps = steps
        self.first = first
        self._workspaces: Workspaces | None = None

    def execute(self, task: dict[str, Any], work_dir: Path) -> dict[str, Any] | None:
        """Run one task; every line logged meanwhile carries its uuid, and the last one its duration.

        Returns the next task when the commit's answer claimed one (report_batch), else None.
        """
        started = time.monotonic()
        with logs.bound(task=str(task["uuid"])):
            next_task = self._execute(task, work_dir)
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            log.info(
                "task %s done in %.1fs", task["uuid"], duration_ms / 1000, extra={"duration_ms": duration_ms}
            )
        return next_task

    def _execute(self, task: dict[str, Any], work_dir: Path) -> dict[str, Any] | None:
        """Run one claimed task in a workspace of its own under `work_dir`, given back after (Workspaces)."""
        if self._workspaces is None or self._workspaces.work_dir != work_dir:
            self._workspaces = Workspaces(work_dir)
        workspaces = self._workspaces
        ws = workspaces.take(str(task["uuid"]))
        run = TaskRun(task=task, workspace=ws)
        control = self.ctx.control
        control.track(run)
        log.info("claimed task %s: %s", run.uuid, " ".join(run.spec.get("args") or []))
        result = "abandoned"
        try:
            self.drive(run)
            result = "committed"
        except TaskLost as exc:
            result = "lost"
            log.warning("task %s is no longer assigned to this worker (%s): dropped", run.uuid, exc)
        except (WorkerGone, Aborted):
            self.ctx.announce(run, ExecState.WorkerExited)
            log.info("task %s abandoned: the coordinator hands it to another worker", run.uuid)
        except ApiError as exc:
            self.ctx.announce(run, ExecState.WorkerExited)
            log.error("task %s abandoned: %s", run.uuid, exc)
        finally:
            self.ctx.outbox.settle(run)
            control.untrack(run)
            workspaces.give_back(ws)
            metrics.STATE.state(metrics.IDLE)  # first: a scrape that sees the task counted sees Idle
            metrics.TASKS.labels(result).inc()
        return run.next_task

    def drive(self, run: TaskRun) -> None:
        """Walk the table from the first step until a transition ends it."""
        name: str | None = self.first
        while name is not None:
            step = self.steps[name]
            if step.when is not None and not step.when(run):
                outcome = Outcome.OK
            else:
                for state in step.enters:
                    self.ctx.announce(run, state)
                outcome = step.run(self.ctx, run)
                if step.abortable:
                    run.check_abort()
            then = step.then.get(outcome)
            if then is None:
                raise TableError(f"step {name!r} has no transition for the outcome {outcome.value!r}")
            log.debug("task %s: step %s -> %s -> %s", run.uuid, name, outcome.value, then.next)
            if then.msg is not None:
                run.msg = then.msg
            if then.announce is not None:
                self.ctx.announce(run, then.announce)
            name = then.next
