"""The agent protocol: what a worker token does with tasks (fetch one, read one it may run or watch, report on
the one it holds).

Report ops arrive typed (`Finish`, `Cancel`, `Commit`, `Upload`, `Submit`, `ExecState`), built by the route's
schema from the spec's ReportTaskOp. The state changes they cause are lifecycle events (lifecycle.py).

Every claim is an attempt: a report from a worker that no longer holds the task (it was reassigned,
cancelled and archived, or the worker was removed) is refused with 404 and changes nothing. Lock order as
in lifecycle.py: the worker row, then the task it holds.
"""

from __future__ import annotations

import uuid as uuid_mod
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar, cast

import sqlalchemy as sa

from app import auth, db
from app.auth import WorkerIdentity
from app.errors import Conflict, Forbidden, InvalidRequest, NotFound
from app.models import (
    ActiveTask,
    ArchivedTask,
    ArtifactContentType,
    Role,
    TaskExecState,
    TaskState,
    UserState,
    Worker,
    WorkerState,
)
from app.services import access, attempts, dispatch, lifecycle, lifecycle_sql
from app.services import artifact as artifact_service
from app.services import task as task_service
from app.services import worker as worker_service
from app.services.claim_sql import Claimed
from app.services.lifecycle import Context, Event, LockedWorker
from mito.vocab import WorkerRemoval

# ---------------------------------------------------------------- report ops (ReportTaskOp)


@dataclass(frozen=True)
class Finish:
    """The task's process ended (whatever its exit status)."""


@dataclass(frozen=True)
class Cancel:
    """The agent stopped the task (timeout, user cancellation, a resource it could not fetch)."""


@dataclass(frozen=True)
class Commit:
    """The final result (TaskResultSpec): the task is archived."""

    exit_status: int
    msg: str | None = None
    detail: str | None = None  # extension: what went wrong, in words (e.g. the missing resource)

    def result(self) -> dict[str, Any]:
        """The stored TaskResultSpec; `detail` only when there is one (other results keep the spec shape)."""
        result = asdict(self)
        if self.detail is None:
            del result["detail"]
        return result


@dataclass(frozen=True)
class Upload:
    """The agent asks where to upload one artifact of the task."""

    content_type: ArtifactContentType
    content_length: int


@dataclass(frozen=True)
class Submit:
    """The finished task spawns one downstream task (a loaded SubmitTaskReq), Pending until the commit."""

    task: dict[str, Any]


@dataclass(frozen=True)
class ExecState:
    """The agent's progress through the task (TaskExecState)."""

    exec_state: TaskExecState


ReportOp = Finish | Cancel | Commit | Upload | Submit | ExecState


@dataclass(frozen=True)
class ReportAnswer:
    """ReportTaskResp: the presigned URL of an Upload, else nothing."""

    url: str | None = None


@dataclass(frozen=True)
class BatchAnswer:
    """ReportTaskBatchResp: the URLs of its Upload ops in order, and the task claimed after its Commit."""

    urls: list[str]
    next: ActiveTask | Claimed | None = None


# ---------------------------------------------------------------- operations

# A held task's locked row: the ORM task (lock_task), or only the columns a commit needs (lock_held_row).
_Held = TypeVar("_Held", ActiveTask, "sa.Row[Any]")


@db.transactional
def fetch_task(*, worker: Worker | WorkerIdentity) -> ActiveTask | Claimed | None:
    """Claim the next task for this worker, or None (204); 401 when the worker no longer exists.

    An agent asks only when it runs nothing, so a worker that asks while it holds a Running task lost the
    answer of the claim that gave it: it gets that task again (the same attempt; nothing changes), instead
    of the task staying Running, unrun, until its timeout. A held task past Running waits for its commit.
    """
    locked = _lock_worker(worker)
    if locked.assigned_task_id is not None:
        held = db.session.get(ActiveTask, locked.assigned_task_id)
        return held if held is not None and held.state == TaskState.Running else None
    return dispatch.claim_next(locked=locked)


@dataclass(frozen=True)
class WatchedTask:
    """getTaskForWorker for a task the worker only watches: its state, and a spec with nothing in it."""

    id: int
    uuid: uuid_mod.UUID
    timeout: int
    state: TaskState
    exec_state: TaskExecState | None
    upstream_task_uuid: None = None
    spec: dict[str, Any] = field(default_factory=lambda: {"args": []})


def get_task_for_worker(
    *, worker: Worker, task_uuid: uuid_mod.UUID
) -> ActiveTask | ArchivedTask | WatchedTask:
    """A task the worker may run (a group holding Write/Admin on it) or holds; else, one it watches.

    A watched task outside those groups shows its state and exec state only (its args and envs may hold
    secrets); any other task is 404, as if it did not exist.
    """
    task = task_service.find_task(task_uuid)
    if task is None:
        raise NotFound(f"Task with uuid {task_uuid} not found")
    held = isinstance(task, ActiveTask) and task.assigned_worker == worker.id
    role = access.worker_role(worker, task.group_id)
    if held or (role is not None and role >= Role.Write):
        return task
    if _watches(worker, task_uuid):
        exec_state = task.exec_state if isinstance(task, ActiveTask) else None
        return WatchedTask(task.id, task.uuid, task.timeout, task.state, exec_state)
    raise NotFound(f"Task with uuid {task_uuid} not found")


def _watches(worker: Worker, task_uuid: uuid_mod.UUID) -> bool:
    """Whether a task this worker holds waits on `task_uuid` (its spec's `watch`)."""
    specs = db.session.scalars(sa.select(ActiveTask.spec).where(ActiveTask.assigned_worker == worker.id))
    return any(str((spec.get("watch") or [None])[0]) == str(task_uuid) for spec in specs)


@db.transactional
def report_task(*, worker: Worker | WorkerIdentity, task_id: int, op: ReportOp) -> ReportAnswer:
    """Apply one report op to the task this worker holds."""
    holder, task = _lock_held(worker, task_id)
    return _apply(holder, task, op)


@db.transactional
def report_batch(
    *,
    worker: Worker | WorkerIdentity,
    task_id: int,
    ops: list[ReportOp],
    claim_next: bool,
    attempt: int | None = None,
) -> BatchAnswer:
    """Apply report ops to the held task in order, all or none (extension, issue #13).

    A Commit may only come last; with `claim_next` the same transaction then claims this worker's next
    task (as a fetch would), so a busy agent spends one request per task on the protocol's bookkeeping.
    The agent retries a commit whose answer it never got: when this worker already committed the task,
    the retry answers what the first one did (the task it claimed is still Running and held), instead of
    a 404 that would strand that task until its timeout.

    `attempt` (the claim answer's, sent by the agent) fences the batch to that attempt: a commit that
    started a retry may have claimed that very retry for the same worker, so the task is held again, by a
    later attempt, when the lost answer's batch comes back; without the fence it would land on an attempt
    that never ran. A batch for an attempt the task is past is a replay or a 404, never applied.
    """
    commits = [i for i, op in enumerate(ops) if isinstance(op, Commit)]
    if commits and commits != [len(ops) - 1]:
        raise InvalidRequest("A Commit must be the last op of a batch")
    if claim_next and not commits:
        raise InvalidRequest("next needs a Commit as the last op of the batch")
    try:
        if _plain_commit(ops) and (committed := _commit_core(worker, task_id, attempt, ops, claim_next)):
            return BatchAnswer(urls=[], next=_claim_after_core(committed) if claim_next else None)
        holder, task = _lock_held(worker, task_id, attempt)
    except NotFound:
        if not claim_next or (replayed := _replayed_commit(worker, task_id, attempt)) is None:
            raise
        return replayed
    urls = [url for op in ops if (url := _apply(holder, task, op).url) is not None]
    return BatchAnswer(urls=urls, next=dispatch.claim_next(locked=holder) if claim_next else None)


# The lifecycle event of each op a plain commit may carry before its Commit (_plain_commit).
_EVENTS: dict[type, Event] = {Finish: Event.Finish, Cancel: Event.AgentCancel, ExecState: Event.Progress}


def _plain_commit(ops: list[ReportOp]) -> bool:
    """Whether the batch is Finish, Cancel or ExecState ops, then a Commit (the chained commit of an agent:
    a task with nothing to upload sends its exec states so far, Finish, and its Commit)."""
    return bool(ops) and isinstance(ops[-1], Commit) and all(type(o) in _EVENTS for o in ops[:-1])


def _commit_core(
    worker: Worker | WorkerIdentity, task_id: int, attempt: int | None, ops: list[ReportOp], claim_next: bool
) -> Worker | LockedWorker | None:
    """Apply a plain commit in SQL (lifecycle_sql.commit_core), locking the worker's and the task's rows only
    (one statement, no ORM object): the worker as it is after the commit (holding nothing); None (nothing
    written) when the lifecycle needs the ORM path or the worker is shutting down (its removal follows the
    commit: `_commit`). 401, 403, 404 as `_lock_held`. With `claim_next` the worker's row is not written
    by the commit: `_claim_after_core` writes it once."""
    both = lifecycle.lock_worker_and_held_row(worker, task_id)
    holder: Worker | LockedWorker
    if both is None:  # the worker or the task is gone: which one, and its 401 or 404
        holder = _lock_worker(worker)
        held = _require_held(holder, lifecycle.lock_held_row(task_id), task_id, attempt)
    else:
        holder, creator_state, row = both
        auth.check_creator(creator_state)
        held = _require_held(holder, row, task_id, attempt)
    if holder.state == WorkerState.GracefulShutdown:
        return None
    events = [_EVENTS[type(op)] for op in ops[:-1]]
    result = cast(Commit, ops[-1]).result()
    if not lifecycle_sql.commit_core(holder, held, events, result, release=not claim_next):
        return None
    return replace(holder, assigned_task_id=None) if isinstance(holder, LockedWorker) else holder


def _claim_after_core(committed: Worker | LockedWorker) -> Claimed | None:
    """The next task of a worker whose commit left its row for the claim to write (the claim gives it the
    task), or, when there is none, the worker lets go of the committed task."""
    if (claimed := dispatch.claim_next(locked=committed)) is None:
        lifecycle_sql.release_core(committed)
    return claimed


def _lock_worker(worker: Worker | WorkerIdentity) -> Worker:
    """The calling worker, locked; 401 (and why, if known) when it no longer exists, 403 (check_worker)."""
    return auth.check_worker(worker.uuid, lifecycle.lock_worker(worker))


def _lock_held(
    worker: Worker | WorkerIdentity, task_id: int, attempt: int | None = None
) -> tuple[Worker, ActiveTask]:
    """The worker and the task it holds (in `attempt`, when named), locked in that order (401: the worker
    is gone; 404: not held)."""
    holder = _lock_worker(worker)
    return holder, _require_held(holder, lifecycle.lock_task(ActiveTask.id == task_id), task_id, attempt)


def _require_held(
    holder: Worker | LockedWorker, task: _Held | None, task_id: int, attempt: int | None
) -> _Held:
    """`task` (a locked row of `task_id`), when `holder` holds it in `attempt` (if named); else 404."""
    if task is None or task.assigned_worker != holder.id or attempt not in (None, task.attempt):
        raise NotFound(f"Task {task_id} not found or no longer held by this worker")
    return task


def _replayed_commit(
    worker: Worker | WorkerIdentity, task_id: int, attempt: int | None
) -> BatchAnswer | None:
    """The answer of a commit this worker already made (None: it did not commit this task, or `attempt`)."""
    if attempt is None:
        committed = (
            db.session.scalar(sa.select(ArchivedTask.reporter_uuid).where(ArchivedTask.id == task_id))
            == worker.uuid
        )
    else:
        task_uuid = db.session.scalar(
            sa.select(ActiveTask.uuid).where(ActiveTask.id == task_id)
        ) or db.session.scalar(sa.select(ArchivedTask.uuid).where(ArchivedTask.id == task_id))
        committed = task_uuid is not None and attempts.committed_by(task_uuid, attempt, worker.uuid)
    if not committed:
        return None
    held = db.session.scalar(
        sa.select(ActiveTask)
        .join(Worker, Worker.assigned_task_id == ActiveTask.id)
        .where(Worker.uuid == worker.uuid, ActiveTask.state == TaskState.Running)
    )
    return BatchAnswer(urls=[], next=held)


def _apply(holder: Worker, task: ActiveTask, op: ReportOp) -> ReportAnswer:
    by_holder = Context(worker=holder)
    match op:
        case Finish():
            lifecycle.apply(task, Event.Finish, by_holder)
        case Cancel():
            lifecycle.apply(task, Event.AgentCancel, by_holder)
        case ExecState(exec_state=exec_state):
            lifecycle.apply(task, Event.Progress, Context(worker=holder, exec_state=exec_state))
        case Commit():
            _commit(holder, task, op)
        case Upload(content_type=content_type, content_length=length):
            upload = artifact_service.issue_worker_upload(
                task=task, content_type=content_type, content_length=length
            )
            return ReportAnswer(url=upload.url)
        case Submit(task=req):
            _submit_downstream(holder, task, req)
    return ReportAnswer()


def _commit(worker: Worker, task: ActiveTask, op: Commit) -> None:
    lifecycle.apply(task, Event.Commit, Context(worker=worker, result=op.result()))
    if worker.state == WorkerState.GracefulShutdown:
        worker_service.remove_worker(worker=worker, reason=WorkerRemoval.GracefulShutdown)
        db.session.flush()


def _submit_downstream(worker: Worker, task: ActiveTask, req: dict[str, Any]) -> None:
    if task.state not in lifecycle.sources(Event.Commit):
        done = " or ".join(s.name for s in lifecycle.sources(Event.Commit))
        raise InvalidRequest(f"Task can not spawn new tasks before it is {done}")
    if task.downstream_task_uuid is not None:
        raise Conflict(f"Task {task.uuid} already spawned downstream task {task.downstream_task_uuid}")
    if task.creator.state != UserState.Active:
        raise Forbidden("Authentication error: Permission denied (the task's creator is not active)")
    if req["group_name"] != task.group.group_name:
        raise InvalidRequest(f"Group name mismatch: a downstream task must go to {task.group.group_name}")
    role = access.worker_role(worker, task.group_id)
    if role is None or role < Role.Write:
        raise Forbidden("Authentication error: Permission denied (the worker has no Write role in the group)")
    new = task_service.create_task(creator=task.creator, group=task.group, req=req, upstream_uuid=task.uuid)
    task.downstream_task_uuid = new.uuid
