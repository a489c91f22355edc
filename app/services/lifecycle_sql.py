"""The lifecycle's two hot transitions written in SQL, without ORM objects: the claim (Event.Claim) and a
plain commit (Finish, AgentCancel or Progress ops, then Event.Commit archiving the task).

Part of the lifecycle (lifecycle.py, the one writer of a task's state): they write what `lifecycle.apply`
writes for the same rows of its table, which decides whether a commit is plain
(`lifecycle.plain_commit_steps`) and which state a claim enters (`lifecycle.CLAIM`); the statements are in
claim_sql.py and commit_sql.py. tests/app/services/test_claim_core.py and test_commit_core.py hold them
to `apply`'s result. Lock order as in lifecycle.py: the caller has locked the worker, then the task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, Final

from sqlalchemy import orm

from app import db
from app.db import utcnow
from app.models import ActiveTask, TaskAttempt, Worker
from app.services import attempts, claim_sql, commit_sql, metrics, output_store
from app.services.claim_sql import Claimed
from app.services.lifecycle import CLAIM, Event, plain_commit_steps
from app.services.lifecycle_rows import LockedWorker

# ---------------------------------------------------------------- the claim


def claim_core(worker: Worker | LockedWorker, group_id: int, key: str) -> Claimed | None:
    """Event.Claim applied in SQL (claim_sql.py; one statement on PostgreSQL) to the best Ready task of one
    bucket nobody else is claiming: the row (Ready, Claim) -> Running with `_claim`'s effect (the holder,
    the next attempt and its task_attempts row, the worker's assigned task), its counters; None when the
    bucket has none. The worker, locked by the caller, is given the task without a flush of its own."""
    conn = db.session.connection()  # not the session's execute: the caller's pending changes stay so
    claim, *rest = claim_sql.statements(conn.dialect.name, CLAIM.target)
    now = utcnow()
    params = {"g": group_id, "k": key, "w": worker.id, "wu": worker.uuid, "now": now}
    row = conn.execute(claim, params).one_or_none()
    if row is None:
        return None
    for stmt in rest:
        conn.execute(stmt, {**params, "tid": row.id, "tu": row.uuid, "n": row.attempt})
    return _claimed(worker, row, now)


def claim_best(worker: Worker | LockedWorker) -> tuple[Claimed | None, bool]:
    """claim_core on the best head of all the worker's buckets, the bucket search included (PostgreSQL:
    one statement, claim_sql.best): (the task claimed or None, whether that is the answer). Not the
    answer (False) when a delayed retry is due (the caller releases it, then searches) or the best
    bucket's Ready tasks are all being claimed by others (the caller tries the buckets one by one)."""
    now = utcnow()
    params = {"w": worker.id, "wu": worker.uuid, "now": now, "carried": sorted(set(worker.tags))}
    row = db.session.connection().execute(claim_sql.best(CLAIM.target), params).one()
    if row.id is None:
        return None, not (row.found or row.due)
    return _claimed(worker, row, now), True


def _claimed(worker: Worker | LockedWorker, row: Any, now: datetime) -> Claimed:
    """What the claim's statements wrote, told to the session and the counters."""
    claimed = Claimed(*row[:_ANSWERED])  # its state: Running (CLAIM.target), the default
    stale = db.session.identity_map.get(orm.util.identity_key(ActiveTask, claimed.id))
    if stale is not None:  # a retry this transaction made Ready (and flushed): its row has moved on
        db.session.expire(stale)
    if isinstance(worker, Worker):  # the session's object, written by the claim's statement
        orm.attributes.set_committed_value(worker, "assigned_task_id", claimed.id)
        orm.attributes.set_committed_value(worker, "updated_at", now)
    metrics.task_event(claimed.group_id, Event.Claim.name, CLAIM.source, CLAIM.target, None)
    return claimed


_ANSWERED: Final = len(fields(Claimed)) - 1  # the claim statements' columns: Claimed's fields but its state


# ---------------------------------------------------------------- a plain commit


def commit_core(
    worker: Worker | LockedWorker,
    held: Any,
    events: Sequence[Event],
    result: Mapping[str, Any],
    *,
    release: bool = True,
) -> bool:
    """`events` (the holder's Finish, AgentCancel or Progress) then Event.Commit with `result`, applied in
    SQL (commit_sql.py; one statement on PostgreSQL) to the task `held` (lock_held_row: locked, held by
    `worker`) when the table's rows are the common ones (lifecycle.plain_commit_steps), writing what
    `apply` writes. False (nothing written) for another row (a retry), a downstream task, or task or
    attempt objects in the session: the caller then applies the events through the ORM. With
    `release=False` the worker's row is left for the caller to write before its transaction ends: a claim
    that gives it its next task (claim_core), else `release_core`."""
    loaded = (*db.session.identity_map.values(), *db.session.new)
    if held.downstream_task_uuid is not None or any(isinstance(o, (ActiveTask, TaskAttempt)) for o in loaded):
        return False
    steps = plain_commit_steps(held, events, result)
    if steps is None:
        return False
    conn = db.session.connection()  # not the session's execute: no autoflush
    now = utcnow()
    params = {
        "tid": held.id, "tu": held.uuid, "n": held.attempt, "now": now, "archived_state": steps[-1][2],
        "result": dict(result), "xs": result.get("exit_status"), "msg": result.get("msg"),
        "end": attempts.end_of(result).value, "ru": worker.uuid, "w": worker.id,
    }  # fmt: skip
    for stmt in commit_sql.statements(conn.dialect.name, first_attempt=held.attempt <= 1, release=release):
        conn.execute(stmt, params)
    output_store.forget(held.uuid)
    _released(worker, now)
    for event, source, target in steps:  # as apply counts them (only the Commit's row has the result)
        counted = result if event is Event.Commit else None
        metrics.task_event(held.group_id, event.name, source, target, counted)
    return True


def release_core(worker: Worker | LockedWorker) -> None:
    """The worker lets go of its task (commit_core's `release=False`, when no claim followed)."""
    now = utcnow()
    db.session.connection().execute(commit_sql.RELEASE, {"w": worker.id, "now": now})
    _released(worker, now)


def _released(worker: Worker | LockedWorker, now: datetime) -> None:
    if isinstance(worker, Worker):  # the session's object: a statement let go of the task
        orm.attributes.set_committed_value(worker, "assigned_task_id", None)
        orm.attributes.set_committed_value(worker, "updated_at", now)
