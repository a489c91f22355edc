"""Task lifecycle: the one writer of a task's state, from one transition table.

What. A task is created Ready (or Pending, when an agent spawns it downstream of the task it ran), is
claimed (Running), ends Finished or Cancelled, and is archived by its agent's commit. Every change of a
task's state is an `Event` given to `apply`, which looks the pair (state, event) up in `TRANSITIONS`,
takes the first row whose guard holds, runs the row's effect, sets the target state and, for an
archiving row, moves the task from active_tasks to archived_tasks. A pair with no row is refused with a
DomainError that names the states the event applies to, and changes nothing. No other module assigns
`state`, clears a holder or archives a task, but lifecycle_sql.py, its part that writes the two hot
transitions (the claim, a plain commit) in SQL from this table's rows (`CLAIM`, `plain_commit_steps`).

Why. The rules were spread over six files and two spellings of the user-cancel result. One table makes
them reviewable at a glance, and `apply` is the one place every transition passes: attempt history,
per-attempt fencing and per-transition counters hook in there (attempts.py holds the retry policy's
answers and the attempt rows the rows below write). Adding a task state is one TaskState
member (mito.vocab), its rows below and the event that triggers it.

The bucket index is kept in lifecycle_rows.py, with the row locks: a task that enters or stays Ready gets
its (group, tag set) row in `task_buckets` (dispatch.py reads it for the claim).

Lock order, everywhere: the worker row first, then the task it holds, then (commit only) that task's
downstream task, then group rows (ascending id, `quota.lock_group`), then object rows (artifacts,
attachments); so a report racing a removal waits instead of deadlocking. Code that holds a task lock
must not then lock a worker; code that holds a group lock must not then lock a worker or a task. User
rows are never locked on these paths. `lock_worker` and `lock_task` take the locks (FOR UPDATE on
PostgreSQL; SQLite serialises writers with BEGIN IMMEDIATE); `apply` expects its task locked (or new) and
joins the caller's transaction. A group is locked with `db.lock_rows` (FOR NO KEY UPDATE OF groups): not
the eager-joined creator's users row, and not against the FOR KEY SHARE that inserts referencing the
group (artifact rows at commit, grants at registration) take, which deadlocked with FOR UPDATE.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, cast

from flask import current_app
from sqlalchemy import orm

from app import db
from app.db import utcnow
from app.errors import Conflict, DomainError, InvalidRequest
from app.models import (
    ActiveTask,
    ArchivedTask,
    TaskExecState,
    TaskLoss,
    TaskState,
    Worker,
    tags_key,
)
from app.services import attempts, commit_sql, metrics, notify, output_store

# The row locks and the bucket index (lifecycle_rows.py), re-exported: callers take them from the lifecycle.
from app.services.lifecycle_rows import LockedWorker as LockedWorker
from app.services.lifecycle_rows import ensure_bucket as ensure_bucket
from app.services.lifecycle_rows import lock_held_row as lock_held_row
from app.services.lifecycle_rows import lock_task as lock_task
from app.services.lifecycle_rows import lock_tasks as lock_tasks
from app.services.lifecycle_rows import lock_worker as lock_worker
from app.services.lifecycle_rows import lock_worker_and_held_row as lock_worker_and_held_row
from app.services.lifecycle_rows import set_tags as set_tags
from mito.vocab import Notice, NoticeKind
from mito.vocab.retries import AttemptEnd

# The result a task cancelled by its user is archived with (directly, or when its worker is lost).
USER_CANCELLATION: Final[Mapping[str, Any]] = {"exit_status": 0, "msg": "UserCancellation"}
# The result of a task archived because too many workers holding it were lost: no process exit status
# (-1), never a success (issue #12 item 2); `detail` says why (msg keeps the spec's enum).
LOST_RESULT: Final[Mapping[str, Any]] = {
    "exit_status": -1,
    "msg": None,
    "detail": "WorkerLost: the workers running it were lost too many times",
}


class Event(enum.Enum):
    """What can happen to a task; the value completes "Task ... can not be <value>" in a refusal."""

    Submit = "submitted"  # a user submits it
    Spawn = "spawned"  # the agent of its upstream task submits it (report op Submit)
    UpstreamCommitted = "released"  # its upstream task was committed
    Claim = "claimed"  # a worker's fetch picked it
    Progress = "given an exec state"  # report op ExecState
    Finish = "finished"  # report op Finish
    AgentCancel = "cancelled by its agent"  # report op Cancel
    Commit = "committed"  # report op Commit: the result is final, the task is archived
    UserCancel = "cancelled"  # cancelTask and its batch forms
    WorkerLost = "handed back"  # its worker was removed (timeout, overrun, shutdown, unregister)
    RetryDue = "released for its next attempt"  # the delay before a retry is over
    Rerun = "re-run"  # its user asks for one more attempt of a committed task


@dataclass(frozen=True)
class Context:
    """What an event carries: who caused it and with what."""

    worker: Worker | None = None  # the claiming, reporting or lost worker
    result: Mapping[str, Any] | None = None  # Commit: the TaskResultSpec the agent sent
    exec_state: TaskExecState | None = None  # Progress
    reason: str = ""  # WorkerLost: why the worker went (recorded in task_losses)


Guard = Callable[[ActiveTask, Context], bool]
Effect = Callable[[ActiveTask, Context], None]


@dataclass(frozen=True)
class Transition:
    """One row: in `source`, `event` (when `when` holds) runs `effect` and leads to `target`.

    An archiving row moves the task to archived_tasks with `result`, or, when `result` is None, with the
    result its reporting worker sent (that worker becomes the task's reporter).
    """

    source: TaskState | None  # None: a task being created
    event: Event
    target: TaskState
    effect: Effect
    when: Guard | None = None
    archive: bool = False
    result: Mapping[str, Any] | None = None


# ---------------------------------------------------------------- guards and effects


def retry_waiting(task: ActiveTask, ctx: Context) -> bool:
    """Guard: the task waits for the delay before its next attempt."""
    return task.retry_at is not None


def cancel_requested(task: ActiveTask, ctx: Context) -> bool:
    """Guard: a user asked to cancel the task while it ran."""
    return task.cancel_requested


def lost_too_often(task: ActiveTask, ctx: Context) -> bool:
    """Guard: the task was lost more than MAX_TASK_LOSSES times with this loss (the effect records it)."""
    return task.lost_count + 1 > int(current_app.config.get("MAX_TASK_LOSSES", 3))


def retries_failure(task: ActiveTask, ctx: Context) -> bool:
    """Guard: the committed result is a failure the task's policy retries, and retries are left."""
    return attempts.retries_failure(task, ctx.result)


def retries_loss(task: ActiveTask, ctx: Context) -> bool:
    """Guard: the task's policy names `lost` (its losses count against its retries instead)."""
    return attempts.retries_loss(task)


def retry_now(task: ActiveTask, ctx: Context) -> bool:
    """Guard: retries_failure, with no delay before the next attempt."""
    return retries_failure(task, ctx) and attempts.next_delay(task) == 0


def retry_later(task: ActiveTask, ctx: Context) -> bool:
    """Guard: retries_failure, after a delay."""
    return retries_failure(task, ctx) and attempts.next_delay(task) > 0


def loss_retry_now(task: ActiveTask, ctx: Context) -> bool:
    """Guard: the policy retries losses, retries are left, no delay."""
    return retries_loss(task, ctx) and attempts.budget_left(task) and attempts.next_delay(task) == 0


def loss_retry_later(task: ActiveTask, ctx: Context) -> bool:
    """Guard: the policy retries losses, retries are left, after a delay."""
    return retries_loss(task, ctx) and attempts.budget_left(task) and attempts.next_delay(task) > 0


def _nothing(task: ActiveTask, ctx: Context) -> None:
    return None


def _leave_worker(task: ActiveTask) -> None:
    task.assigned_worker = None
    task.claimed_at = None
    task.exec_state = None
    task.cancel_requested = False


def _enter_ready(task: ActiveTask, ctx: Context) -> None:
    _leave_worker(task)
    task.retry_at = None
    ensure_bucket(task.group_id, task.tags)


def _claim(task: ActiveTask, ctx: Context) -> None:
    worker = _worker(ctx)
    task.assigned_worker = worker.id
    task.attempt += 1
    task.claimed_at = utcnow()
    task.exec_state = None
    task.cancel_requested = False
    task.retry_at = None
    worker.assigned_task_id = task.id
    attempts.start(task, worker)


def _again(task: ActiveTask, ctx: Context) -> None:
    """Give the task its next attempt: Ready at once, or after the policy's delay (Pending until then)."""
    delay = attempts.next_delay(task)
    task.retry_count += 1
    if delay == 0:
        _enter_ready(task, ctx)
        return
    _leave_worker(task)
    task.retry_at = utcnow() + timedelta(seconds=delay)
    attempts.note_retry_at(task, task.retry_at)


def _retry_committed(task: ActiveTask, ctx: Context) -> None:
    attempts.committed(task, ctx.result)
    _worker(ctx).assigned_task_id = None
    _again(task, ctx)


def _record_exec_state(task: ActiveTask, ctx: Context) -> None:
    task.exec_state = ctx.exec_state


def _request_cancel(task: ActiveTask, ctx: Context) -> None:
    task.cancel_requested = True


def _commit(task: ActiveTask, ctx: Context) -> None:
    attempts.committed(task, ctx.result)
    _worker(ctx).assigned_task_id = None
    if task.downstream_task_uuid is None:
        return
    downstream = lock_task(ActiveTask.uuid == task.downstream_task_uuid)
    if downstream is not None and allows(downstream.state, Event.UpstreamCommitted):
        apply(downstream, Event.UpstreamCommitted)


def _lose(note: Callable[[ActiveTask], str], then: Effect = _nothing) -> Effect:
    """WorkerLost: count the loss, record it with its note, free the worker, then `then`."""

    def effect(task: ActiveTask, ctx: Context) -> None:
        worker = _worker(ctx)
        task.lost_count += 1
        text = f"{ctx.reason}{note(task)}"
        db.session.add(TaskLoss(task_uuid=task.uuid, worker_uuid=worker.uuid, reason=text[:64]))
        attempts.end(task, AttemptEnd.lost)
        worker.assigned_task_id = None
        then(task, ctx)

    return effect


def _worker(ctx: Context) -> Worker:
    if ctx.worker is None:
        raise ValueError("this event needs the worker that caused it")
    return ctx.worker


_HELD = (TaskState.Running, TaskState.Finished, TaskState.Cancelled)  # the states a worker holds a task in
_requeue = _lose(lambda task: "", then=_enter_ready)
_lost_after_cancel = _lose(lambda task: "; cancelled by user")
_lost_too_many = _lose(lambda task: f"; cancelled after {task.lost_count} lost workers")
_lost_retried = _lose(lambda task: f"; retry {task.retry_count + 1}", then=_again)
_lost_out_of_retries = _lose(lambda task: f"; cancelled after {task.retry_count} retries")


# ---------------------------------------------------------------- the table

TRANSITIONS: Final[tuple[Transition, ...]] = (
    Transition(None, Event.Submit, TaskState.Ready, _enter_ready),
    Transition(None, Event.Spawn, TaskState.Pending, _nothing),
    Transition(TaskState.Pending, Event.UpstreamCommitted, TaskState.Ready, _enter_ready),
    # Dispatch claims through lifecycle_sql (this row's effect in SQL: on PostgreSQL claim_best, the bucket
    # search and the claim in one statement; claim_core in one bucket).
    Transition(TaskState.Ready, Event.Claim, TaskState.Running, _claim),
    Transition(TaskState.Pending, Event.UserCancel, TaskState.Cancelled, _nothing, archive=True,
               result=USER_CANCELLATION),
    Transition(TaskState.Ready, Event.UserCancel, TaskState.Cancelled, _nothing, archive=True,
               result=USER_CANCELLATION),
    # A running task is only marked: its agent learns it from a notice on Redis (at once) or from its next
    # heartbeat, stops it and reports Cancel.
    Transition(TaskState.Running, Event.UserCancel, TaskState.Running, _request_cancel),
    # Whatever a holding agent reports is taken as it comes, as upstream does: Finish and Cancel may
    # follow each other until the commit.
    *(Transition(held, Event.Progress, held, _record_exec_state) for held in _HELD),
    *(Transition(held, Event.Finish, TaskState.Finished, _nothing) for held in _HELD),
    *(Transition(held, Event.AgentCancel, TaskState.Cancelled, _nothing) for held in _HELD),
    # A commit whose failure the task's retry policy names starts its next attempt (keeping its uuid and
    # its place in the queue), at once or after the policy's delay; any other commit archives it.
    *(
        row
        for ended in (TaskState.Finished, TaskState.Cancelled)
        for row in (
            Transition(ended, Event.Commit, TaskState.Ready, _retry_committed,
                       when=retry_now),
            Transition(ended, Event.Commit, TaskState.Pending, _retry_committed,
                       when=retry_later),
            Transition(ended, Event.Commit, ended, _commit, archive=True),
        )
    ),
    # A lost worker's task runs again, unless its user cancelled it or too many holders were lost: more
    # than MAX_TASK_LOSSES, or, when its policy names `lost`, more than its retries allow.
    *(
        row
        for held in _HELD
        for row in (
            Transition(held, Event.WorkerLost, TaskState.Cancelled, _lost_after_cancel,
                       when=cancel_requested, archive=True, result=USER_CANCELLATION),
            Transition(held, Event.WorkerLost, TaskState.Ready, _lost_retried,
                       when=loss_retry_now),
            Transition(held, Event.WorkerLost, TaskState.Pending, _lost_retried,
                       when=loss_retry_later),
            Transition(held, Event.WorkerLost, TaskState.Cancelled, _lost_out_of_retries,
                       when=retries_loss, archive=True, result=LOST_RESULT),
            Transition(held, Event.WorkerLost, TaskState.Cancelled, _lost_too_many,
                       when=lost_too_often, archive=True, result=LOST_RESULT),
            Transition(held, Event.WorkerLost, TaskState.Ready, _requeue),
        )
    ),
    # A delayed retry is released when its time comes (dispatch.release_due_retries, before each claim).
    Transition(TaskState.Pending, Event.RetryDue, TaskState.Ready, _enter_ready, when=retry_waiting),
    # A committed task re-run by its user comes back from the archive (`rerun`: same id, uuid and place).
    Transition(TaskState.Finished, Event.Rerun, TaskState.Ready, _enter_ready),
    Transition(TaskState.Cancelled, Event.Rerun, TaskState.Ready, _enter_ready),
)  # fmt: skip

_BY_PAIR: Final[dict[tuple[TaskState | None, Event], tuple[Transition, ...]]] = {}
for _row in TRANSITIONS:
    _BY_PAIR[(_row.source, _row.event)] = (*_BY_PAIR.get((_row.source, _row.event), ()), _row)

# A commit before Finish or Cancel is a protocol error of the agent (400); any other refusal conflicts
# with the task's current state (409).
_REFUSED_AS: Final[dict[Event, type[DomainError]]] = {Event.Commit: InvalidRequest}


# ---------------------------------------------------------------- the entry point


def allows(state: TaskState | None, event: Event) -> bool:
    """Whether the table has a row for `event` in `state`."""
    return (state, event) in _BY_PAIR


def sources(event: Event) -> tuple[TaskState, ...]:
    """The states of existing tasks that `event` applies to, in state order."""
    return tuple(s for s in TaskState if (s, event) in _BY_PAIR)


def refusal(state: TaskState | None, event: Event, task_uuid: object) -> DomainError:
    """The error refusing `event` for a task in `state`."""
    allowed = " or ".join(s.name for s in sources(event)) or "new"
    current = state.name if state is not None else "new"
    message = f"Task {task_uuid} can not be {event.value}: it is {current}, not {allowed}"
    return _REFUSED_AS.get(event, Conflict)(message)


def apply(task: ActiveTask, event: Event, ctx: Context | None = None) -> ActiveTask | ArchivedTask:
    """Apply `event` to a locked (or new) task: the row's effect, its new state, its archiving.

    Returns the task where it now lives (the archived row when the transition archives it).
    """
    ctx = ctx or Context()
    rows = _BY_PAIR.get((task.state, event), ())
    row = next((r for r in rows if r.when is None or r.when(task, ctx)), None)
    if row is None:
        raise refusal(task.state, event, task.uuid)
    previous = task.state
    holder = task.assigned_worker
    row.effect(task, ctx)
    if holder is not None and event in _TELLS_HOLDER:
        notify.send_to_holder(holder, Notice(_TELLS_HOLDER[event], str(task.uuid)), ctx.worker)
    task.state = row.target
    result = row.result if row.result is not None else ctx.result
    metrics.task_event(task.group_id, event.name, previous, row.target, result)
    if not row.archive:
        return task
    reporter = _worker(ctx).uuid if row.result is None else None
    return _archive(task, result=dict(result or {}), reporter_uuid=reporter)


# Events that stop a running attempt against its agent's will, and what its agent is told (after commit,
# on Redis; without Redis it learns from its heartbeat, or from the 401 of a removed worker).
_TELLS_HOLDER: Final[dict[Event, NoticeKind]] = {
    Event.UserCancel: NoticeKind.Cancel,
    Event.WorkerLost: NoticeKind.Drop,
}


_COPIED = [*commit_sql.COPIED, "state"]


def _archive(task: ActiveTask, *, result: dict[str, Any], reporter_uuid: Any) -> ArchivedTask:
    """Move the loaded task to archived_tasks (commit_sql.archive_values), its unflushed changes (this
    transition's state) with it, not to the row that goes; the archived row is returned, persistent."""
    values = {
        **{name: getattr(task, name) for name in _COPIED},
        "result": result,
        "exit_status": result.get("exit_status"),
        "reporter_uuid": reporter_uuid,
        "updated_at": utcnow(),
    }
    # The ORM must not flush an UPDATE of the row the statement deletes; the transaction's other changes
    # (the worker let go of the task) flush later: no row of another table references active_tasks.id.
    db.session.expunge(task)
    conn = db.session.connection()  # not the session's execute: no autoflush
    for stmt in commit_sql.archive_values(conn.dialect.name, task.id, values):
        conn.execute(stmt)
    output_store.forget(task.uuid)
    row_object = ArchivedTask(**values)
    orm.make_transient_to_detached(row_object)
    db.session.add(row_object)
    return row_object


_RENEWED = ("lost_count", "retry_count")


def rerun(archived: ArchivedTask) -> ActiveTask:
    """Bring a committed task back for one more attempt: Ready again, with the same id (so the same place
    in its queue), uuid and artifacts, its retry budget and loss count renewed."""
    task = ActiveTask(
        **{name: getattr(archived, name) for name in _COPIED if name not in _RENEWED},
        tags_key=tags_key(archived.tags),
        attempt=attempts.last_number(archived.uuid),
        lost_count=0,
        retry_count=0,
    )
    db.session.delete(archived)
    db.session.flush()
    output_store.clear(task.uuid)  # the new attempt's tail starts empty
    apply(task, Event.Rerun)
    db.session.add(task)
    db.session.flush()
    return task


# ---------------------------------------------------------------- what the SQL paths apply (lifecycle_sql.py)

CLAIM: Final = next(r for r in TRANSITIONS if (r.source, r.event) == (TaskState.Ready, Event.Claim))

Step = tuple[Event, TaskState, TaskState]  # an event and the states it moves a task between


def plain_commit_steps(held: Any, events: Sequence[Event], result: Mapping[str, Any]) -> list[Step] | None:
    """The steps of `events` then Event.Commit with `result` on the task row `held`, when each takes a row
    of the table with no effect but `_commit`'s archive (lifecycle_sql.commit_core writes them in SQL): a
    Progress's exec state is left out, as the row it would be written to is archived in the same
    transaction and no other one could read it. None for any other row (a retry); a pair the table
    refuses raises as `apply` does."""
    ctx = Context(result=result)  # the Commit rows' guards read the task and the result, never the worker
    state, steps = held.state, []
    for event in (*events, Event.Commit):
        rows = _BY_PAIR.get((state, event), ())
        row = next((r for r in rows if r.when is None or r.when(cast(ActiveTask, held), ctx)), None)
        if row is None:
            raise refusal(state, event, held.uuid)
        if event is Event.Progress and row.effect is _record_exec_state:
            continue
        if row.effect is not (_commit if event is Event.Commit else _nothing):
            return None
        steps.append((event, state, row.target))
        state = row.target
    return steps
