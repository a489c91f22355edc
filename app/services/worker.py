"""Workers: registration, management, heartbeats, shutdown, removal (remove_worker is shared with the jobs).

Who may do what (GroupWorkerRole, upstream 4.3): reading a worker needs membership in one of its groups
(or being its creator; site admins exempt); replacing tags or labels needs Write/Admin in a group that has
Write/Admin on the worker; shutting it down and changing its group roles needs Admin in a group that has
Admin on the worker. The creator can always manage it (their personal group gets Admin at registration).
"""

from __future__ import annotations

import functools
import uuid as uuid_mod
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql

from app import auth, db
from app.db import utcnow
from app.errors import Forbidden, InvalidRequest, NotFound
from app.models import (
    ActiveTask,
    Group,
    GroupWorker,
    RemovedWorker,
    Role,
    ShutdownOp,
    User,
    Worker,
    WorkerState,
)
from app.prepared import prepared
from app.services import access, lifecycle, notify
from app.services.lifecycle import Context, Event
from mito.vocab import Notice, NoticeKind, WorkerFeature, WorkerRemoval

Filters = dict[str, Any]  # a loaded WorkerFilter (WorkersQueryReq, WorkersShutdownByFilterReq)


@dataclass(frozen=True)
class Registration:
    """RegisterWorkerResp."""

    worker_id: uuid_mod.UUID
    token: str
    redis_url: str | None
    features: tuple[WorkerFeature, ...] = tuple(WorkerFeature)  # extension: what the agent may use


@dataclass(frozen=True)
class HeartbeatAnswer:
    """HeartbeatResp: the Running tasks of this worker whose cancellation a user asked for."""

    cancel: list[uuid_mod.UUID]


@dataclass(frozen=True)
class WorkerDetail:
    """WorkerQueryResp: a worker and the roles its groups hold on it."""

    info: Worker
    groups: dict[str, Role]


@dataclass(frozen=True)
class WorkerPage:
    """WorkersQueryResp; each worker with its groups' roles (an extension: the dashboard's one request)."""

    count: int
    workers: list[WorkerDetail]
    group_name: str


@dataclass(frozen=True)
class ShutdownByFilter:
    """WorkersShutdownByFilterResp."""

    shutdown_count: int
    group_name: str


@dataclass(frozen=True)
class ShutdownByUuids:
    """WorkersShutdownByUuidsResp."""

    shutdown_count: int
    failed_uuids: list[uuid_mod.UUID]


# ---------------------------------------------------------------- removal (shared interface)


@db.transactional
def remove_worker(*, worker: Worker, reason: WorkerRemoval) -> None:
    """Delete a worker; a task it held goes back to Ready (or ends Cancelled after MAX_TASK_LOSSES losses).

    Why it went is kept until its token would have expired (its agent's next call is told, 401 `removed`),
    and its agent is told at once on Redis when there is one.
    """
    locked = lifecycle.lock_worker(worker)
    if locked is None:
        return
    held = lifecycle.lock_task(ActiveTask.assigned_worker == locked.id)
    if held is not None:
        lifecycle.apply(held, Event.WorkerLost, Context(worker=locked, reason=reason))
    db.session.execute(sa.delete(GroupWorker).where(GroupWorker.worker_id == locked.id))
    db.session.delete(locked)
    db.session.add(RemovedWorker(uuid=locked.uuid, reason=reason, expires_at=locked.expires_at))
    db.session.flush()
    notify.send(locked.uuid, Notice(NoticeKind.Removed, reason))


@db.transactional
def forget_removed_workers(*, now: datetime) -> int:
    """Forget removed workers whose token has expired since (their agents get a plain 401 anyway)."""
    result = db.session.execute(sa.delete(RemovedWorker).where(RemovedWorker.expires_at < now))
    return int(getattr(result, "rowcount", 0) or 0)


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
) -> Registration:
    """Register a worker serving the named groups (the caller needs Write/Admin in each)."""
    roles = _parse_group_items(groups)
    found = access.require_groups(roles)
    for group in found.values():
        access.require_role(actor, group, Role.Write)
    personal = access.require_group(actor.username)
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
    return Registration(
        worker_id=worker.uuid,
        token=auth.issue_worker_token(worker, seconds),
        redis_url=cfg.get("REDIS_WORKER_URL") or cfg.get("REDIS_URL") or None,
    )


@db.transactional
def unregister_worker(*, worker: Worker) -> None:
    """The worker leaves; a task it held goes back to Ready."""
    remove_worker(worker=worker, reason=WorkerRemoval.Unregistered)


@db.transactional
def heartbeat(*, worker: auth.WorkerIdentity) -> HeartbeatAnswer:
    """Record liveness; answer the Running tasks of this worker that a user asked to cancel.

    The worker is the token's identity (no lookup first): the write finds it, and a removed worker (no
    row) is refused by `auth.worker_gone` (401), one whose creator is not Active by `check_creator` (403, the
    write rolled back). One statement on PostgreSQL, prepared (`_heartbeat_statement`); three on SQLite.
    """
    conn = db.session.connection()
    params = {"wu": worker.uuid, "now": utcnow()}
    if conn.dialect.name == "postgresql":
        row = conn.execute(_heartbeat_statement(), params).one_or_none()
        if row is None:
            auth.worker_gone(worker.uuid)
        auth.check_creator(row.creator_state)
        return HeartbeatAnswer(cancel=list(row.cancel or ()))
    beat = conn.execute(_BEAT.returning(_WORKERS.c.id, _WORKERS.c.creator_id), params).one_or_none()
    if beat is None:
        auth.worker_gone(worker.uuid)
    auth.check_creator(conn.execute(sa.select(User.state).where(User.id == beat.creator_id)).scalar_one())
    cancel = conn.execute(
        sa.select(ActiveTask.uuid).where(ActiveTask.assigned_worker == beat.id, ActiveTask.cancel_requested)
    ).scalars()
    return HeartbeatAnswer(cancel=list(cancel))


_WORKERS = cast(sa.Table, Worker.__table__)
_BEAT = (
    sa.update(_WORKERS)
    .where(_WORKERS.c.uuid == sa.bindparam("wu", type_=_WORKERS.c.uuid.type))
    .values(last_heartbeat=sa.bindparam("now"), updated_at=sa.bindparam("now"))
)


@functools.cache
def _heartbeat_statement() -> sa.Select[Any]:
    """PostgreSQL's heartbeat: the worker's write (a CTE answering its id and its creator's state) and the
    uuids of its tasks a user asked to cancel (ix_active_tasks_assigned_worker), one row or none."""
    users, active = cast(sa.Table, User.__table__), cast(sa.Table, ActiveTask.__table__)
    beat = (
        _BEAT.where(users.c.id == _WORKERS.c.creator_id)
        .returning(_WORKERS.c.id, users.c.state.label("creator_state"))
        .cte("beat")
    )
    cancel = (
        sa.select(sa.func.array_agg(active.c.uuid, type_=postgresql.ARRAY(active.c.uuid.type)))
        .where(active.c.assigned_worker == beat.c.id, active.c.cancel_requested)
        .scalar_subquery()
    )
    return prepared(sa.select(beat.c.creator_state, cancel.label("cancel")))


# ---------------------------------------------------------------- permissions


def _require_worker(worker_uuid: uuid_mod.UUID) -> Worker:
    worker = db.session.scalar(sa.select(Worker).where(Worker.uuid == worker_uuid))
    if worker is None:
        raise NotFound(f"Worker {worker_uuid} not found")
    return worker


def _require_allowed(actor: User, worker_uuid: uuid_mod.UUID, worker_min: Role, user_min: Role) -> Worker:
    worker = _require_worker(worker_uuid)
    if not access.has_worker_access(actor, worker, worker_min=worker_min, user_min=user_min):
        raise Forbidden()
    return worker


# ---------------------------------------------------------------- reads


def get_worker(*, actor: User, worker_uuid: uuid_mod.UUID) -> WorkerDetail:
    """A worker and its group roles; needs membership in one of its groups (admins exempt)."""
    worker = _require_worker(worker_uuid)
    if not actor.admin and not access.has_worker_access(
        actor, worker, worker_min=Role.Read, user_min=Role.Read
    ):
        raise Forbidden()
    return WorkerDetail(info=worker, groups=_groups_of(GroupWorker.worker_id == worker.id).get(worker.id, {}))


def _groups_of(workers: sa.ColumnElement[bool]) -> dict[int, dict[str, Role]]:
    """By worker id: the roles the groups hold on the workers whose GroupWorker rows match, in one read."""
    found: dict[int, dict[str, Role]] = {}
    rows = db.session.execute(
        sa.select(GroupWorker.worker_id, Group.group_name, GroupWorker.role)
        .join(Group, Group.id == GroupWorker.group_id)
        .where(workers)
    )
    for worker_id, group_name, role in rows:
        found.setdefault(worker_id, {})[group_name] = role
    return found


def _filtered(group: Group, f: Filters, roles: list[Role] | None = None) -> list[sa.ColumnElement[bool]]:
    conds: list[sa.ColumnElement[bool]] = [
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


def query_workers(*, actor: User, filters: Filters) -> WorkerPage:
    """Workers serving a group (default: the caller's personal group); needs membership."""
    group = access.require_group_role(actor, filters.get("group_name"), Role.Read, admin_exempt=True)
    conds = _filtered(group, filters, filters.get("role"))
    if filters.get("count"):
        count = db.session.scalar(sa.select(sa.func.count(Worker.id)).where(*conds)) or 0
        return WorkerPage(count=count, workers=[], group_name=group.group_name)
    stmt = sa.select(Worker).where(*conds).order_by(Worker.id)
    workers = list(db.session.scalars(stmt.options(orm.undefer(Worker.assigned_task_uuid))).all())
    groups = _groups_of(GroupWorker.worker_id.in_(sa.select(Worker.id).where(*conds))) if workers else {}
    listed = [WorkerDetail(info=w, groups=groups.get(w.id, {})) for w in workers]
    return WorkerPage(count=len(listed), workers=listed, group_name=group.group_name)


# ---------------------------------------------------------------- changes


def _replace_set(actor: User, worker_uuid: uuid_mod.UUID, field: str, values: list[str]) -> None:
    if not values:
        raise InvalidRequest(f"Empty {field}")
    worker = _require_allowed(actor, worker_uuid, Role.Write, Role.Write)
    setattr(worker, field, sorted(set(values)))


@db.transactional
def update_worker_tags(*, actor: User, worker_uuid: uuid_mod.UUID, tags: list[str]) -> None:
    """Replace a worker's tags (seen by its next fetch)."""
    _replace_set(actor, worker_uuid, "tags", tags)


@db.transactional
def update_worker_labels(*, actor: User, worker_uuid: uuid_mod.UUID, labels: list[str]) -> None:
    """Replace a worker's labels."""
    _replace_set(actor, worker_uuid, "labels", labels)


@db.transactional
def update_worker_groups(*, actor: User, worker_uuid: uuid_mod.UUID, relations: dict[str, Role]) -> None:
    """Add groups to a worker or change their roles (upsert)."""
    if not relations:
        raise InvalidRequest("relations cannot be empty")
    worker = _require_allowed(actor, worker_uuid, Role.Admin, Role.Admin)
    found = access.require_groups(relations)
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
def remove_worker_groups(*, actor: User, worker_uuid: uuid_mod.UUID, groups: list[str]) -> None:
    """Remove groups from a worker."""
    names = {n.strip() for item in groups for n in item.split(",") if n.strip()}
    if not names:
        raise InvalidRequest("groups cannot be empty")
    worker = _require_allowed(actor, worker_uuid, Role.Admin, Role.Admin)
    found = access.require_groups(names)
    db.session.execute(
        sa.delete(GroupWorker).where(
            GroupWorker.worker_id == worker.id, GroupWorker.group_id.in_([g.id for g in found.values()])
        )
    )


def _shutdown(worker: Worker, op: ShutdownOp) -> None:
    """Force: remove now, its task back to Ready. Graceful: no new task; removed at its commit (or now)."""
    locked = lifecycle.lock_worker(worker)
    if locked is None:
        return
    if op == ShutdownOp.Force or locked.assigned_task_id is None:
        reason = WorkerRemoval.ForceShutdown if op == ShutdownOp.Force else WorkerRemoval.Shutdown
        remove_worker(worker=locked, reason=reason)
    else:
        locked.state = WorkerState.GracefulShutdown


@db.transactional
def shutdown_worker(*, actor: User, worker_uuid: uuid_mod.UUID, op: ShutdownOp) -> None:
    """Shut a worker down (Admin of a group holding Admin on it, or its creator)."""
    _shutdown(_require_allowed(actor, worker_uuid, Role.Admin, Role.Admin), op)


@db.transactional
def admin_shutdown_worker(*, worker_uuid: uuid_mod.UUID, op: ShutdownOp) -> None:
    """Shut any worker down (site admin)."""
    _shutdown(_require_worker(worker_uuid), op)


@db.transactional
def shutdown_workers_by_filter(*, actor: User, filters: Filters, op: ShutdownOp) -> ShutdownByFilter:
    """Shut down the workers of a group (on which the group holds Admin) matching the filter."""
    group = access.require_group_role(actor, filters.get("group_name"), Role.Admin)
    roles = [r for r in (filters.get("role") or [Role.Admin]) if r == Role.Admin]
    workers = db.session.scalars(
        sa.select(Worker).where(*_filtered(group, filters, roles)).order_by(Worker.id)
    ).all()
    for worker in workers:
        _shutdown(worker, op)
    return ShutdownByFilter(shutdown_count=len(workers), group_name=group.group_name)


@db.transactional
def shutdown_workers_by_uuids(*, actor: User, uuids: list[uuid_mod.UUID], op: ShutdownOp) -> ShutdownByUuids:
    """Shut down each listed worker the caller may manage; the rest are reported in failed_uuids."""
    count, failed = 0, []
    for worker_uuid in dict.fromkeys(uuids):
        worker = db.session.scalar(sa.select(Worker).where(Worker.uuid == worker_uuid))
        if worker is None or not access.has_worker_access(
            actor, worker, worker_min=Role.Admin, user_min=Role.Admin
        ):
            failed.append(worker_uuid)
            continue
        _shutdown(worker, op)
        count += 1
    return ShutdownByUuids(shutdown_count=count, failed_uuids=failed)
