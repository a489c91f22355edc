"""The claim in SQL (lifecycle_sql.claim_core; claim_best on PostgreSQL) against the table's Claim row applied
to an ORM task (services called directly, both databases)."""

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


def _claim_core(worker: Worker, group_id: int) -> Any:
    return lifecycle_sql.claim_core(worker, group_id, tags_key(["gpu"]))


def _claim_best(worker: Worker, group_id: int) -> Any:
    lifecycle.ensure_bucket(group_id, ["gpu"])
    claimed, answered = lifecycle_sql.claim_best(worker)
    assert answered
    return claimed


@pytest.mark.parametrize(
    "claim",
    [
        _claim_core,
        pytest.param(
            _claim_best,
            marks=pytest.mark.skipif(BACKEND != "postgresql", reason="claim_best is PostgreSQL's"),
        ),
    ],
    ids=["claim_core", "claim_best"],
)
def test_claim_core_writes_what_the_claim_row_writes(world, claim):
    """Task, attempt row, worker and counters come out of claim_core (and PostgreSQL's claim_best, the
    bucket search with it) as out of apply(Claim)."""
    other = world.new_worker()
    by_orm = world.task(TaskState.Ready, **_LEFTOVERS)
    before = _counter_deltas()
    lifecycle.apply(by_orm, Event.Claim, Context(worker=other))
    db.session.flush()
    orm_counted = _diff(before, _counter_deltas())
    by_sql = world.task(TaskState.Ready, **_LEFTOVERS)
    db.session.expunge(by_sql)  # not in the session: its columns are read back below

    before = _counter_deltas()
    claimed = claim(world.worker, world.group.id)

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


# ---------------------------------------------------------------- claim_best, the bucket search with it

_postgres_only = pytest.mark.skipif(BACKEND != "postgresql", reason="claim_best is PostgreSQL's")


@_postgres_only
def test_claim_best_takes_the_best_head_of_the_buckets_the_worker_may_take(world):
    """Across its buckets, the best head (priority, then the oldest); never a bucket whose tags the worker
    does not carry, nor a group where it may only read."""
    from app.models import Group, GroupWorker, Role

    def ready(priority: int, tags: list[str], group_id: int | None = None) -> ActiveTask:
        task = world.task(TaskState.Ready, priority=priority, tags=tags, tags_key=tags_key(tags))
        if group_id is not None:
            task.group_id = group_id
            db.session.flush()
        lifecycle.ensure_bucket(task.group_id, tags)
        return task

    read_only = Group(group_name="read-only", creator_id=world.admin.id)
    db.session.add(read_only)
    db.session.flush()
    db.session.add(GroupWorker(group_id=read_only.id, worker_id=world.worker.id, role=Role.Read))
    ready(9, ["cpu"])  # a tag the worker does not carry
    ready(8, ["gpu"], group_id=read_only.id)  # a group it may only read
    low, first, second = ready(1, []), ready(5, ["gpu"]), ready(5, [])

    taken = []
    for worker in (world.worker, world.new_worker(), world.new_worker(), world.new_worker()):
        claimed, answered = lifecycle_sql.claim_best(worker)
        assert answered
        taken.append(claimed.id if claimed is not None else None)
    assert taken == [first.id, second.id, low.id, None]


@_postgres_only
def test_claim_best_leaves_a_due_retry_to_the_search(world):
    """A delayed retry is due: nothing is claimed or written, and the answer is not final (the caller
    releases the retry, then searches): a due retry of higher priority is never passed over."""
    ready = world.task(TaskState.Ready, priority=1)
    world.task(TaskState.Pending, priority=9, retry_at=db.utcnow())
    lifecycle.ensure_bucket(world.group.id, ["gpu"])

    assert lifecycle_sql.claim_best(world.worker) == (None, False)
    assert _fresh(ready.id).state == TaskState.Ready and world.worker.assigned_task_id is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TaskAttempt)) == 0
