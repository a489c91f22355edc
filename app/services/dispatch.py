"""Dispatch: the claim (fetchTask), the one index-driven query that picks a worker's next task.

Ready tasks are grouped in buckets (group_id, tags_key). A fetch reads the worker's eligible groups, the
buckets of those groups whose tag set is a subset of the worker's tags (`task_buckets`), and the head of
each such bucket from the partial index ix_active_tasks_dispatch (group_id, tags_key, priority DESC, id)
WHERE state = Ready. So a claim and an empty poll touch a handful of index entries however many tasks are
queued, matching or not. The claim locks the chosen row with FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite
serialises writers with BEGIN IMMEDIATE) and re-checks the state under the lock, so two fetches, from any
number of coordinator processes, never claim one task. Nothing about dispatch is kept in process memory.

A task waiting out a retry delay is Pending (never in the dispatch index) with its `retry_at`; each claim's
bucket search probes the partial index ix_active_tasks_retry_at in the same statement and, when a retry is
due, releases the due ones before it searches again, so a delayed task is never claimable before its time
and needs no periodic job.

The bucket rows are kept by the lifecycle (lifecycle.py), which also applies the claim itself (Event.Claim,
`lifecycle_sql.claim_core`: on PostgreSQL the bucket head's locked read and the claim's writes are one
statement) to the buckets in the order the search found. On PostgreSQL a claim first tries the search and
the claim in one statement (`lifecycle_sql.claim_best`: the best bucket's head through a LATERAL read of the
dispatch index); only when a retry is due or every Ready task of that bucket is being claimed by others
does it search, then try the buckets one at a time. Lock order, as everywhere (see lifecycle.py):
the worker row first, then the task.

A bucket outlives its last Ready task; `prune_buckets` (the housekeeping job jobs.tasks.prune_buckets)
deletes the empty ones, so the table holds about as many rows as there are (group, tag set) pairs with
work queued, and the GIN index ix_task_buckets_tags finds a worker's buckets among any number of rows
(`<@`, no sequential scan). Pruning must never drop a bucket a Ready task is being committed into: on
PostgreSQL it takes the table lock SHARE ROW EXCLUSIVE, which waits for every transaction that listed a
bucket (ensure_bucket's INSERT holds ROW EXCLUSIVE until it ends) and holds off new ones until the prune
commits; a prune that cannot get the lock within PRUNE_LOCK_TIMEOUT gives up until its next run. SQLite
serialises writers anyway.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc, orm
from sqlalchemy.dialects import postgresql

from app import db
from app.models import ActiveTask, GroupWorker, Role, TaskBucket, TaskState, Worker, WorkerState
from app.services import lifecycle, lifecycle_sql
from app.services.claim_sql import Claimed


def _candidate_buckets(worker: Worker | lifecycle.LockedWorker) -> tuple[list[tuple[int, str]], bool]:
    """(group_id, tags_key) of the buckets this worker may take tasks from, and whether a delayed retry is
    due (the probe of ix_active_tasks_retry_at rides along in the same statement: a row of NULLs)."""
    postgres = db.is_postgres()
    params: dict[str, Any] = {"w": worker.id, "now": db.utcnow()}
    if postgres:
        params["tags"] = sorted(set(worker.tags))
    rows: list[Any] = list(db.session.connection().execute(_bucket_search(postgres), params))
    mine = None if postgres else set(worker.tags)
    buckets = [(g, k) for g, k, tags in rows if g is not None and (mine is None or set(tags) <= mine)]
    return buckets, any(g is None for g, _, _ in rows)


_bucket_searches: dict[bool, sa.CompoundSelect[Any]] = {}


def _bucket_search(postgres: bool) -> sa.CompoundSelect[Any]:
    """The bucket search of `_candidate_buckets`, built once per dialect (bound: w, now, tags)."""
    if postgres not in _bucket_searches:
        eligible = sa.select(GroupWorker.group_id).where(
            GroupWorker.worker_id == sa.bindparam("w"), GroupWorker.role >= Role.Write
        )
        stmt = sa.select(TaskBucket.group_id, TaskBucket.tags_key, TaskBucket.tags).where(
            TaskBucket.group_id.in_(eligible)
        )
        if postgres:
            tags = sa.bindparam("tags", type_=postgresql.ARRAY(sa.Text()))
            stmt = stmt.where(TaskBucket.tags.op("<@")(tags))
        due = sa.select(ActiveTask.id).where(
            ActiveTask.retry_at <= sa.bindparam("now", type_=ActiveTask.retry_at.type),
            ActiveTask.state == TaskState.Pending,
        )
        _bucket_searches[postgres] = sa.union_all(
            stmt, sa.select(sa.null(), sa.null(), sa.null()).where(sa.exists(due))
        )
    return _bucket_searches[postgres]


def _bucket_head(group_id: int, key: str) -> sa.Select[int, int, int, str]:
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


@db.transactional
def fetch_task(*, worker: Worker) -> Claimed | None:
    """Claim the best task this worker may run (None: nothing to do, or the worker takes no new task)."""
    locked = lifecycle.lock_worker(worker)
    return claim_next(locked=locked) if locked is not None else None


def claim_next(*, locked: Worker | lifecycle.LockedWorker) -> Claimed | None:
    """fetch_task for a worker its caller has locked already (a commit that claims the next task): the
    session's object, or the row a chained commit locked (lifecycle.lock_worker_and_held_row)."""
    if locked.state != WorkerState.Normal or locked.assigned_task_id is not None:
        return None
    # The search does not flush this transaction's other changes first, so a commit's chained claim
    # writes its worker once (the task it let go, then the one it claims, in the claim's statement), not
    # twice. A task this transaction made Ready (a retry starting at once, a released downstream task) is
    # flushed first: the search must see it.
    if any(isinstance(obj, ActiveTask) and obj.state == TaskState.Ready for obj in db.session.dirty):
        db.session.flush()
    with db.session.no_autoflush:
        if db.is_postgres():  # the common case in one statement: no retry due, the best bucket not contended
            claimed, answered = lifecycle_sql.claim_best(locked)
            if answered:
                return claimed
        buckets, due = _candidate_buckets(locked)
        if due and release_due_retries():
            db.session.flush()
            buckets, _ = _candidate_buckets(locked)  # a released retry's bucket may be new
        if not buckets:
            return None
        # The best head first; a bucket whose every Ready task another claim holds (SKIP LOCKED) or took
        # meanwhile yields nothing, and the next one is tried.
        for group_id, key in _ordered_heads(buckets):
            claimed = lifecycle_sql.claim_core(locked, group_id, key)
            if claimed is not None:
                return claimed
    return None


RELEASE_BATCH = 100  # delayed retries released per claim at most (the rest at the next claims)


def release_due_retries() -> int:
    """Make the delayed retries whose time has come Ready (lifecycle RetryDue); returns how many.

    Reads the partial index ix_active_tasks_retry_at (only tasks waiting on a delay are in it); rows another
    claim is releasing are skipped (SKIP LOCKED on PostgreSQL).
    """
    stmt = (
        _due_retries()
        .order_by(ActiveTask.retry_at)
        .limit(RELEASE_BATCH)
        .options(orm.lazyload("*"))
        .execution_options(populate_existing=True)
    )
    if db.is_postgres():
        stmt = stmt.with_for_update(skip_locked=True, of=ActiveTask)
    due = list(db.session.scalars(stmt))
    for task in due:
        lifecycle.apply(task, lifecycle.Event.RetryDue)
    return len(due)


def _due_retries() -> sa.Select[ActiveTask]:
    return sa.select(ActiveTask).where(
        ActiveTask.retry_at <= db.utcnow(), ActiveTask.state == TaskState.Pending
    )


PRUNE_BATCH = 10_000
PRUNE_LOCK_TIMEOUT = "2s"


@db.transactional
def prune_buckets(*, limit: int = PRUNE_BATCH) -> int:
    """Delete up to `limit` buckets that hold no Ready task; how many were deleted (0: lock not granted)."""
    if db.is_postgres():
        try:
            with db.session.begin_nested():
                db.session.execute(sa.text(f"SET LOCAL lock_timeout = '{PRUNE_LOCK_TIMEOUT}'"))
                db.session.execute(sa.text("LOCK TABLE task_buckets IN SHARE ROW EXCLUSIVE MODE"))
        except exc.OperationalError:
            return 0
    ready = sa.exists().where(
        ActiveTask.group_id == TaskBucket.group_id,
        ActiveTask.tags_key == TaskBucket.tags_key,
        ActiveTask.state == TaskState.Ready,
    )
    empty = db.session.scalars(sa.select(TaskBucket.id).where(~ready).limit(limit)).all()
    if empty:
        db.session.execute(sa.delete(TaskBucket).where(TaskBucket.id.in_(empty)))
    return len(empty)
