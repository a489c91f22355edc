"""Tasks: submission, queries, edits, labels and user cancellation, for users.

Every change of a task's state (submission, cancellation) is a lifecycle event (lifecycle.py).
"""

from __future__ import annotations

import re
import uuid as uuid_mod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from app import db
from app.errors import Conflict, DomainError, InvalidRequest, NotFound
from app.models import ActiveTask, ArchivedTask, Artifact, Group, Role, TaskAttempt, TaskState, User
from app.services import access, lifecycle
from app.services.lifecycle import Event

TaskReq = dict[str, Any]  # a loaded SubmitTaskReq
Filters = dict[str, Any]  # a loaded TaskFilter (TasksQueryReq, TasksCancelByFilterReq)
_NUMBER_FILTER = re.compile(r"^(>=|<=|!=|>|<|=)?(-?\d+)$")
_OPS = {
    ">=": "__ge__",
    "<=": "__le__",
    "!=": "__ne__",
    ">": "__gt__",
    "<": "__lt__",
    "=": "__eq__",
    None: "__eq__",
}


@dataclass(frozen=True)
class TaskDetail:
    """TaskQueryResp: a task (active or archived) and its artifacts."""

    info: ActiveTask | ArchivedTask
    artifacts: list[Artifact]  # the ones the task shows (the current one of each content type)
    attempts: list[AttemptDetail]


@dataclass(frozen=True)
class AttemptDetail:
    """TaskAttemptResp: an attempt and the artifacts its agent uploaded (downloadable with ?attempt=N)."""

    row: TaskAttempt
    artifacts: list[Artifact]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)


@dataclass(frozen=True)
class CancelledByFilter:
    """TasksCancelByFilterResp."""

    cancelled_count: int
    group_name: str


@dataclass(frozen=True)
class CancelledByUuids:
    """TasksCancelByUuidsResp."""

    cancelled_count: int
    failed_uuids: list[uuid_mod.UUID]


# ---------------------------------------------------------------- submission


def create_tasks(
    *,
    creator: User,
    group: Group,
    reqs: list[TaskReq],
    upstream_uuid: uuid_mod.UUID | None = None,
    columns: Sequence[Mapping[str, Any]] | None = None,
) -> list[ActiveTask]:
    """Insert tasks with the group's next task_ids (one counter update). Joins the caller's transaction.

    A task is submitted Ready, or spawned Pending when it has an upstream task (lifecycle events).
    `columns`, one mapping per request, sets further columns (a campaign's link and point).
    """
    event = Event.Submit if upstream_uuid is None else Event.Spawn
    last = db.session.execute(
        sa.update(Group)
        .where(Group.id == group.id)
        .values(task_count=Group.task_count + len(reqs))
        .returning(Group.task_count)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    tasks = []
    for offset, req in enumerate(reqs):
        task = ActiveTask(
            creator_id=creator.id,
            group_id=group.id,
            task_id=last - len(reqs) + 1 + offset,
            uuid=uuid_mod.uuid4(),
            labels=sorted(set(req.get("labels") or [])),
            timeout=int(req["timeout"]),
            priority=req.get("priority", 0),
            spec=req["task_spec"],
            retry_policy=req.get("retry"),
            upstream_task_uuid=upstream_uuid,
            **(columns[offset] if columns else {}),
        )
        lifecycle.set_tags(task, req.get("tags") or [])
        lifecycle.apply(task, event)
        tasks.append(task)
    db.session.add_all(tasks)
    db.session.flush()
    return tasks


def create_task(
    *, creator: User, group: Group, req: TaskReq, upstream_uuid: uuid_mod.UUID | None = None
) -> ActiveTask:
    """Insert one task (Ready, or Pending below `upstream_uuid`) with the group's next task_id."""
    return create_tasks(creator=creator, group=group, reqs=[req], upstream_uuid=upstream_uuid)[0]


@db.transactional
def submit_task(*, actor: User, req: TaskReq) -> ActiveTask:
    """Submit one task to a group where the caller holds Write or Admin."""
    group = access.require_group(req["group_name"])
    access.require_role(actor, group, Role.Write)
    return create_task(creator=actor, group=group, req=req)


@db.transactional
def batch_submit_tasks(*, actor: User, items: list[TaskReq | str]) -> list[ActiveTask | str]:
    """Submit each item on its own: per item, in order, the new task or the message refusing it.

    Items are checked one by one (group and role once per group name); the valid ones are then inserted
    together, with one task_id allocation per group.
    """
    results: list[ActiveTask | str] = [""] * len(items)
    groups: dict[str, Group | DomainError] = {}
    accepted: dict[int, list[tuple[int, TaskReq]]] = {}
    by_id: dict[int, Group] = {}
    for index, item in enumerate(items):
        if isinstance(item, str):
            results[index] = item
            continue
        name = item["group_name"]
        if name not in groups:
            groups[name] = _writable_group(actor, name)
        group = groups[name]
        if isinstance(group, DomainError):
            results[index] = group.message
            continue
        by_id[group.id] = group
        accepted.setdefault(group.id, []).append((index, item))
    for group_id, entries in accepted.items():
        tasks = create_tasks(creator=actor, group=by_id[group_id], reqs=[req for _, req in entries])
        for (index, _), task in zip(entries, tasks, strict=True):
            results[index] = task
    return results


def _writable_group(actor: User, name: str) -> Group | DomainError:
    """The group if the caller may submit to it, else the error saying why not."""
    try:
        group = access.require_group(name)
        access.require_role(actor, group, Role.Write)
    except DomainError as err:
        return err
    return group


# ---------------------------------------------------------------- reads


def find_task(task_uuid: uuid_mod.UUID) -> ActiveTask | ArchivedTask | None:
    """An active task, else an archived one, by uuid."""
    active = db.session.scalar(sa.select(ActiveTask).where(ActiveTask.uuid == task_uuid))
    if active is not None:
        return active
    return db.session.scalar(sa.select(ArchivedTask).where(ArchivedTask.uuid == task_uuid))


def require_readable(*, actor: User, task_uuid: uuid_mod.UUID) -> ActiveTask | ArchivedTask:
    """A task the caller may read (membership in its group, admins exempt); 404 or 403 otherwise."""
    task = find_task(task_uuid)
    if task is None:
        raise NotFound(f"Task with uuid {task_uuid} not found")
    access.require_role(actor, task.group, Role.Read, admin_exempt=True)
    return task


def get_task(*, actor: User, task_uuid: uuid_mod.UUID) -> TaskDetail:
    """A task with its artifacts; needs membership in the task's group (admins exempt)."""
    task = require_readable(actor=actor, task_uuid=task_uuid)
    artifacts = db.session.scalars(
        sa.select(Artifact).where(Artifact.task_uuid == task.uuid).order_by(Artifact.content_type)
    ).all()
    attempts = db.session.scalars(
        sa.select(TaskAttempt).where(TaskAttempt.task_uuid == task.uuid).order_by(TaskAttempt.number)
    ).all()
    kept: dict[int, list[Artifact]] = {}
    for artifact in artifacts:
        kept.setdefault(artifact.attempt, []).append(artifact)
    return TaskDetail(
        info=task,
        artifacts=[a for a in artifacts if a.current],
        attempts=[AttemptDetail(attempt, kept.get(attempt.number, [])) for attempt in attempts],
    )


def parse_number_filter(text: object) -> tuple[str, int]:
    """`>=N <=N !=N >N <N =N N` -> (comparison method name, N); 400 otherwise."""
    m = _NUMBER_FILTER.match(text.strip()) if isinstance(text, str) else None
    if not m or not -(2**31) <= int(m.group(2)) < 2**31:
        raise InvalidRequest(
            f"Failed to parse number from {text!r} (expected >=N, <=N, !=N, >N, <N, =N or N)"
        )
    return _OPS[m.group(1)], int(m.group(2))


def filter_conditions(
    model: type[ActiveTask] | type[ArchivedTask], group: Group, f: Filters
) -> list[sa.ColumnElement[bool]]:
    """SQL conditions of a task filter (TasksQueryReq fields) in one group; artifact queries share it."""
    conds = [model.group_id == group.id]
    if f.get("creator_usernames"):
        conds.append(
            model.creator_id.in_(sa.select(User.id).where(User.username.in_(f["creator_usernames"])))
        )
    if f.get("tags"):
        conds.append(db.contains_all(model.tags, f["tags"]))
    if f.get("labels"):
        conds.append(db.contains_all(model.labels, f["labels"]))
    if f.get("states"):
        conds.append(model.state.in_(f["states"]))
    if f.get("priority") is not None:
        op, n = parse_number_filter(f["priority"])
        conds.append(getattr(model.priority, op)(n))
    archived = model is ArchivedTask
    if f.get("exit_status") is not None:
        op, n = parse_number_filter(f["exit_status"])
        conds.append(getattr(ArchivedTask.exit_status, op)(n) if archived else sa.false())
    if f.get("reporter_uuid") is not None:
        conds.append(ArchivedTask.reporter_uuid == f["reporter_uuid"] if archived else sa.false())
    return conds


# ---------------------------------------------------------------- changes


def _require_writable(actor: User, task_uuid: uuid_mod.UUID) -> ActiveTask:
    """The active task, locked, if the caller may change it; 409 once it is archived."""
    task = lifecycle.lock_task(ActiveTask.uuid == task_uuid)
    if task is None:
        archived = _require_archived(task_uuid)
        access.require_role(actor, archived.group, Role.Write)
        raise Conflict(f"Task {task_uuid} is already {archived.state.name} and archived")
    access.require_role(actor, task.group, Role.Write)
    return task


def _require_archived(task_uuid: uuid_mod.UUID) -> ArchivedTask:
    archived = db.session.scalar(sa.select(ArchivedTask).where(ArchivedTask.uuid == task_uuid))
    if archived is None:
        raise NotFound(f"Task with uuid {task_uuid} not found")
    return archived


@db.transactional
def update_task(*, actor: User, task_uuid: uuid_mod.UUID, changes: dict[str, Any]) -> None:
    """Change tags, timeout, priority or spec of a task that has not started (Ready or Pending)."""
    if not changes:
        raise InvalidRequest("No change specified")
    task = _require_writable(actor, task_uuid)
    if task.state not in (TaskState.Ready, TaskState.Pending):
        raise Conflict(f"Task {task_uuid} is {task.state.name}: only Ready or Pending tasks can be changed")
    if "tags" in changes:
        lifecycle.set_tags(task, changes["tags"])
    if "timeout" in changes:
        task.timeout = int(changes["timeout"])
    if "priority" in changes:
        task.priority = changes["priority"]
    if "task_spec" in changes:
        task.spec = changes["task_spec"]


@db.transactional
def update_task_labels(*, actor: User, task_uuid: uuid_mod.UUID, labels: list[str]) -> None:
    """Replace the labels of an active or archived task (Write or Admin in its group)."""
    task: ActiveTask | ArchivedTask | None = lifecycle.lock_task(ActiveTask.uuid == task_uuid)
    if task is None:
        task = _require_archived(task_uuid)
    access.require_role(actor, task.group, Role.Write)
    task.labels = sorted(set(labels))


@db.transactional
def cancel_task(*, actor: User, task_uuid: uuid_mod.UUID) -> None:
    """Cancel a Pending, Ready or Running task; 409 once it finished or was archived."""
    lifecycle.apply(_require_writable(actor, task_uuid), Event.UserCancel)


@db.transactional
def cancel_tasks_by_filter(*, actor: User, filters: Filters) -> CancelledByFilter:
    """Cancel every Pending, Ready or Running task matching the filter in one group (Write or Admin)."""
    group = access.require_group_role(actor, filters.get("group_name"), Role.Write)
    cancellable = lifecycle.sources(Event.UserCancel)
    wanted = [s for s in (filters.get("states") or cancellable) if s in cancellable]
    count = 0
    if wanted:
        conditions = filter_conditions(ActiveTask, group, {**filters, "states": wanted})
        for task in lifecycle.lock_tasks(*conditions):
            lifecycle.apply(task, Event.UserCancel)
            count += 1
    return CancelledByFilter(cancelled_count=count, group_name=group.group_name)


@db.transactional
def cancel_tasks_by_uuids(*, actor: User, uuids: list[uuid_mod.UUID]) -> CancelledByUuids:
    """Cancel each listed task the caller may cancel; the rest are reported in failed_uuids."""
    count, failed = 0, []
    for task_uuid in dict.fromkeys(uuids):
        task = lifecycle.lock_task(ActiveTask.uuid == task_uuid)
        if task is None or not _may_cancel(actor, task):
            failed.append(task_uuid)
            continue
        lifecycle.apply(task, Event.UserCancel)
        count += 1
    return CancelledByUuids(cancelled_count=count, failed_uuids=failed)


def _may_cancel(actor: User, task: ActiveTask) -> bool:
    role = access.role_in(actor, task.group_id)
    return role is not None and role >= Role.Write and lifecycle.allows(task.state, Event.UserCancel)
