"""A plain commit in SQL (lifecycle_sql.commit_core) against the table's Finish/Cancel/Progress and Commit
rows applied to an ORM task (services called directly, both databases)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from app import db
from app.errors import InvalidRequest
from app.models import (
    ActiveTask,
    ArchivedTask,
    Artifact,
    ArtifactContentType,
    TaskAttempt,
    TaskExecState,
    TaskState,
    Worker,
)
from app.services import lifecycle, lifecycle_sql
from app.services.lifecycle import Context, Event
from tests.app.services.test_claim_core import _counter_deltas, _diff
from tests.app.services.test_lifecycle import World

# What may differ between two archived tasks written the same way.
_OWN = {"id", "uuid", "task_id", "created_at", "updated_at", "reporter_uuid"}


@pytest.fixture
def world(app):
    with app.app_context():
        yield World(int(app.config["MAX_TASK_LOSSES"]))
        db.session.rollback()


def _held(world: World, worker: Worker, attempt: int = 2, **columns: Any) -> ActiveTask:
    """A Running task `worker` holds in `attempt` (open), with a current artifact of an earlier attempt
    (Stdout) and one of this attempt (Result)."""
    world.worker.assigned_task_id = None
    task = world.task(TaskState.Running, **columns)
    world.worker.assigned_task_id = None
    task.assigned_worker, task.attempt = worker.id, attempt
    worker.assigned_task_id = task.id
    db.session.flush()
    db.session.add(
        TaskAttempt(task_uuid=task.uuid, number=attempt, worker_uuid=worker.uuid, started_at=db.utcnow())
    )
    for kind, number in ((ArtifactContentType.StdLog, attempt - 1), (ArtifactContentType.Result, attempt)):
        db.session.add(
            Artifact(task_uuid=task.uuid, content_type=kind, size=1, group_id=world.group.id, attempt=number)
        )
    db.session.flush()
    return task


def _forget(task: ActiveTask) -> None:
    """Out of the session: the task and its attempt rows (commit_core reads and writes rows, not objects)."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, TaskAttempt | Artifact):
            db.session.expunge(obj)
    db.session.expunge(task)


def _archived(task_uuid: Any) -> dict[str, Any]:
    row = db.session.scalars(
        sa.select(ArchivedTask)
        .where(ArchivedTask.uuid == task_uuid)
        .execution_options(populate_existing=True)
    ).one()
    return {c.key: getattr(row, c.key) for c in sa.inspect(ArchivedTask).column_attrs if c.key not in _OWN}


def _attempt(task_uuid: Any) -> tuple[Any, ...]:
    row = db.session.execute(
        sa.select(
            TaskAttempt.end, TaskAttempt.exit_status, TaskAttempt.msg, TaskAttempt.ended_at.is_not(None)
        ).where(TaskAttempt.task_uuid == task_uuid)
    ).one()
    return tuple(row)


def _current(task_uuid: Any) -> dict[ArtifactContentType, bool]:
    rows = db.session.execute(
        sa.select(Artifact.content_type, Artifact.current).where(Artifact.task_uuid == task_uuid)
    )
    return {kind: current for kind, current in rows}


@pytest.mark.parametrize(
    ("ops", "result"),
    [
        ([Event.Finish], {"exit_status": 3, "msg": None}),
        ([Event.AgentCancel], {"exit_status": 0, "msg": "ExecTimeout", "detail": "took too long"}),
        ([Event.Finish, Event.AgentCancel, Event.Finish], {"exit_status": 0, "msg": None}),
        # An agent's exec states travel with its commit: the row they would be written to is archived.
        ([Event.Progress, Event.Progress, Event.Finish, Event.Progress], {"exit_status": 0, "msg": None}),
    ],
)
def test_commit_core_writes_what_the_commit_rows_write(world, ops, result):
    """Archived row, attempt row, artifacts' fencing, worker and counters come out of commit_core as out
    of apply(Finish/AgentCancel ...) then apply(Commit)."""
    other = world.new_worker()
    by_orm = _held(world, other, labels=["x"], priority=3)
    before = _counter_deltas()
    for event in ops:
        lifecycle.apply(by_orm, event, Context(worker=other, exec_state=TaskExecState.ExecFinished))
    lifecycle.apply(by_orm, Event.Commit, Context(worker=other, result=result))
    db.session.flush()
    orm_counted = _diff(before, _counter_deltas())
    by_sql = _held(world, world.worker, labels=["x"], priority=3)
    _forget(by_sql)

    before = _counter_deltas()
    held = lifecycle.lock_held_row(by_sql.id)
    assert lifecycle_sql.commit_core(world.worker, held, ops, result) is True
    db.session.flush()

    assert _diff(before, _counter_deltas()) == orm_counted
    assert _archived(by_sql.uuid) == _archived(by_orm.uuid)
    assert _archived(by_sql.uuid)["state"] == (
        TaskState.Finished
        if [e for e in ops if e is not Event.Progress][-1] is Event.Finish
        else TaskState.Cancelled
    )
    reporters = sa.select(ArchivedTask.reporter_uuid).where(ArchivedTask.id.in_([by_sql.id, by_orm.id]))
    assert set(db.session.scalars(reporters)) == {world.worker.uuid, other.uuid}
    assert db.session.scalar(sa.select(ActiveTask.id).where(ActiveTask.id == by_sql.id)) is None
    assert _attempt(by_sql.uuid) == _attempt(by_orm.uuid)
    assert (
        _current(by_sql.uuid)
        == _current(by_orm.uuid)
        == {
            ArtifactContentType.StdLog: False,
            ArtifactContentType.Result: True,
        }
    )
    holders = sa.select(Worker.assigned_task_id).where(Worker.id.in_([world.worker.id, other.id]))
    assert list(db.session.scalars(holders)) == [None, None]


def test_commit_core_on_a_first_attempt_leaves_artifacts_alone(world):
    """A first attempt has no earlier one: its artifacts stay current (and no fencing is written)."""
    task = _held(world, world.worker, attempt=1)
    _forget(task)
    assert lifecycle_sql.commit_core(
        world.worker, lifecycle.lock_held_row(task.id), [Event.Finish], {"exit_status": 0}
    )
    assert _current(task.uuid) == {ArtifactContentType.StdLog: True, ArtifactContentType.Result: True}


@pytest.mark.parametrize(
    "columns",
    [
        {"retry_policy": {"retries": 2, "on": ["exit"]}},  # the failure is retried: a retry row applies
        {"downstream_task_uuid": "spawned"},  # the downstream task is released by `_commit` (ORM)
    ],
)
def test_commit_core_leaves_uncommon_commits_to_the_orm(world, columns):
    """Another row than the plain archive, or a downstream task: False, and nothing is written."""
    if columns.get("downstream_task_uuid") == "spawned":
        columns = {"downstream_task_uuid": world.task(TaskState.Pending).uuid}
    task = _held(world, world.worker, **columns)
    _forget(task)
    before = _counter_deltas()
    held = lifecycle.lock_held_row(task.id)
    assert (
        lifecycle_sql.commit_core(world.worker, held, [Event.Finish], {"exit_status": 1, "msg": None})
        is False
    )
    db.session.flush()
    assert _diff(before, _counter_deltas()) == {}
    state = sa.select(ActiveTask.state).where(ActiveTask.id == task.id)
    assert db.session.scalar(state) == TaskState.Running
    assert _attempt(task.uuid)[3] is False
    assert world.worker.assigned_task_id == task.id


def test_commit_core_leaves_a_task_the_session_holds_to_the_orm(world):
    """A task object in the session (its changes unflushed, maybe) is never written behind its back."""
    task = _held(world, world.worker)
    held = lifecycle.lock_held_row(task.id)
    assert lifecycle_sql.commit_core(world.worker, held, [Event.Finish], {"exit_status": 0}) is False


def test_commit_core_refuses_what_the_table_refuses(world):
    """A commit before Finish or Cancel is the same 400 as apply's."""
    task = _held(world, world.worker)
    _forget(task)
    with pytest.raises(InvalidRequest, match="can not be committed: it is Running"):
        lifecycle_sql.commit_core(world.worker, lifecycle.lock_held_row(task.id), [], {"exit_status": 0})
