"""Why a task is not running: the facts a scheduler looked at, and a one-line verdict (issue #14 item 3).

The counts narrow down step by step, as the claim does (dispatch.py): live workers (registered and taking
tasks: state Normal), those the task's group may use (it holds Write or Admin on them), those of them that
carry all of the task's tags, those of them that are idle. When no worker of the group carries all the
tags, `missing_tags` names what the closest ones (fewest tags missing) lack. `ahead` counts the Ready tasks
its workers would claim first: same bucket (group, tag set), higher priority or same priority and older.

Cost: a handful of queries whatever the queue length. The worker counts read workers and group_worker;
`ahead` walks the dispatch index ix_active_tasks_dispatch and stops at AHEAD_CAP; the closest workers are
read from the group's workers, at most WORKERS_CAP of them.
"""

from __future__ import annotations

import uuid as uuid_mod
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from app import db
from app.models import (
    ActiveTask,
    ArchivedTask,
    GroupWorker,
    Role,
    TaskExecState,
    TaskState,
    User,
    Worker,
    WorkerState,
)
from app.services import task as task_service

AHEAD_CAP = 1000  # `ahead` counts up to this many; `ahead_capped` says there are at least that many
WORKERS_CAP = 10_000  # the group's workers read to find the closest ones


@dataclass(frozen=True)
class WorkerCounts:
    """How many workers could run the task, narrowed step by step."""

    live: int  # registered and taking new tasks
    group: int  # of those, the ones the task's group may use (Write or Admin)
    tags: int  # of those, the ones carrying all of the task's tags
    idle: int  # of those, the ones holding no task now


@dataclass(frozen=True)
class Related:
    """Another task this one waits on, and where it is."""

    uuid: uuid_mod.UUID
    state: TaskState | None  # None: no such task
    exec_state: TaskExecState | None = None


@dataclass(frozen=True)
class Explanation:
    """TaskExplainResp."""

    uuid: uuid_mod.UUID
    state: TaskState
    verdict: str
    workers: WorkerCounts | None = None
    missing_tags: list[str] = field(default_factory=list)
    ahead: int = 0
    ahead_capped: bool = False
    upstream: Related | None = None
    watch: Related | None = None
    watch_exec_state: TaskExecState | None = None  # the state the watch waits for
    worker: uuid_mod.UUID | None = None  # the worker holding it, while it runs
    retry_at: datetime | None = None  # a Pending task waiting out its retry delay: when it becomes Ready


def explain_task(*, actor: User, task_uuid: uuid_mod.UUID) -> Explanation:
    """The facts about why a task is (not) running and a verdict; needs membership in its group."""
    task = task_service.require_readable(actor=actor, task_uuid=task_uuid)
    if isinstance(task, ArchivedTask):
        result = task.result or {}
        return Explanation(
            uuid=task.uuid, state=task.state,
            verdict=f"it has ended: {task.state.name}, exit status {result.get('exit_status')}",
        )  # fmt: skip
    watch, waits_for = _watch(task)
    if task.state != TaskState.Ready and task.state != TaskState.Pending:
        return _held(task, watch, waits_for)
    counts = _worker_counts(task)
    missing = _missing_tags(task) if counts.group and not counts.tags else []
    ahead = _ahead(task) if task.state == TaskState.Ready else 0
    upstream = _related(task.upstream_task_uuid) if task.state == TaskState.Pending else None
    facts = Explanation(
        uuid=task.uuid, state=task.state, verdict="", workers=counts, missing_tags=missing,
        ahead=ahead, ahead_capped=ahead >= AHEAD_CAP, upstream=upstream, watch=watch,
        watch_exec_state=waits_for, retry_at=task.retry_at,
    )  # fmt: skip
    return Explanation(**{**facts.__dict__, "verdict": _verdict(task, facts)})


def _held(task: ActiveTask, watch: Related | None, waits_for: TaskExecState | None) -> Explanation:
    holder = db.session.scalar(sa.select(Worker.uuid).where(Worker.id == task.assigned_worker))
    if task.state != TaskState.Running:
        verdict = f"it has ended ({task.state.name}); its worker is uploading the results and committing"
    elif task.exec_state == TaskExecState.Watch and watch is not None and waits_for is not None:
        now = watch.exec_state.name if watch.exec_state is not None else "not started"
        verdict = f"it is claimed and waits for task {watch.uuid} to reach {waits_for.name} (it is {now})"
    elif task.cancel_requested:
        verdict = "it is running; its cancellation was requested"
    else:
        verdict = f"it is running on worker {holder}"
    return Explanation(
        uuid=task.uuid, state=task.state, verdict=verdict, watch=watch, watch_exec_state=waits_for,
        worker=holder,
    )  # fmt: skip


def _worker_counts(task: ActiveTask) -> WorkerCounts:
    live = Worker.state == WorkerState.Normal
    in_group = sa.exists().where(
        GroupWorker.worker_id == Worker.id,
        GroupWorker.group_id == task.group_id,
        GroupWorker.role >= Role.Write,
    )
    carries = db.contains_all(Worker.tags, task.tags)
    idle = Worker.assigned_task_id.is_(None)
    counts = sa.select(
        sa.func.count().filter(live),
        sa.func.count().filter(live, in_group),
        sa.func.count().filter(live, in_group, carries),
        sa.func.count().filter(live, in_group, carries, idle),
    ).select_from(Worker)
    row = db.session.execute(counts).one()
    return WorkerCounts(live=row[0], group=row[1], tags=row[2], idle=row[3])


def _missing_tags(task: ActiveTask) -> list[str]:
    """The tags the group's closest live workers lack (union over those missing the fewest)."""
    stmt = (
        sa.select(Worker.tags)
        .join(GroupWorker, GroupWorker.worker_id == Worker.id)
        .where(
            GroupWorker.group_id == task.group_id, GroupWorker.role >= Role.Write,
            Worker.state == WorkerState.Normal,
        )
        .limit(WORKERS_CAP)
    )  # fmt: skip
    wanted = set(task.tags)
    lacks = [wanted - set(tags) for tags in db.session.scalars(stmt)]
    if not lacks:
        return []
    fewest = min(len(m) for m in lacks)
    return sorted(set().union(*(m for m in lacks if len(m) == fewest)))


def _ahead(task: ActiveTask) -> int:
    """Ready tasks of the same bucket claimed before this one (capped at AHEAD_CAP)."""
    before = sa.or_(
        ActiveTask.priority > task.priority,
        sa.and_(ActiveTask.priority == task.priority, ActiveTask.id < task.id),
    )
    head = (
        sa.select(ActiveTask.id)
        .where(
            ActiveTask.group_id == task.group_id, ActiveTask.tags_key == task.tags_key,
            ActiveTask.state == TaskState.Ready, before,
        )
        .limit(AHEAD_CAP)
        .subquery()
    )  # fmt: skip
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(head)) or 0)


def _related(uuid: uuid_mod.UUID | None) -> Related | None:
    if uuid is None:
        return None
    other = task_service.find_task(uuid)
    if other is None:
        return Related(uuid=uuid, state=None)
    return Related(uuid=uuid, state=other.state, exec_state=getattr(other, "exec_state", None))


def _watch(task: ActiveTask) -> tuple[Related | None, TaskExecState | None]:
    watch = task.spec.get("watch") or None
    if not watch:
        return None, None
    try:
        target = uuid_mod.UUID(str(watch[0]))
        waits_for = TaskExecState.parse(watch[1])
    except (ValueError, IndexError):
        return None, None
    return _related(target), waits_for


def _verdict(task: ActiveTask, f: Explanation) -> str:
    counts = f.workers
    assert counts is not None
    group = task.group.group_name
    if task.state == TaskState.Pending and f.retry_at is not None:
        when = f"{f.retry_at:%Y-%m-%d %H:%M:%S}Z"
        return f"it waits for its retry delay: attempt {task.attempt + 1} becomes Ready at {when}"
    if task.state == TaskState.Pending:
        up = f.upstream
        where = "gone" if up is None or up.state is None else up.state.name
        return f"it waits for its upstream task {up.uuid if up else '?'} to be committed (it is {where})"
    if counts.live == 0:
        return "no worker is registered: start one (`mito worker`)"
    if counts.group == 0:
        return f"none of the {counts.live} live worker(s) serves group {group} (none gives it Write or Admin)"
    if counts.tags == 0:
        lacking = ", ".join(f.missing_tags)
        return f"no worker of group {group} carries all its tags; the closest lack: {lacking}"
    ahead = f"{f.ahead}{'+' if f.ahead_capped else ''} task(s) ahead of it in its queue"
    if counts.idle == 0:
        return f"all {counts.tags} worker(s) that can run it are busy; {ahead}"
    if f.ahead:
        return f"{counts.idle} idle worker(s) can run it; {ahead}"
    return f"{counts.idle} idle worker(s) can run it: it is claimed at their next poll"
