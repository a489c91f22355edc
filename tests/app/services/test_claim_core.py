"""The claim in SQL (lifecycle_sql.claim_core) against the table's Claim row applied to an ORM task (services
called directly, both databases)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from app import db
from app.models import ActiveTask, TaskAttempt, TaskExecState, TaskState, Worker, tags_key
from app.services import claim_sql, lifecycle, lifecycle_sql, metrics
from app.services.lifecycle import Context, Event
from tests.app.services.test_lifecycle import World
from tests.conftest import BACKEND


@pytest.fixture
def world(app):
    with app.app_context():
        yield World(int(app.config["MAX_TASK_LOSSES"]))
        db.session.rollback()


_LEFTOVERS: dict[str, Any] = {"attempt": 2, "exec_state": TaskExecState.ExecSpawned, "cancel_requested": True}
_CLAIM_COLUMNS = ("state", "attempt", "exec_state", "cancel_requested", "retry_at")


def _counter_deltas() -> dict[Any, float]:
    return dict(db.session.info.get(metrics._DELTAS, {}))


def _diff(before: dict[Any, float], after: dict[Any, float]) -> dict[Any, float]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def _attempt(task_uuid: Any) -> TaskAttempt:
    return db.session.scalars(sa.select(TaskAttempt).where(TaskAttempt.task_uuid == task_uuid)).one()


def _fresh(task_id: int) -> ActiveTask:
    return db.session.scalars(
        sa.select(ActiveTask).where(ActiveTask.id == task_id).execution_options(populate_existing=True)
    ).one()


def test_claim_core_writes_what_the_claim_row_writes(world):
    """Task, attempt row, worker and counters come out of claim_core as out of apply(Claim)."""
    other = world.new_worker()
    by_orm = world.task(TaskState.Ready, **_LEFTOVERS)
    before = _counter_deltas()
    lifecycle.apply(by_orm, Event.Claim, Context(worker=other))
    db.session.flush()
    orm_counted = _diff(before, _counter_deltas())
    by_sql = world.task(TaskState.Ready, **_LEFTOVERS)
    db.session.expunge(by_sql)  # not in the session: its columns are read back below

    before = _counter_deltas()
    claimed = lifecycle_sql.claim_core(world.worker, world.group.id, tags_key(["gpu"]))

    assert claimed is not None and claimed.id == by_sql.id
    assert _diff(before, _counter_deltas()) == orm_counted
    row, reference = _fresh(by_sql.id), _fresh(by_orm.id)
    assert [getattr(row, c) for c in _CLAIM_COLUMNS] == [getattr(reference, c) for c in _CLAIM_COLUMNS]
    assert (row.state, row.attempt, row.assigned_worker) == (TaskState.Running, 3, world.worker.id)
    assert row.claimed_at is not None
    started = _attempt(row.uuid)
    assert (started.number, started.worker_uuid, started.ended_at) == (3, world.worker.uuid, None)
    assert started.started_at == row.claimed_at
    # The worker's object holds the task with nothing left to flush, and so does its row.
    assert world.worker.assigned_task_id == row.id and world.worker not in db.session.dirty
    assigned = sa.select(Worker.assigned_task_id).where(Worker.id == world.worker.id)
    assert db.session.scalar(assigned) == row.id
    # The answer is the claimed row (WorkerTaskResp's fields, with the attempt and the tags).
    assert (claimed.uuid, claimed.attempt, claimed.tags, claimed.spec, claimed.timeout) == (
        row.uuid,
        3,
        ["gpu"],
        row.spec,
        row.timeout,
    )
    assert (claimed.state, claimed.assigned_worker, claimed.group_id) == (
        TaskState.Running,
        world.worker.id,
        world.group.id,
    )


def test_claim_core_takes_the_bucket_head_and_only_ready_tasks(world):
    """Priority first, then the oldest; Pending and Running tasks are never taken; an empty bucket: None."""
    world.task(TaskState.Pending, priority=9)
    low = world.task(TaskState.Ready, priority=1)
    first = world.task(TaskState.Ready, priority=5)
    second = world.task(TaskState.Ready, priority=5)
    key = tags_key(["gpu"])
    workers = [world.worker, world.new_worker(), world.new_worker()]

    claimed = [lifecycle_sql.claim_core(w, world.group.id, key) for w in workers]

    assert [c.id if c else None for c in claimed] == [first.id, second.id, low.id]
    assert lifecycle_sql.claim_core(world.new_worker(), world.group.id, key) is None
    assert lifecycle_sql.claim_core(world.new_worker(), world.group.id, tags_key(["cpu"])) is None


def test_claim_core_refreshes_a_task_the_session_holds(world):
    """A task already loaded (a retry this transaction made Ready) reads as claimed afterwards."""
    task = world.task(TaskState.Ready)
    assert lifecycle_sql.claim_core(world.worker, world.group.id, tags_key(["gpu"])) is not None
    assert (task.state, task.assigned_worker, task.attempt) == (TaskState.Running, world.worker.id, 1)


@pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL's plan of its one-statement claim")
def test_the_one_statement_claim_updates_its_task_by_the_key(world):
    """The claim's UPDATE finds its task by the primary key, whatever the statistics say of the Ready rows:
    joined to its pick, the planner took ix_active_tasks_state_claimed on a table filled since its last
    ANALYZE and read the entry of every Ready task."""
    first = world.task(TaskState.Ready)
    db.session.execute(
        sa.text(
            """INSERT INTO active_tasks (creator_id, group_id, task_id, uuid, tags, labels, tags_key, state,
                   timeout, priority, spec, lost_count, attempt, cancel_requested, created_at, updated_at)
               SELECT creator_id, group_id, task_id + g, gen_random_uuid(), tags, labels, tags_key, state,
                   timeout, priority, spec, 0, 0, false, created_at, updated_at
               FROM active_tasks, generate_series(1, 600) g WHERE id = :id"""
        ),
        {"id": first.id},
    )
    statement = claim_sql.best(TaskState.Running).compile(dialect=db.session.get_bind().dialect)
    params = {"w": world.worker.id, "wu": world.worker.uuid, "now": db.utcnow(), "carried": ["gpu"]}
    plan = db.session.connection().exec_driver_sql(
        f"EXPLAIN {statement.string}", statement.construct_params(params)
    )
    lines = [row[0].strip() for row in plan]
    start = next(n for n, line in enumerate(lines) if line.startswith("->  Update on active_tasks"))
    end = next(n for n, line in enumerate(lines) if line.startswith("->  Insert on task_attempts"))
    update = "\n".join(lines[start:end])
    assert "Index Scan using pk_active_tasks" in update and "state_claimed" not in update, update
