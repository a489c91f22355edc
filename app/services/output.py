"""Live output: the tail of what a running task wrote, shipped by its agent, read by followers.

Shipping. The agent of a claimed task posts chunks (stream, text, bytes skipped before it) every half
second at most (mito.vocab.output has the bounds). Only the worker holding the task may ship for it; the
check is one indexed read, with no row lock, so shipping never waits on the task's reports.

Keeping. Every coordinator process sees the same tail: with Redis configured (MITO_REDIS_URL) a stream per
task, `mito:output:{uuid}`, trimmed to about TAIL_CHUNKS entries on each add and expiring an hour after
the task's timeout; without Redis the `output_chunks` table, trimmed to TAIL_CHUNKS rows per task on each
add. When the task is archived (lifecycle) its tail is forgotten: the Redis stream expires FORGET_AFTER
seconds later, and the `jobs.output.prune` job deletes table rows of archived tasks older than that. The
grace lets a follower read the last chunks the agent shipped just before its commit. A re-run (rerun.py)
clears the tail: the new attempt starts empty (the old one's output is in its std-log artifact), and since
ids only grow a follower's cursor from the old attempt reads the new one from its start.

Following. A read returns the chunks after a cursor (`after`: the stream entry id, or the row id); when
there are none and the task is still active it waits up to `wait` seconds for more (long-poll): on Redis
by a blocking XREAD, on the table by polling every POLL_INTERVAL. No transaction stays open while it
waits (on SQLite every transaction takes the write lock).
"""

from __future__ import annotations

import time
import uuid as uuid_mod
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from app import db
from app.errors import NotFound
from app.models import ActiveTask, TaskState, User, Worker
from app.services import task as task_service
from app.services.output_store import Chunk, Store, store
from mito.vocab.output import WAIT_MAX, OutputStream


@dataclass(frozen=True)
class OutputPage:
    """TaskOutputResp: the chunks after the cursor, the next cursor, and whether more may come."""

    chunks: list[Chunk]
    next: str | None  # pass as `after` to read on; None: nothing read yet
    running: bool  # the task is still active (waiting, running or uploading): more output may come
    state: TaskState


# ---------------------------------------------------------------- operations


@db.transactional
def ship_output(*, worker: Worker, task_id: int, chunks: Sequence[Chunk]) -> None:
    """Add the chunks an agent shipped for the task it holds to the task's tail."""
    task = db.session.execute(
        sa.select(ActiveTask.uuid, ActiveTask.timeout).where(
            ActiveTask.id == task_id, ActiveTask.assigned_worker == worker.id
        )
    ).one_or_none()
    if task is None:
        raise NotFound(f"Task {task_id} not found or no longer held by this worker")
    if chunks:
        store().append(task.uuid, chunks, ttl=int(task.timeout) + 3600)


def read_output(
    *, actor: User, task_uuid: uuid_mod.UUID, after: str | None, wait: float, stream: OutputStream | None
) -> OutputPage:
    """The task's output after `after`, waiting up to `wait` seconds for some while the task is active."""
    state, running = _readable(actor, task_uuid)
    kept = store()
    deadline = time.monotonic() + min(max(wait, 0.0), WAIT_MAX)
    cursor = after
    while True:
        chunks, last = _read(kept, task_uuid, cursor)
        cursor = last or cursor
        wanted = [c for c in chunks if stream is None or c.stream == stream]
        left = deadline - time.monotonic()
        if wanted or not running or left <= 0:
            return OutputPage(chunks=wanted, next=cursor, running=running, state=state)
        kept.wait(task_uuid, cursor, min(left, 1.0))
        state, running = _state(task_uuid)


# ---------------------------------------------------------------- reads, each in a transaction of its own


@db.transactional
def _readable(actor: User, task_uuid: uuid_mod.UUID) -> tuple[TaskState, bool]:
    task = task_service.require_readable(actor=actor, task_uuid=task_uuid)
    return task.state, isinstance(task, ActiveTask)


@db.transactional
def _state(task_uuid: uuid_mod.UUID) -> tuple[TaskState, bool]:
    task = task_service.find_task(task_uuid)
    if task is None:  # deleted meanwhile
        return TaskState.Unknown, False
    return task.state, isinstance(task, ActiveTask)


@db.transactional
def _read(kept: Store, task_uuid: uuid_mod.UUID, after: str | None) -> tuple[list[Chunk], str | None]:
    return kept.read(task_uuid, after)
