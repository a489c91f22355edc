"""The rows the lifecycle works on: the row locks, taken in the documented order (worker first, then the
task it holds), and the bucket index a Ready task is listed in.

Part of the task lifecycle (lifecycle.py, whose docstring holds the lock order): lifecycle.py re-exports
these names and callers use them from there. Nothing here assigns a task's state.
"""

from __future__ import annotations

import uuid as uuid_mod
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql, sqlite

from app import db
from app.auth import WorkerIdentity
from app.db import utcnow
from app.models import ActiveTask, TaskBucket, TaskState, User, UserState, Worker, WorkerState, tags_key
from app.prepared import prepared

# ---------------------------------------------------------------- tags and the bucket index


def set_tags(task: ActiveTask, tags: list[str]) -> None:
    """Replace a task's tags, keeping its bucket listed when it is Ready."""
    task.tags = sorted(set(tags))
    task.tags_key = tags_key(tags)
    if task.state == TaskState.Ready:
        ensure_bucket(task.group_id, task.tags)


def ensure_bucket(group_id: int, tags: list[str]) -> None:
    """Record the (group, tag set) bucket of a task that becomes Ready (idempotent)."""
    key = tags_key(tags)
    seen: set[tuple[int, str]] = db.session.info.setdefault("mito_buckets", set())
    if (group_id, key) in seen:
        return
    insert = postgresql.insert if db.is_postgres() else sqlite.insert
    stmt = insert(TaskBucket).values(
        group_id=group_id, tags_key=key, tags=sorted(set(tags)), created_at=utcnow()
    )
    db.session.execute(stmt.on_conflict_do_nothing(index_elements=["group_id", "tags_key"]))
    seen.add((group_id, key))


@sa.event.listens_for(db.SessionFactory, "after_transaction_end")
def _forget_buckets(session: orm.Session, transaction: orm.SessionTransaction) -> None:
    # A rolled-back savepoint may have undone a bucket insert: forget on every rollback and at the end.
    if transaction.parent is None:
        session.info.pop("mito_buckets", None)


@sa.event.listens_for(db.SessionFactory, "after_soft_rollback")
def _forget_buckets_on_rollback(session: orm.Session, previous_transaction: orm.SessionTransaction) -> None:
    session.info.pop("mito_buckets", None)


# ---------------------------------------------------------------- row locks (worker first, then task)


def lock_worker(worker: Worker | WorkerIdentity) -> Worker | None:
    """Re-read the worker (by its uuid: a token's identity will do) under a row lock (PostgreSQL); None if
    it was removed meanwhile."""
    stmt = sa.select(Worker).where(Worker.uuid == worker.uuid).execution_options(populate_existing=True)
    if db.is_postgres():
        stmt = stmt.with_for_update(of=Worker)
    return db.session.scalar(stmt)


def lock_task(*conditions: sa.ColumnElement[bool]) -> ActiveTask | None:
    """An active task under a row lock (PostgreSQL), freshly read: its own row only (its creator and group
    load when asked for, mostly from the session's identity map)."""
    stmt = (
        sa.select(ActiveTask)
        .where(*conditions)
        .options(orm.lazyload(ActiveTask.creator), orm.lazyload(ActiveTask.group))
    )
    stmt = stmt.execution_options(populate_existing=True)
    if db.is_postgres():
        stmt = stmt.with_for_update(of=ActiveTask)
    return db.session.scalar(stmt)


# What a Core commit reads of the task it locks: holder, attempt, and what the table's Commit guards read.
_HELD_COLUMNS = (
    "id", "uuid", "state", "assigned_worker", "attempt", "group_id", "downstream_task_uuid",
    "cancel_requested", "retry_policy", "retry_count",
)  # fmt: skip


def lock_held_row(task_id: int) -> sa.Row[Any] | None:
    """An active task's row under a row lock (PostgreSQL), only the columns a commit needs (Core: no ORM
    object, no autoflush); None if there is no such task."""
    active = cast(sa.Table, ActiveTask.__table__)
    stmt = sa.select(*(active.c[c] for c in _HELD_COLUMNS)).where(active.c.id == task_id)
    if db.is_postgres():
        stmt = stmt.with_for_update()
    return db.session.connection().execute(stmt).one_or_none()


@dataclass(frozen=True)
class LockedWorker:
    """A worker row locked by `lock_worker_and_held_row` (Core, no ORM object): what a chained commit and
    the claim after it read of it (dispatch.claim_next and lifecycle_sql.claim_core take it as a Worker)."""

    id: int
    uuid: uuid_mod.UUID
    tags: list[str]
    state: WorkerState
    assigned_task_id: int | None


def lock_worker_and_held_row(
    worker: Worker | WorkerIdentity, task_id: int
) -> tuple[LockedWorker, UserState, Any] | None:
    """`lock_worker` and `lock_held_row` in one Core statement: the worker's row (the columns a chained
    commit reads), its creator's state and the task's row (the same columns as lock_held_row), both rows
    locked, the worker first (PostgreSQL locks the rows of `FOR UPDATE OF workers, active_tasks` in that
    order: the documented lock order holds); None when either is missing (the caller then takes them one
    at a time to say which). SQLite (writers serialised) reads the same."""
    postgres = db.is_postgres()
    if postgres not in _worker_and_held:
        active, workers = cast(sa.Table, ActiveTask.__table__), cast(sa.Table, Worker.__table__)
        users = cast(sa.Table, User.__table__)
        stmt = (
            sa.select(
                *(workers.c[c] for c in _WORKER_COLUMNS),
                users.c.state.label("creator_state"),
                *(active.c[c].label(f"t_{c}") for c in _HELD_COLUMNS),
            )
            .join(users, users.c.id == workers.c.creator_id)
            .join(active, active.c.id == sa.bindparam("tid"))
            .where(workers.c.uuid == sa.bindparam("wu", type_=workers.c.uuid.type))
        )
        _worker_and_held[postgres] = (
            prepared(stmt.with_for_update(of=[workers, active])) if postgres else stmt
        )
    row = db.session.connection().execute(_worker_and_held[postgres], {"tid": task_id, "wu": worker.uuid})
    found = row.one_or_none()
    if found is None:
        return None
    values = found._mapping
    locked = LockedWorker(*(values[c] for c in _WORKER_COLUMNS))
    return locked, values["creator_state"], _HeldRow(*(values[f"t_{c}"] for c in _HELD_COLUMNS))


_WORKER_COLUMNS = ("id", "uuid", "tags", "state", "assigned_task_id")
_worker_and_held: dict[bool, sa.Select[Any]] = {}


class _HeldRow(NamedTuple):
    """A held task's locked columns (_HELD_COLUMNS), as lock_held_row's row shows them."""

    id: int
    uuid: Any
    state: TaskState
    assigned_worker: int | None
    attempt: int
    group_id: int
    downstream_task_uuid: Any
    cancel_requested: bool
    retry_policy: Any
    retry_count: int


def lock_tasks(*conditions: sa.ColumnElement[bool]) -> list[ActiveTask]:
    """Active tasks under row locks (PostgreSQL), freshly read, in id order (so batches never deadlock)."""
    stmt = sa.select(ActiveTask).where(*conditions).order_by(ActiveTask.id)
    stmt = stmt.execution_options(populate_existing=True)
    if db.is_postgres():
        stmt = stmt.with_for_update(of=ActiveTask)
    return list(db.session.scalars(stmt).all())
