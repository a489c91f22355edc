"""Attempts and retry policies, as the lifecycle uses them (issue #14 item 2, issue #12 item 6).

The lifecycle (lifecycle.py) decides and writes every state change; this module holds what it asks and
the rows it writes besides the task: whether a policy retries a failure and after what delay, the
`task_attempts` row of each claim and how it ended, and which artifacts a committed task shows. Nothing
here assigns a task's `state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from app import db
from app.db import utcnow
from app.models import ActiveTask, Artifact, TaskAttempt, Worker
from mito.vocab.retries import AttemptEnd, failure_kind, matches, retry_delay

# ---------------------------------------------------------------- the policy


def budget_left(task: ActiveTask) -> bool:
    """Whether the task's policy allows one more retry."""
    policy = task.retry_policy
    return policy is not None and task.retry_count < int(policy.get("retries", 0))


def next_delay(task: ActiveTask) -> int:
    """Seconds before the task's next retry."""
    return retry_delay(task.retry_policy or {}, task.retry_count + 1)


def retries_failure(task: ActiveTask, result: Mapping[str, Any] | None) -> bool:
    """Whether a committed result is a failure the task's policy retries, with retries left."""
    if task.cancel_requested or not budget_left(task):
        return False
    result = result or {}
    failure = failure_kind(result.get("exit_status"), result.get("msg"))
    return failure is not None and matches((task.retry_policy or {}).get("on", ()), *failure)


def retries_loss(task: ActiveTask) -> bool:
    """Whether the task's policy names `lost` (its losses then count against its retries)."""
    return matches((task.retry_policy or {}).get("on", ()), "lost")


# ---------------------------------------------------------------- attempt rows


def start(task: ActiveTask, worker: Worker) -> None:
    """Record the attempt a claim starts (the task's `attempt` and `claimed_at` already set)."""
    row = TaskAttempt(task_uuid=task.uuid, number=task.attempt, worker_uuid=worker.uuid)
    row.started_at = task.claimed_at or utcnow()
    db.session.add(row)


def committed_by(task_uuid: Any, number: int, worker_uuid: Any) -> bool:
    """Whether attempt `number` of the task ended by a report of `worker_uuid` (not lost with it)."""
    return (
        db.session.scalar(
            sa.select(TaskAttempt.id).where(
                TaskAttempt.task_uuid == task_uuid,
                TaskAttempt.number == number,
                TaskAttempt.worker_uuid == worker_uuid,
                TaskAttempt.ended_at.is_not(None),
                TaskAttempt.end != AttemptEnd.lost.value,
            )
        )
        is not None
    )


def end_of(result: Mapping[str, Any]) -> AttemptEnd:
    """Why an attempt committed with `result` ended."""
    msg = result.get("msg")
    if msg is None:
        return AttemptEnd.exit
    return {"ExecTimeout": AttemptEnd.timeout, "UserCancellation": AttemptEnd.cancelled}.get(
        str(msg), AttemptEnd.error
    )


def end(task: ActiveTask, why: AttemptEnd, result: Mapping[str, Any] | None = None) -> None:
    """Close the task's open attempt (if any) with why it ended and what it committed.

    One UPDATE, without flushing the session first (the task's own pending changes need no statement
    when the transition archives it); only a pending attempt row is flushed, so that it is found.
    """
    if any(isinstance(obj, TaskAttempt) for obj in db.session.new):
        db.session.flush()
    values: dict[str, Any] = {"ended_at": utcnow(), "end": why.value}
    if result is not None:
        values.update(exit_status=result.get("exit_status"), msg=result.get("msg"))
    db.session.execute(
        sa.update(TaskAttempt)
        .where(
            TaskAttempt.task_uuid == task.uuid,
            TaskAttempt.number == task.attempt,
            TaskAttempt.ended_at.is_(None),
        )
        .values(values)
        .execution_options(synchronize_session="fetch" if _loaded_attempts() else False, autoflush=False)
    )


def _loaded_attempts() -> bool:
    """Whether the session holds attempt rows (the UPDATE must then refresh them)."""
    return any(isinstance(obj, TaskAttempt) for obj in db.session.identity_map.values())


def committed(task: ActiveTask, result: Mapping[str, Any] | None) -> None:
    """Close the committing attempt and make its artifacts the ones the task shows."""
    end(task, end_of(result or {}), result)
    show_committed_artifacts(task)


def show_committed_artifacts(task: ActiveTask) -> None:
    """Fencing (issue #12 item 6): the committed attempt's artifacts are the ones the task shows.

    Its uploads were made current when booked; an earlier attempt's still current (a content type this
    one did not upload) steps back, so an upload URL an earlier attempt kept writes nothing shown. A
    first attempt (numbers only grow, a re-run continues them) has no earlier one: no statement.
    """
    if task.attempt <= 1:
        return
    db.session.execute(
        sa.update(Artifact)
        .where(
            Artifact.task_uuid == task.uuid,
            Artifact.current.is_(True),
            Artifact.attempt > 0,
            Artifact.attempt != task.attempt,
        )
        .values(current=False)
        .execution_options(synchronize_session=False)
    )


def note_retry_at(task: ActiveTask, when: datetime) -> None:
    """Show on the task's last attempt when the next one becomes Ready."""
    ended = db.session.scalar(
        sa.select(TaskAttempt).where(TaskAttempt.task_uuid == task.uuid, TaskAttempt.number == task.attempt)
    )
    if ended is not None:
        ended.retry_at = when


def last_number(task_uuid: Any) -> int:
    """The number of a task's last attempt (0: never claimed)."""
    last = db.session.scalar(
        sa.select(sa.func.max(TaskAttempt.number)).where(TaskAttempt.task_uuid == task_uuid)
    )
    return int(last or 0)
