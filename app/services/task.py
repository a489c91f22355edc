"""Tasks: submission, queries, edits, labels and user cancellation.

Task states: Pending (a downstream task waiting for its upstream's commit), Ready, Running, Finished and
Cancelled (awaiting the agent's commit); a commit or a user cancel moves the task to archived_tasks.
"""

from __future__ import annotations

import re
import uuid as uuid_mod
from typing import Any

import sqlalchemy as sa

from app import db
from app.errors import Conflict, DomainError, InvalidRequest, NotFound
from app.models import ActiveTask, ArchivedTask, Artifact, Group, Role, TaskState, User
from app.services import dispatch, membership

USER_CANCELLATION = {"exit_status": 0, "msg": "UserCancellation"}
CANCELLABLE = (TaskState.Pending, TaskState.Ready, TaskState.Running)
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


# ---------------------------------------------------------------- submission


def create_tasks(
    *, creator: User, group: Group, reqs: list[dict], state: TaskState = TaskState.Ready, upstream_uuid=None
) -> list[ActiveTask]:
    """Insert tasks with the group's next task_ids (one counter update). Joins the caller's transaction."""
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
            state=state,
            timeout=int(req["timeout"]),
            priority=req.get("priority", 0),
            spec=req["task_spec"],
            upstream_task_uuid=upstream_uuid,
        )
        dispatch.set_tags(task, req.get("tags") or [])
        tasks.append(task)
    db.session.add_all(tasks)
    db.session.flush()
    return tasks


def create_task(
    *, creator: User, group: Group, req: dict, state: TaskState, upstream_uuid=None
) -> ActiveTask:
    """Insert one task (Ready or Pending) with the group's next task_id."""
    return create_tasks(creator=creator, group=group, reqs=[req], state=state, upstream_uuid=upstream_uuid)[0]


@db.transactional
def submit_task(*, actor: User, req: dict) -> ActiveTask:
    """Submit one task to a group where the caller holds Write or Admin."""
    group = membership.require_group(req["group_name"])
    membership.require_role(actor, group, Role.Write)
    return create_task(creator=actor, group=group, req=req, state=TaskState.Ready)


@db.transactional
def batch_submit_tasks(*, actor: User, items: list[dict | str]) -> list[dict]:
    """Submit each item on its own: an Ok or Err result per item, in order.

    Items are checked one by one (group and role once per group name); the valid ones are then inserted
    together, with one task_id allocation per group.
    """
    results: list[dict | None] = [None] * len(items)
    groups: dict[str, Group | DomainError] = {}
    accepted: dict[int, list[tuple[int, dict]]] = {}
    by_id: dict[int, Group] = {}
    for index, item in enumerate(items):
        if isinstance(item, str):
            results[index] = {"Err": {"msg": item}}
            continue
        name = item["group_name"]
        if name not in groups:
            try:
                groups[name] = membership.require_group(name)
                membership.require_role(actor, groups[name], Role.Write)
            except DomainError as err:
                groups[name] = err
        group = groups[name]
        if isinstance(group, DomainError):
            results[index] = {"Err": {"msg": group.message}}
            continue
        by_id[group.id] = group
        accepted.setdefault(group.id, []).append((index, item))
    for group_id, entries in accepted.items():
        tasks = create_tasks(creator=actor, group=by_id[group_id], reqs=[req for _, req in entries])
        for (index, _), task in zip(entries, tasks, strict=True):
            results[index] = {"Ok": {"task_id": task.task_id, "uuid": task.uuid}}
    return results  # type: ignore[return-value]


# ---------------------------------------------------------------- reads


def find_task(task_uuid) -> ActiveTask | ArchivedTask | None:
    """An active task, else an archived one, by uuid."""
    task = db.session.scalar(sa.select(ActiveTask).where(ActiveTask.uuid == task_uuid))
    if task is None:
        task = db.session.scalar(sa.select(ArchivedTask).where(ArchivedTask.uuid == task_uuid))
    return task


def _require_readable(actor: User, task_uuid) -> ActiveTask | ArchivedTask:
    task = find_task(task_uuid)
    if task is None:
        raise NotFound(f"Task with uuid {task_uuid} not found")
    membership.require_role(actor, task.group, Role.Read, admin_exempt=True)
    return task


def task_info(task: ActiveTask | ArchivedTask) -> dict[str, Any]:
    """TaskQueryInfo / ParsedTaskQueryInfo fields of a task row."""
    return {
        "uuid": task.uuid,
        "reporter_uuid": getattr(task, "reporter_uuid", None),
        "creator_username": task.creator.username,
        "group_name": task.group.group_name,
        "task_id": task.task_id,
        "tags": task.tags,
        "labels": task.labels,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "state": task.state,
        "timeout": task.timeout,
        "priority": task.priority,
        "spec": task.spec,
        "result": task.result,
        "upstream_task_uuid": task.upstream_task_uuid,
        "downstream_task_uuid": task.downstream_task_uuid,
    }


def get_task(*, actor: User, task_uuid) -> dict:
    """A task with its artifacts; needs membership in the task's group (admins exempt)."""
    task = _require_readable(actor, task_uuid)
    artifacts = db.session.scalars(
        sa.select(Artifact).where(Artifact.task_uuid == task.uuid).order_by(Artifact.content_type)
    ).all()
    return {"info": task_info(task), "artifacts": artifacts}


def parse_number_filter(text: str):
    """`>=N <=N !=N >N <N =N N` -> (comparison method name, N); 400 otherwise."""
    m = _NUMBER_FILTER.match(text.strip()) if isinstance(text, str) else None
    if not m or not -(2**31) <= int(m.group(2)) < 2**31:
        raise InvalidRequest(
            f"Failed to parse number from {text!r} (expected >=N, <=N, !=N, >N, <N, =N or N)"
        )
    return _OPS[m.group(1)], int(m.group(2))


def filter_conditions(model, group: Group, f: dict) -> list:
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
        conds.append(getattr(model.exit_status, op)(n) if archived else sa.false())
    if f.get("reporter_uuid") is not None:
        conds.append(model.reporter_uuid == f["reporter_uuid"] if archived else sa.false())
    return conds


def query_tasks(*, actor: User, filters: dict) -> dict:
    """One ordered result set over active and archived tasks (newest first), one limit/offset."""
    group = membership.resolve_group(actor, filters.get("group_name"), Role.Read, admin_exempt=True)

    def part(model):
        archived = sa.literal(1 if model is ArchivedTask else 0).label("archived")
        conditions = filter_conditions(model, group, filters)
        return sa.select(model.id, model.created_at, archived).where(*conditions)

    union = sa.union_all(part(ActiveTask), part(ArchivedTask)).subquery()
    if filters.get("count"):
        count = db.session.scalar(sa.select(sa.func.count()).select_from(union))
        return {"count": count, "tasks": [], "group_name": group.group_name}
    stmt = sa.select(union.c.id, union.c.archived).order_by(union.c.created_at.desc(), union.c.id.desc())
    if filters.get("limit") is not None:
        stmt = stmt.limit(filters["limit"])
    if filters.get("offset"):
        stmt = stmt.offset(filters["offset"])
    page = db.session.execute(stmt).all()
    rows = {}
    for model, flag in ((ActiveTask, False), (ArchivedTask, True)):
        ids = [i for i, archived in page if bool(archived) == flag]
        if ids:
            rows.update(
                {(flag, t.id): t for t in db.session.scalars(sa.select(model).where(model.id.in_(ids)))}
            )
    tasks = [task_info(rows[(bool(archived), i)]) for i, archived in page if (bool(archived), i) in rows]
    return {"count": len(tasks), "tasks": tasks, "group_name": group.group_name}


# ---------------------------------------------------------------- changes


def _require_writable(actor: User, task_uuid, *, active_only: bool = True):
    task = dispatch.lock_task(ActiveTask.uuid == task_uuid)
    if task is None:
        archived = db.session.scalar(sa.select(ArchivedTask).where(ArchivedTask.uuid == task_uuid))
        if archived is None:
            raise NotFound(f"Task with uuid {task_uuid} not found")
        membership.require_role(actor, archived.group, Role.Write)
        if active_only:
            raise Conflict(f"Task {task_uuid} is already {archived.state.name} and archived")
        return archived
    membership.require_role(actor, task.group, Role.Write)
    return task


@db.transactional
def update_task(*, actor: User, task_uuid, changes: dict) -> None:
    """Change tags, timeout, priority or spec of a task that has not started (Ready or Pending)."""
    if not changes:
        raise InvalidRequest("No change specified")
    task = _require_writable(actor, task_uuid)
    if task.state not in (TaskState.Ready, TaskState.Pending):
        raise Conflict(f"Task {task_uuid} is {task.state.name}: only Ready or Pending tasks can be changed")
    if "tags" in changes:
        dispatch.set_tags(task, changes["tags"])
    if "timeout" in changes:
        task.timeout = int(changes["timeout"])
    if "priority" in changes:
        task.priority = changes["priority"]
    if "task_spec" in changes:
        task.spec = changes["task_spec"]


@db.transactional
def update_task_labels(*, actor: User, task_uuid, labels: list[str]) -> None:
    """Replace the labels of an active or archived task (Write or Admin in its group)."""
    task = _require_writable(actor, task_uuid, active_only=False)
    task.labels = sorted(set(labels))


def _cancel(task: ActiveTask) -> None:
    """Ready/Pending: archive as Cancelled; Running: ask its agent (heartbeat response) to stop."""
    if task.state == TaskState.Running:
        task.cancel_requested = True
    else:
        dispatch.archive(task, state=TaskState.Cancelled, result=dict(USER_CANCELLATION))


@db.transactional
def cancel_task(*, actor: User, task_uuid) -> None:
    """Cancel a Pending, Ready or Running task; 409 once it finished or was archived."""
    task = _require_writable(actor, task_uuid)
    if task.state not in CANCELLABLE:
        raise Conflict(f"Task {task_uuid} is already {task.state.name} and awaiting its commit")
    _cancel(task)


@db.transactional
def cancel_tasks_by_filter(*, actor: User, filters: dict) -> dict:
    """Cancel every Pending, Ready or Running task matching the filter in one group (Write or Admin)."""
    group = membership.resolve_group(actor, filters.get("group_name"), Role.Write)
    wanted = [s for s in (filters.get("states") or CANCELLABLE) if s in CANCELLABLE]
    count = 0
    if wanted:
        conditions = filter_conditions(ActiveTask, group, {**filters, "states": wanted})
        stmt = sa.select(ActiveTask).where(*conditions)
        stmt = stmt.order_by(ActiveTask.id).execution_options(populate_existing=True)
        if db.is_postgres():
            stmt = stmt.with_for_update(of=ActiveTask)
        for task in db.session.scalars(stmt).all():
            _cancel(task)
            count += 1
    return {"cancelled_count": count, "group_name": group.group_name}


@db.transactional
def cancel_tasks_by_uuids(*, actor: User, uuids: list) -> dict:
    """Cancel each listed task the caller may cancel; the rest are reported in failed_uuids."""
    count, failed = 0, []
    for task_uuid in dict.fromkeys(uuids):
        task = dispatch.lock_task(ActiveTask.uuid == task_uuid)
        role = membership.user_role(actor, task.group_id) if task is not None else None
        if task is None or role is None or role < Role.Write or task.state not in CANCELLABLE:
            failed.append(task_uuid)
            continue
        _cancel(task)
        count += 1
    return {"cancelled_count": count, "failed_uuids": failed}
