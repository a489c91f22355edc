"""The statements of the claim (lifecycle.claim_core, which alone runs them) and the answer they read.

Split from lifecycle.py along the statement text only: the transition, its counters and what the session
is told stay there. Built once per dialect, with bound parameters: g, k (the bucket), w, wu (the worker's id
and uuid), now; SQLite's second and third statements also tid, tu, n (the claimed task's id, uuid, attempt).
"""

from __future__ import annotations

import uuid as uuid_mod
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa

from app.models import ActiveTask, TaskAttempt, TaskState, Worker


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


def _build(target: TaskState, *, postgres: bool) -> tuple[sa.Executable, ...]:
    active = cast(sa.Table, ActiveTask.__table__)
    tried = cast(sa.Table, TaskAttempt.__table__)
    workers = cast(sa.Table, Worker.__table__)
    now = sa.bindparam("now", type_=active.c.claimed_at.type)
    worker_uuid = sa.bindparam("wu", type_=tried.c.worker_uuid.type)
    ready = active.c.state == TaskState.Ready
    head = (
        sa.select(active.c.id)
        .where(active.c.group_id == sa.bindparam("g"), active.c.tags_key == sa.bindparam("k"), ready)
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
    if not postgres:
        claim = update.where(active.c.id == head.scalar_subquery(), ready).returning(*answer)
        attempt = sa.insert(tried).values(
            task_uuid=sa.bindparam("tu", type_=tried.c.task_uuid.type),
            number=sa.bindparam("n"),
            worker_uuid=worker_uuid,
            started_at=now,
        )
        holder = (
            sa.update(workers)
            .where(workers.c.id == sa.bindparam("w"))
            .values(assigned_task_id=sa.bindparam("tid"), updated_at=now)
        )
        return claim, attempt, holder
    picked = head.with_for_update(skip_locked=True).cte("picked")
    claimed = update.where(active.c.id == picked.c.id, ready).returning(*answer).cte("claimed")
    started = sa.insert(tried).from_select(
        ["task_uuid", "number", "worker_uuid", "started_at"],
        sa.select(claimed.c.uuid, claimed.c.attempt, worker_uuid, now),
    )
    holder = (
        sa.update(workers)
        .where(workers.c.id == claimed.c.assigned_worker)
        .values(assigned_task_id=claimed.c.id, updated_at=now)
    )
    columns = [claimed.c[c.name] for c in answer]
    return (sa.select(*columns).add_cte(started.cte("started"), holder.cte("holder")),)
