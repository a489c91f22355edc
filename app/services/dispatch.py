"""Dispatch: moving tasks between states, the bucket index, and the claim (fetchTask).

Ready tasks are grouped in buckets (group_id, tags_key). A fetch reads the worker's eligible groups, the
buckets of those groups whose tag set is a subset of the worker's tags (`task_buckets`), and the head of
each such bucket from the partial index ix_active_tasks_dispatch (group_id, tags_key, priority DESC, id)
WHERE state = Ready. So a claim and an empty poll touch a handful of index entries however many tasks are
queued, matching or not. The claim locks the chosen row with FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite
serialises writers with BEGIN IMMEDIATE) and re-checks the state under the lock, so two fetches, from any
number of coordinator processes, never claim one task. Nothing about dispatch is kept in process memory.

Lock order, everywhere: the worker row first, then its task (fetch, report, remove_worker), so that a
report racing a removal waits instead of deadlocking. Code that holds a task lock must not then lock a worker.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql, sqlite

from app import db
from app.db import utcnow
from app.models import (
    ActiveTask,
    ArchivedTask,
    GroupWorker,
    Role,
    TaskBucket,
    TaskState,
    Worker,
    WorkerState,
    tags_key,
)

_COPIED = [
    "id", "creator_id", "group_id", "task_id", "uuid", "tags", "labels", "timeout", "priority", "spec",
    "upstream_task_uuid", "downstream_task_uuid", "lost_count", "created_at",
]  # fmt: skip


def ensure_bucket(group_id: int, tags: list[str]) -> None:
    """Record the (group, tag set) bucket of a task that becomes Ready (idempotent)."""
    key = tags_key(tags)
    seen = db.session.info.setdefault("mito_buckets", set())
    if (group_id, key) in seen:
        return
    insert = postgresql.insert if db.is_postgres() else sqlite.insert
    stmt = insert(TaskBucket).values(
        group_id=group_id, tags_key=key, tags=sorted(set(tags)), created_at=utcnow()
    )
    db.session.execute(stmt.on_conflict_do_nothing(index_elements=["group_id", "tags_key"]))
    seen.add((group_id, key))


@sa.event.listens_for(db.SessionFactory, "after_transaction_end")
def _forget_buckets(session, transaction):
    # A rolled-back savepoint may have undone a bucket insert: forget on every rollback and at the end.
    if transaction.parent is None:
        session.info.pop("mito_buckets", None)


@sa.event.listens_for(db.SessionFactory, "after_soft_rollback")
def _forget_buckets_on_rollback(session, previous_transaction):
    session.info.pop("mito_buckets", None)


def make_ready(task: ActiveTask) -> None:
    """Put a task (back) in the Ready state and in its bucket."""
    task.state = TaskState.Ready
    task.assigned_worker = None
    task.claimed_at = None
    task.exec_state = None
    task.cancel_requested = False
    ensure_bucket(task.group_id, task.tags)


def set_tags(task: ActiveTask, tags: list[str]) -> None:
    task.tags = sorted(set(tags))
    task.tags_key = tags_key(tags)
    if task.state == TaskState.Ready:
        ensure_bucket(task.group_id, task.tags)


def archive(task: ActiveTask, *, state: TaskState, result: dict, reporter_uuid=None) -> ArchivedTask:
    """Move a task from active_tasks to archived_tasks (one transaction with the caller)."""
    archived = ArchivedTask(
        **{name: getattr(task, name) for name in _COPIED},
        state=state,
        result=result,
        exit_status=result.get("exit_status") if result else None,
        reporter_uuid=reporter_uuid,
        updated_at=utcnow(),
    )
    db.session.delete(task)
    db.session.flush()
    db.session.add(archived)
    db.session.flush()
    return archived


def lock_worker(worker: Worker) -> Worker | None:
    """Re-read the worker under a row lock (PostgreSQL); None if it was removed meanwhile."""
    stmt = sa.select(Worker).where(Worker.id == worker.id).execution_options(populate_existing=True)
    if db.is_postgres():
        stmt = stmt.with_for_update(of=Worker)
    return db.session.scalar(stmt)


def lock_task(*conditions) -> ActiveTask | None:
    """An active task under a row lock (PostgreSQL), freshly read."""
    stmt = sa.select(ActiveTask).where(*conditions).execution_options(populate_existing=True)
    if db.is_postgres():
        stmt = stmt.with_for_update(of=ActiveTask)
    return db.session.scalar(stmt)


def _candidate_buckets(worker: Worker) -> list[tuple[int, str]]:
    """(group_id, tags_key) of the buckets this worker may take tasks from."""
    eligible = sa.select(GroupWorker.group_id).where(
        GroupWorker.worker_id == worker.id, GroupWorker.role >= Role.Write
    )
    stmt = sa.select(TaskBucket.group_id, TaskBucket.tags_key, TaskBucket.tags).where(
        TaskBucket.group_id.in_(eligible)
    )
    if db.is_postgres():
        stmt = stmt.where(
            TaskBucket.tags.op("<@")(sa.cast(sorted(set(worker.tags)), postgresql.ARRAY(sa.Text())))
        )
        return [(g, k) for g, k, _ in db.session.execute(stmt)]
    mine = set(worker.tags)
    return [(g, k) for g, k, tags in db.session.execute(stmt) if set(tags) <= mine]


def _bucket_head(group_id: int, key: str):
    return (
        sa.select(
            ActiveTask.id, ActiveTask.priority, sa.literal(group_id).label("g"), sa.literal(key).label("k")
        )
        .where(
            ActiveTask.group_id == group_id, ActiveTask.tags_key == key, ActiveTask.state == TaskState.Ready
        )
        .order_by(ActiveTask.priority.desc(), ActiveTask.id)
        .limit(1)
    )


def _ordered_heads(buckets: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The non-empty buckets, best head first (priority DESC, id ASC)."""
    if len(buckets) == 1:
        return buckets
    parts = [sa.select(_bucket_head(g, k).subquery()) for g, k in buckets]
    union = sa.union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    rows = db.session.execute(sa.select(union.c.g, union.c.k).order_by(union.c.priority.desc(), union.c.id))
    return [(g, k) for g, k in rows]


def _claimable(group_id: int, key: str) -> ActiveTask | None:
    """The best Ready task of one bucket that nobody else is claiming, locked."""
    stmt = (
        sa.select(ActiveTask)
        .where(
            ActiveTask.group_id == group_id, ActiveTask.tags_key == key, ActiveTask.state == TaskState.Ready
        )
        .order_by(ActiveTask.priority.desc(), ActiveTask.id)
        .limit(1)
        .options(orm.lazyload("*"))  # no joins to users and groups: the plan stays one index range scan
        .execution_options(populate_existing=True)
    )
    if db.is_postgres():
        stmt = stmt.with_for_update(skip_locked=True, of=ActiveTask)
    return db.session.scalar(stmt)


@db.transactional
def fetch_task(*, worker: Worker) -> ActiveTask | None:
    """Claim the best task this worker may run (None: nothing to do, or the worker takes no new task)."""
    worker = lock_worker(worker)
    if worker is None or worker.state != WorkerState.Normal or worker.assigned_task_id is not None:
        return None
    buckets = _candidate_buckets(worker)
    if not buckets:
        return None
    for group_id, key in _ordered_heads(buckets):
        task = _claimable(group_id, key)
        if task is None:
            continue
        now = utcnow()
        task.state = TaskState.Running
        task.assigned_worker = worker.id
        task.attempt += 1
        task.claimed_at = now
        task.exec_state = None
        task.cancel_requested = False
        worker.assigned_task_id = task.id
        db.session.flush()
        return task
    return None
