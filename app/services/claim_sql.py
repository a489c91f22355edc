"""The statements of the claim (lifecycle_sql.claim_core and claim_best, which alone run them) and the answer
they read.

Split from lifecycle.py along the statement text only: the transition, its counters and what the session
is told stay there. Built once per dialect, with bound parameters: g, k (the bucket), w, wu (the worker's id
and uuid), now; SQLite's second and third statements also tid, tu, n (the claimed task's id, uuid, attempt).
"""

from __future__ import annotations

import uuid as uuid_mod
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from app.models import ActiveTask, GroupWorker, Role, TaskAttempt, TaskBucket, TaskState, Worker
from app.prepared import prepared


@dataclass(frozen=True)
class Claimed:
    """A task a claim just gave its worker (Running), as the claim's UPDATE ... RETURNING read it: what
    the claim's answer (WorkerTaskResp) shows, without loading the task through the ORM."""

    id: int
    uuid: uuid_mod.UUID
    timeout: int
    upstream_task_uuid: uuid_mod.UUID | None
    spec: dict[str, Any]
    tags: list[str]
    attempt: int
    group_id: int
    campaign_id: int | None
    assigned_worker: int
    state: TaskState = TaskState.Running


_statements: dict[str, tuple[sa.Executable, ...]] = {}


def statements(dialect: str, target: TaskState) -> tuple[sa.Executable, ...]:
    """The claim's statements for a dialect, built once (bound parameters: g, k, w, wu, now; then tid, tu,
    n for SQLite's second and third)."""
    if dialect not in _statements:
        _statements[dialect] = _build(target, postgres=dialect == "postgresql")
    return _statements[dialect]


_best: dict[TaskState, sa.Select[Any]] = {}


def best(target: TaskState) -> sa.Select[Any]:
    """PostgreSQL's claim of a worker's best task in one statement, built once: the bucket search (the
    worker's eligible groups, the buckets whose tags it carries, each bucket's head from the dispatch index
    through a LATERAL read, the best head first) and the claim in that bucket as `statements` makes it.
    Bound: w, wu, now, carried (the worker's tags). One row always: the claimed task's columns (all NULL
    when none was claimed), `found` (a bucket had a Ready head) and `due` (a delayed retry is due: then
    nothing is claimed, so the caller releases it first). A bucket whose Ready tasks other claims hold
    (SKIP LOCKED) claims nothing with `found` true: the caller then tries the buckets one by one."""
    if target not in _best:
        _best[target] = prepared(_build_best(target))
    return _best[target]


def _build_best(target: TaskState) -> sa.Select[Any]:
    active = cast(sa.Table, ActiveTask.__table__)
    buckets, eligible = cast(sa.Table, TaskBucket.__table__), cast(sa.Table, GroupWorker.__table__)
    now = sa.bindparam("now", type_=active.c.claimed_at.type)
    probe = active.alias("probe")
    head = (
        sa.select(probe.c.id, probe.c.priority)
        .where(
            probe.c.group_id == buckets.c.group_id,
            probe.c.tags_key == buckets.c.tags_key,
            probe.c.state == TaskState.Ready,
        )
        .order_by(probe.c.priority.desc(), probe.c.id)
        .limit(1)
        .lateral("head")
    )
    due = sa.exists().where(active.c.retry_at <= now, active.c.state == TaskState.Pending)
    groups = sa.select(eligible.c.group_id).where(
        eligible.c.worker_id == sa.bindparam("w"), eligible.c.role >= Role.Write
    )
    tags = sa.bindparam("carried", type_=postgresql.ARRAY(sa.Text()))  # not "tags": an UPDATE would set it
    chosen = (
        sa.select(buckets.c.group_id, buckets.c.tags_key)
        .select_from(buckets.join(head, sa.true()))
        .where(buckets.c.group_id.in_(groups), buckets.c.tags.op("<@")(tags), ~due)
        .order_by(head.c.priority.desc(), head.c.id)
        .limit(1)
        .cte("best")
    )
    bucket = (sa.select(chosen.c.group_id).scalar_subquery(), sa.select(chosen.c.tags_key).scalar_subquery())
    claimed, ctes, answer = _claim_ctes(target, *bucket)
    one = sa.select(sa.literal(1).label("one")).subquery("one")
    found = sa.exists(sa.select(chosen.c.group_id)).label("found")
    return (
        sa.select(*answer, found, due.label("due"))
        .select_from(one.outerjoin(claimed, sa.true()))
        .add_cte(*ctes)
    )


def _build(target: TaskState, *, postgres: bool) -> tuple[sa.Executable, ...]:
    if postgres:
        _, ctes, columns = _claim_ctes(target, sa.bindparam("g"), sa.bindparam("k"))
        return (prepared(sa.select(*columns).add_cte(*ctes)),)
    active = cast(sa.Table, ActiveTask.__table__)
    tried = cast(sa.Table, TaskAttempt.__table__)
    workers = cast(sa.Table, Worker.__table__)
    now = sa.bindparam("now", type_=active.c.claimed_at.type)
    head, update, answer = _claim_parts(target, sa.bindparam("g"), sa.bindparam("k"))
    claim = update.where(active.c.id == head.scalar_subquery(), active.c.state == TaskState.Ready)
    attempt = sa.insert(tried).values(
        task_uuid=sa.bindparam("tu", type_=tried.c.task_uuid.type),
        number=sa.bindparam("n"),
        worker_uuid=sa.bindparam("wu", type_=tried.c.worker_uuid.type),
        started_at=now,
    )
    holder = (
        sa.update(workers)
        .where(workers.c.id == sa.bindparam("w"))
        .values(assigned_task_id=sa.bindparam("tid"), updated_at=now)
    )
    return claim.returning(*answer), attempt, holder


def _claim_parts(
    target: TaskState, group: sa.ColumnElement[Any], key: sa.ColumnElement[Any]
) -> tuple[sa.Select[Any], sa.Update, list[sa.Column[Any]]]:
    """The bucket's head (the best Ready task of `group`, `key`), the claim's UPDATE (no WHERE yet) and the
    columns of the answer."""
    active = cast(sa.Table, ActiveTask.__table__)
    now = sa.bindparam("now", type_=active.c.claimed_at.type)
    head = (
        sa.select(active.c.id)
        .where(active.c.group_id == group, active.c.tags_key == key, active.c.state == TaskState.Ready)
        .order_by(active.c.priority.desc(), active.c.id)
        .limit(1)
    )
    update = sa.update(active).values(
        state=target,
        assigned_worker=sa.bindparam("w"),
        attempt=active.c.attempt + 1,
        claimed_at=now,
        exec_state=None,
        cancel_requested=False,
        retry_at=None,
        updated_at=now,
    )
    answer = [
        active.c.id, active.c.uuid, active.c.timeout, active.c.upstream_task_uuid, active.c.spec,
        active.c.tags, active.c.attempt, active.c.group_id, active.c.campaign_id, active.c.assigned_worker,
    ]  # fmt: skip
    return head, update, answer


def _claim_ctes(
    target: TaskState, group: sa.ColumnElement[Any], key: sa.ColumnElement[Any]
) -> tuple[sa.CTE, list[sa.CTE], list[sa.ColumnElement[Any]]]:
    """PostgreSQL's claim in one bucket as CTEs: the head under FOR UPDATE SKIP LOCKED (`picked`), its
    UPDATE (`claimed`), the attempt's INSERT and the worker's UPDATE; the `claimed` CTE, the CTEs the
    statement must carry, and the answer's columns read from `claimed`."""
    active = cast(sa.Table, ActiveTask.__table__)
    tried = cast(sa.Table, TaskAttempt.__table__)
    workers = cast(sa.Table, Worker.__table__)
    now = sa.bindparam("now", type_=active.c.claimed_at.type)
    head, update, answer = _claim_parts(target, group, key)
    picked = head.with_for_update(skip_locked=True).cte("picked")
    ready = active.c.state == TaskState.Ready
    # By the key, as a scalar: a join to `picked` lets the planner pick ix_active_tasks_state_claimed on
    # stale statistics and read every Ready row's entry.
    chosen = sa.select(picked.c.id).scalar_subquery()
    claimed = update.where(active.c.id == chosen, ready).returning(*answer).cte("claimed")
    started = sa.insert(tried).from_select(
        ["task_uuid", "number", "worker_uuid", "started_at"],
        sa.select(claimed.c.uuid, claimed.c.attempt, sa.bindparam("wu", type_=tried.c.worker_uuid.type), now),
    )
    holder = (
        sa.update(workers)
        .where(workers.c.id == claimed.c.assigned_worker)
        .values(assigned_task_id=claimed.c.id, updated_at=now)
    )
    return claimed, [started.cte("started"), holder.cte("holder")], [claimed.c[c.name] for c in answer]
