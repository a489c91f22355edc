"""Rows for the housekeeping tests, written through the models (the jobs select by state and time)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import sqlalchemy as sa

from app import db
from app.models import ActiveTask, Group, GroupWorker, Role, TaskState, User, Worker


def admin() -> User:
    return db.session.scalars(sa.select(User).order_by(User.id)).first()


def group(name: str = "lab") -> Group:
    owner = admin()
    found = db.session.scalars(sa.select(Group).where(Group.group_name == name)).first()
    if found:
        return found
    grp = Group(group_name=name, creator_id=owner.id)
    db.session.add(grp)
    db.session.commit()
    return grp


def worker(*, silent_for: float = 0, expires_in: float = 86400, grp: Group | None = None) -> Worker:
    now = db.utcnow()
    w = Worker(
        creator_id=admin().id,
        last_heartbeat=now - timedelta(seconds=silent_for),
        expires_at=now + timedelta(seconds=expires_in),
    )
    db.session.add(w)
    db.session.flush()
    db.session.add(GroupWorker(group_id=(grp or group()).id, worker_id=w.id, role=Role.Write))
    db.session.commit()
    return w


def task(
    *, holder: Worker | None = None, timeout: int = 60, running_for: float = 0, lost_count: int = 0
) -> ActiveTask:
    """An active task; Running and held by `holder` when given (claimed `running_for` seconds ago)."""
    grp = group()
    grp.task_count += 1
    t = ActiveTask(
        creator_id=admin().id,
        group_id=grp.id,
        task_id=grp.task_count,
        uuid=uuid.uuid4(),
        tags=[],
        labels=[],
        tags_key="[]",
        state=TaskState.Running if holder else TaskState.Ready,
        timeout=timeout,
        priority=0,
        spec={"args": ["true"], "envs": {}, "resources": [], "terminal_output": False, "watch": None},
        lost_count=lost_count,
    )
    db.session.add(t)
    db.session.flush()
    if holder is not None:
        t.assigned_worker = holder.id
        t.attempt = 1
        t.claimed_at = db.utcnow() - timedelta(seconds=running_for)
        holder.assigned_task_id = t.id
    db.session.commit()
    return t


def read(stmt):
    """One scalar, in a transaction that ends at once (SQLite: never hold the write lock while waiting)."""
    db.session.rollback()
    value = db.session.scalar(stmt)
    db.session.rollback()
    return value


def md5(password: str) -> list[int]:
    return list(hashlib.md5(password.encode()).digest())


def read_all(stmt) -> list:
    """All scalars, in a transaction that ends at once."""
    db.session.rollback()
    values = list(db.session.scalars(stmt))
    db.session.rollback()
    return values
