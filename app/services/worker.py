"""Workers: registration, management, heartbeats, shutdown, removal (remove_worker is shared with the jobs).

Who may do what (GroupWorkerRole, upstream 4.3): reading a worker needs membership in one of its groups
(or being its creator; site admins exempt); replacing tags or labels needs Write/Admin in a group that has
Write/Admin on the worker; shutting it down and changing its group roles needs Admin in a group that has
Admin on the worker. The creator can always manage it (their personal group gets Admin at registration).
"""

from __future__ import annotations

import uuid as uuid_mod
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from app import auth, db
from app.db import utcnow
from app.errors import Forbidden, InvalidRequest, NotFound
from app.models import (
    ActiveTask,
    Group,
    GroupWorker,
    Role,
    TaskLoss,
    TaskState,
    User,
    UserGroup,
    Worker,
    WorkerState,
)
from app.schemas.workers import ShutdownOp
from app.services import dispatch, membership

LOST_RESULT = {"exit_status": 0, "msg": None}


# ---------------------------------------------------------------- removal (shared interface)


@db.transactional
def remove_worker(*, worker: Worker, reason: str) -> None:
    """Delete a worker; a task it held goes back to Ready (or ends Cancelled after MAX_TASK_LOSSES losses)."""
    worker = dispatch.lock_worker(worker)
    if worker is None:
        return
    held = dispatch.lock_task(ActiveTask.assigned_worker == worker.id)
    if held is not None:
        _lose_task(held, worker, reason)
    db.session.execute(sa.delete(GroupWorker).where(GroupWorker.worker_id == worker.id))
    db.session.delete(worker)
    db.session.flush()


def _lose_task(task: ActiveTask, worker: Worker, reason: str) -> None:
    task.lost_count += 1
    limit = int(current_app.config.get("MAX_TASK_LOSSES", 3))
    note = reason
    if task.cancel_requested:
        note = f"{reason}; cancelled by user"
    elif task.lost_count >= limit:
        note = f"{reason}; cancelled after {task.lost_count} lost workers"
    db.session.add(TaskLoss(task_uuid=task.uuid, worker_uuid=worker.uuid, reason=note[:64]))
    if task.cancel_requested:
        dispatch.archive(
            task, state=TaskState.Cancelled, result={"exit_status": 0, "msg": "UserCancellation"}
        )
    elif task.lost_count >= limit:
        dispatch.archive(task, state=TaskState.Cancelled, result=dict(LOST_RESULT))
    else:
        dispatch.make_ready(task)
    worker.assigned_task_id = None
    db.session.flush()


# ---------------------------------------------------------------- registration


def _parse_group_items(items: list[str]) -> dict[str, Role]:
    roles: dict[str, Role] = {}
    for item in items:
        name, sep, role_text = item.partition(":")
        if not name or ":" in role_text or (sep and not role_text):
            raise InvalidRequest(f"Invalid group item {item!r}: expected 'group' or 'group:role'")
        if not sep:
            roles[name] = Role.Write
            continue
        role = next((r for r in Role if r.name.lower() == role_text.strip().lower()), None)
        if role is None:
            raise InvalidRequest(f"Invalid role in {item!r}: expected read, write or admin")
        roles[name] = role
    return roles


@db.transactional
def register_worker(
    *, actor: User, tags: list[str], groups: list[str], labels: list[str], lifetime: int | None
) -> dict:
    """Register a worker serving the named groups (the caller needs Write/Admin in each)."""
    roles = _parse_group_items(groups)
    found = membership.groups_by_name(roles)
    for group in found.values():
        membership.require_role(actor, group, Role.Write)
    personal = membership.require_group(actor.username)
    found[personal.group_name] = personal
    roles[personal.group_name] = Role.Admin
    seconds = current_app.config["ACCESS_TOKEN_EXPIRES_SECONDS"] if lifetime is None else lifetime
    if seconds <= 0:
        raise InvalidRequest("lifetime must be positive")
    worker = Worker(
        uuid=uuid_mod.uuid4(),
        creator_id=actor.id,
        tags=sorted(set(tags)),
        labels=sorted(set(labels)),
        expires_at=utcnow() + timedelta(seconds=seconds),
    )
    db.session.add(worker)
    db.session.flush()
    db.session.add_all(
        GroupWorker(group_id=found[name].id, worker_id=worker.id, role=r) for name, r in roles.items()
    )
    db.session.flush()
    cfg = current_app.config
    return {
        "worker_id": worker.uuid,
        "token": auth.issue_worker_token(worker, seconds),
        "redis_url": cfg.get("REDIS_WORKER_URL") or cfg.get("REDIS_URL") or None,
    }


@db.transactional
def unregister_worker(*, worker: Worker) -> None:
    """The worker leaves; a task it held goes back to Ready."""
    remove_worker(worker=worker, reason="unregistered")


@db.transactional
def heartbeat(*, worker: Worker) -> dict:
    """Record liveness; answer the Running tasks of this worker that a user asked to cancel."""
    db.session.execute(sa.update(Worker).where(Worker.id == worker.id).values(last_heartbeat=utcnow()))
    cancel = db.session.scalars(
        sa.select(ActiveTask.uuid).where(ActiveTask.assigned_worker == worker.id, ActiveTask.cancel_requested)
    ).all()
    return {"cancel": list(cancel)}


# ---------------------------------------------------------------- permissions


def _related(actor: User, worker: Worker, worker_min: Role, user_min: Role):
    return sa.exists().where(
        GroupWorker.worker_id == worker.id,
        GroupWorker.role >= worker_min,
        UserGroup.group_id == GroupWorker.group_id,
        UserGroup.user_id == actor.id,
        UserGroup.role >= user_min,
    )


def _allowed(actor: User, worker: Worker, worker_min: Role, user_min: Role) -> bool:
    if worker.creator_id == actor.id:
        return True
    return bool(db.session.scalar(sa.select(_related(actor, worker, worker_min, user_min))))


def _require_worker(worker_uuid) -> Worker:
    worker = db.session.scalar(sa.select(Worker).where(Worker.uuid == worker_uuid))
    if worker is None:
        raise NotFound(f"Worker {worker_uuid} not found")
    return worker


def _require_allowed(actor: User, worker_uuid, worker_min: Role, user_min: Role) -> Worker:
    worker = _require_worker(worker_uuid)
    if not _allowed(actor, worker, worker_min, user_min):
        raise Forbidden()
    return worker


# ---------------------------------------------------------------- reads


def _info(worker: Worker, task_uuid) -> dict[str, Any]:
    return {
        "worker_id": worker.uuid,
        "creator_username": worker.creator.username,
        "tags": worker.tags,
        "labels": worker.labels,
        "created_at": worker.created_at,
        "updated_at": worker.updated_at,
        "state": worker.state,
        "last_heartbeat": worker.last_heartbeat,
        "assigned_task_id": task_uuid,
    }


def _with_task_uuid(stmt):
    return stmt.add_columns(ActiveTask.uuid).outerjoin(ActiveTask, ActiveTask.id == Worker.assigned_task_id)


def get_worker(*, actor: User, worker_uuid) -> dict:
    """A worker and its group roles; needs membership in one of its groups (admins exempt)."""
    worker = _require_worker(worker_uuid)
    if not actor.admin and not _allowed(actor, worker, Role.Read, Role.Read):
        raise Forbidden()
    _, task_uuid = db.session.execute(_with_task_uuid(sa.select(Worker).where(Worker.id == worker.id))).one()
    groups = db.session.execute(
        sa.select(Group.group_name, GroupWorker.role).join(Group, Group.id == GroupWorker.group_id)
        .where(GroupWorker.worker_id == worker.id)
    ).all()  # fmt: skip
    return {"info": _info(worker, task_uuid), "groups": dict(groups)}


def _filtered(group: Group, f: dict, roles=None):
    conds = [
        Worker.id.in_(
            sa.select(GroupWorker.worker_id).where(
                GroupWorker.group_id == group.id,
                *([GroupWorker.role.in_(roles)] if roles is not None else []),
            )
        )
    ]
    if f.get("tags"):
        conds.append(db.contains_all(Worker.tags, f["tags"]))
    if f.get("labels"):
        conds.append(db.contains_all(Worker.labels, f["labels"]))
    if f.get("creator_username") is not None:
        conds.append(Worker.creator_id.in_(sa.select(User.id).where(User.username == f["creator_username"])))
    return conds


def query_workers(*, actor: User, filters: dict) -> dict:
    """Workers serving a group (default: the caller's personal group); needs membership."""
    group = membership.resolve_group(actor, filters.get("group_name"), Role.Read, admin_exempt=True)
    conds = _filtered(group, filters, filters.get("role"))
    if filters.get("count"):
        count = db.session.scalar(sa.select(sa.func.count(Worker.id)).where(*conds))
        return {"count": count, "workers": [], "group_name": group.group_name}
    rows = db.session.execute(_with_task_uuid(sa.select(Worker).where(*conds)).order_by(Worker.id)).all()
    workers = [_info(w, task_uuid) for w, task_uuid in rows]
    return {"count": len(workers), "workers": workers, "group_name": group.group_name}


# ---------------------------------------------------------------- changes


def _replace_set(actor: User, worker_uuid, field: str, values: list[str]) -> None:
    if not values:
        raise InvalidRequest(f"Empty {field}")
    worker = _require_allowed(actor, worker_uuid, Role.Write, Role.Write)
    setattr(worker, field, sorted(set(values)))


@db.transactional
def update_worker_tags(*, actor: User, worker_uuid, tags: list[str]) -> None:
    """Replace a worker's tags (seen by its next fetch)."""
    _replace_set(actor, worker_uuid, "tags", tags)


@db.transactional
def update_worker_labels(*, actor: User, worker_uuid, labels: list[str]) -> None:
    """Replace a worker's labels."""
    _replace_set(actor, worker_uuid, "labels", labels)


@db.transactional
def update_worker_groups(*, actor: User, worker_uuid, relations: dict[str, Role]) -> None:
    """Add groups to a worker or change their roles (upsert)."""
    if not relations:
        raise InvalidRequest("relations cannot be empty")
    worker = _require_allowed(actor, worker_uuid, Role.Admin, Role.Admin)
    found = membership.groups_by_name(relations)
    existing = {
        gw.group_id: gw
        for gw in db.session.scalars(sa.select(GroupWorker).where(GroupWorker.worker_id == worker.id))
    }
    for name, role in relations.items():
        group = found[name]
        if group.id in existing:
            existing[group.id].role = role
        else:
            db.session.add(GroupWorker(group_id=group.id, worker_id=worker.id, role=role))
    db.session.flush()


@db.transactional
def remove_worker_groups(*, actor: User, worker_uuid, groups: list[str]) -> None:
    """Remove groups from a worker."""
    names = {n.strip() for item in groups for n in item.split(",") if n.strip()}
    if not names:
        raise InvalidRequest("groups cannot be empty")
    worker = _require_allowed(actor, worker_uuid, Role.Admin, Role.Admin)
    found = membership.groups_by_name(names)
    db.session.execute(
        sa.delete(GroupWorker).where(
            GroupWorker.worker_id == worker.id, GroupWorker.group_id.in_([g.id for g in found.values()])
        )
    )


def _shutdown(worker: Worker, op: ShutdownOp) -> None:
    """Force: remove now, its task back to Ready. Graceful: no new task; removed at its commit (or now)."""
    locked = dispatch.lock_worker(worker)
    if locked is None:
        return
    if op == ShutdownOp.Force or locked.assigned_task_id is None:
        remove_worker(worker=locked, reason="force shutdown" if op == ShutdownOp.Force else "shutdown")
    else:
        locked.state = WorkerState.GracefulShutdown


@db.transactional
def shutdown_worker(*, actor: User, worker_uuid, op: ShutdownOp) -> None:
    """Shut a worker down (Admin of a group holding Admin on it, or its creator)."""
    _shutdown(_require_allowed(actor, worker_uuid, Role.Admin, Role.Admin), op)


@db.transactional
def admin_shutdown_worker(*, worker_uuid, op: ShutdownOp) -> None:
    """Shut any worker down (site admin)."""
    _shutdown(_require_worker(worker_uuid), op)


@db.transactional
def shutdown_workers_by_filter(*, actor: User, filters: dict, op: ShutdownOp) -> dict:
    """Shut down the workers of a group (on which the group holds Admin) matching the filter."""
    group = membership.resolve_group(actor, filters.get("group_name"), Role.Admin)
    roles = [r for r in (filters.get("role") or [Role.Admin]) if r == Role.Admin]
    workers = db.session.scalars(
        sa.select(Worker).where(*_filtered(group, filters, roles)).order_by(Worker.id)
    ).all()
    for worker in workers:
        _shutdown(worker, op)
    return {"shutdown_count": len(workers), "group_name": group.group_name}


@db.transactional
def shutdown_workers_by_uuids(*, actor: User, uuids: list, op: ShutdownOp) -> dict:
    """Shut down each listed worker the caller may manage; the rest are reported in failed_uuids."""
    count, failed = 0, []
    for worker_uuid in dict.fromkeys(uuids):
        worker = db.session.scalar(sa.select(Worker).where(Worker.uuid == worker_uuid))
        if worker is None or not _allowed(actor, worker, Role.Admin, Role.Admin):
            failed.append(worker_uuid)
            continue
        _shutdown(worker, op)
        count += 1
    return {"shutdown_count": count, "failed_uuids": failed}
