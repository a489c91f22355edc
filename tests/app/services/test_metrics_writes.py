"""The metric counters' writes (app/services/metrics.py), services called directly: a transaction's changes
are summed and written once per counter row when it commits, and dropped when it rolls back."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine.default import CACHE_HIT

from app import auth, db
from app.errors import InvalidRequest
from app.models import MetricCounter, TaskCount, TaskState
from app.services import task
from app.services import user as user_service


@pytest.fixture
def alice(app_ctx):
    yield user_service.create_user(username="alice", md5_password=auth.md5_bytes("pw"))
    db.session.rollback()


def _count_writes(writes: list[str]):
    """Collect each write of a counter table (PostgreSQL sends them in one statement, as CTEs)."""

    def listen(conn, cursor, statement, parameters, context, executemany):
        writes.extend(
            t for t in ("task_counts", "metric_counters") for _ in range(statement.count(f"INSERT INTO {t}"))
        )

    return listen


def _ready(group_id: int) -> int:
    total = db.session.scalar(
        sa.select(sa.func.sum(TaskCount.count)).where(
            TaskCount.group_id == group_id, TaskCount.state == TaskState.Ready
        )
    )
    return int(total or 0)


def _submissions() -> float:
    return float(
        db.session.scalar(
            sa.select(sa.func.sum(MetricCounter.value)).where(MetricCounter.name == "submissions")
        )
        or 0
    )


def test_a_batch_of_submissions_writes_each_counter_row_once(alice):
    items = [{"group_name": "alice", "timeout": 60, "task_spec": {"args": ["true"]}}] * 200
    writes: list[str] = []
    engine = db.session.get_bind()
    listener = _count_writes(writes)
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        task.batch_submit_tasks(actor=alice, items=list(items))
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    # One task_counts row (alice's group, Ready) and one metric_counters row (submissions): not 2 x 200.
    assert sorted(writes) == ["metric_counters", "task_counts"], writes
    group_id = db.session.scalars(sa.select(TaskCount.group_id)).first()
    assert _ready(group_id) == 200 and _submissions() == 200


def test_a_rolled_back_transaction_leaves_the_counters_alone(alice):
    @db.transactional
    def submit_then_fail() -> None:
        task.submit_task(
            actor=alice, req={"group_name": "alice", "timeout": 60, "task_spec": {"args": ["x"]}}
        )
        raise InvalidRequest("changed my mind")

    with pytest.raises(InvalidRequest):
        submit_then_fail()
    task.submit_task(actor=alice, req={"group_name": "alice", "timeout": 60, "task_spec": {"args": ["y"]}})
    assert _submissions() == 1
    assert db.session.scalar(sa.select(sa.func.sum(TaskCount.count))) == 1


def test_the_counters_upsert_is_built_once_and_sums_any_number_of_rows(alice):
    """The counters' upsert binds its rows (arrays on PostgreSQL): a transaction of another row count
    reuses the compiled statement (SQLAlchemy's compile cache hits) and writes each row's sum."""
    hits: list[object] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        if "INSERT INTO metric_counters" in statement:
            hits.append(context.cache_hit)

    engine = db.session.get_bind()
    first = task.submit_task(
        actor=alice, req={"group_name": "alice", "timeout": 60, "task_spec": {"args": ["a"]}}
    )
    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        task.submit_task(
            actor=alice, req={"group_name": "alice", "timeout": 60, "task_spec": {"args": ["b"]}}
        )
        task.cancel_task(actor=alice, task_uuid=first.uuid)  # two task_counts rows: Ready -1, Cancelled +1
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)
    assert hits and all(hit is CACHE_HIT for hit in hits), hits
    group_id = first.group_id
    counts = dict(
        db.session.execute(
            sa.select(TaskCount.state, sa.func.sum(TaskCount.count))
            .where(TaskCount.group_id == group_id)
            .group_by(TaskCount.state)
        ).all()
    )
    assert counts[TaskState.Ready] == 1 and counts[TaskState.Cancelled] == 1
    assert _submissions() == 2
