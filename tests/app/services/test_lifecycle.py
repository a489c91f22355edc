"""The task lifecycle's transition table, row by row, and its refusals (services called directly)."""

from __future__ import annotations

import uuid as uuid_mod
from typing import Any

import pytest
import sqlalchemy as sa

from app import db
from app.errors import Conflict, DomainError, InvalidRequest
from app.models import (
    ActiveTask,
    ArchivedTask,
    Group,
    GroupWorker,
    Role,
    TaskBucket,
    TaskExecState,
    TaskLoss,
    TaskState,
    User,
    Worker,
    tags_key,
)
from app.services import lifecycle
from app.services.lifecycle import TRANSITIONS, Context, Event, Transition

HELD = (TaskState.Running, TaskState.Finished, TaskState.Cancelled)


class World:
    """One group, one worker serving it, and tasks in any state, written straight to the tables."""

    def __init__(self, max_losses: int) -> None:
        self.max_losses = max_losses
        self.admin = db.session.scalars(sa.select(User).order_by(User.id)).one()
        self.group = Group(group_name="lab", creator_id=self.admin.id)
        db.session.add(self.group)
        db.session.flush()
        self.worker = self.new_worker()

    def new_worker(self) -> Worker:
        worker = Worker(creator_id=self.admin.id, tags=["gpu"], expires_at=db.utcnow())
        db.session.add(worker)
        db.session.flush()
        db.session.add(GroupWorker(group_id=self.group.id, worker_id=worker.id, role=Role.Write))
        db.session.flush()
        return worker

    def new_task(self, tags: list[str] | None = None) -> ActiveTask:
        """A task being created: no state yet."""
        self.group.task_count += 1
        return ActiveTask(
            creator_id=self.admin.id,
            group_id=self.group.id,
            task_id=self.group.task_count,
            uuid=uuid_mod.uuid4(),
            labels=[],
            timeout=60,
            priority=0,
            spec={"args": ["true"]},
            tags=tags or ["gpu"],
            tags_key=tags_key(tags or ["gpu"]),
        )

    def task(self, state: TaskState, **columns: Any) -> ActiveTask:
        """An active task in `state`; held by the world's worker when the state is one a worker holds."""
        task = self.new_task()
        task.state = state
        for name, value in columns.items():
            setattr(task, name, value)
        db.session.add(task)
        db.session.flush()
        if state in HELD:
            task.assigned_worker, task.attempt, task.claimed_at = self.worker.id, 1, db.utcnow()
            self.worker.assigned_task_id = task.id
            db.session.flush()
        return task

    def buckets(self) -> set[str]:
        return set(db.session.scalars(sa.select(TaskBucket.tags_key)))

    def archived(self, task_uuid: uuid_mod.UUID) -> ArchivedTask | None:
        return db.session.scalar(sa.select(ArchivedTask).where(ArchivedTask.uuid == task_uuid))

    def active(self, task_uuid: uuid_mod.UUID) -> ActiveTask | None:
        return db.session.scalar(sa.select(ActiveTask).where(ActiveTask.uuid == task_uuid))


@pytest.fixture
def world(app):
    with app.app_context():
        yield World(int(app.config["MAX_TASK_LOSSES"]))
        db.session.rollback()


def _row_id(row: Transition) -> str:
    source = row.source.name if row.source is not None else "new"
    guard = f"[{row.when.__name__}]" if row.when is not None else ""
    return f"{source}-{row.event.name}{guard}-{row.target.name}"


def _columns_for(row: Transition, world: World) -> dict[str, Any]:
    """Task columns under which `row` is the first row of its (state, event) whose guard holds."""
    if row.when is lifecycle.cancel_requested:
        return {"cancel_requested": True}
    if row.when is lifecycle.lost_too_often:
        return {"lost_count": world.max_losses}
    policy = {"retries": 1, "on": ["exit", "lost"], "delay": 0, "backoff": "fixed"}
    if row.when in (lifecycle.retry_now, lifecycle.loss_retry_now):
        return {"retry_policy": policy}
    if row.when in (lifecycle.retry_later, lifecycle.loss_retry_later):
        return {"retry_policy": {**policy, "delay": 30}}
    if row.when is lifecycle.retries_loss:
        return {"retry_policy": {**policy, "retries": 0}}
    if row.when is lifecycle.retry_waiting:
        return {"retry_at": db.utcnow()}
    return {}


def _context_for(row: Transition, world: World) -> Context:
    if row.event is Event.Commit:
        return Context(worker=world.worker, result={"exit_status": 7, "msg": None})
    if row.event is Event.Progress:
        return Context(worker=world.worker, exec_state=TaskExecState.ExecSpawned)
    if row.event is Event.WorkerLost:
        return Context(worker=world.worker, reason="heartbeat timeout")
    return Context(worker=world.worker)


@pytest.mark.parametrize("row", TRANSITIONS, ids=_row_id)
def test_every_row_leads_to_its_target_with_its_effect(world, row):
    task = world.new_task() if row.source is None else world.task(row.source, **_columns_for(row, world))
    task_uuid, attempt, lost = task.uuid, task.attempt, task.lost_count

    moved = lifecycle.apply(task, row.event, _context_for(row, world))
    if row.source is None:  # as task creation does: the row is added once it has a state
        db.session.add(moved)
    db.session.flush()

    assert moved.state == row.target
    if row.archive:
        assert isinstance(moved, ArchivedTask) and world.active(task_uuid) is None
        archived = world.archived(task_uuid)
        assert archived is not None and archived.state == row.target
        if row.result is None:  # the agent's own result, the agent as reporter
            assert (archived.result, archived.exit_status) == ({"exit_status": 7, "msg": None}, 7)
            assert archived.reporter_uuid == world.worker.uuid
        else:
            assert (archived.result, archived.reporter_uuid) == (dict(row.result), None)
    else:
        assert isinstance(moved, ActiveTask) and world.archived(task_uuid) is None
        assert world.active(task_uuid) is moved
    _check_effect(world, row, moved, attempt=attempt, lost=lost)


def _check_effect(world: World, row: Transition, moved: Any, *, attempt: int, lost: int) -> None:
    """What each event does besides the state, as seen in the rows."""
    if row.target == TaskState.Ready:
        assert tags_key(["gpu"]) in world.buckets()
        assert (moved.assigned_worker, moved.claimed_at, moved.exec_state) == (None, None, None)
        assert not moved.cancel_requested
    if row.event is Event.Claim:
        assert (moved.assigned_worker, moved.attempt) == (world.worker.id, attempt + 1)
        assert moved.claimed_at is not None and world.worker.assigned_task_id == moved.id
    if row.event is Event.Progress:
        assert moved.exec_state == TaskExecState.ExecSpawned
    if row.source == TaskState.Running and row.event is Event.UserCancel:
        assert moved.cancel_requested
    if row.event in (Event.Commit, Event.WorkerLost):
        assert world.worker.assigned_task_id is None
    if row.event is Event.WorkerLost:
        assert moved.lost_count == lost + 1
        reasons = db.session.scalars(sa.select(TaskLoss.reason).where(TaskLoss.task_uuid == moved.uuid)).all()
        suffix = {
            lifecycle.cancel_requested: "; cancelled by user",
            lifecycle.lost_too_often: f"; cancelled after {world.max_losses + 1} lost workers",
            lifecycle.loss_retry_now: "; retry 1",
            lifecycle.loss_retry_later: "; retry 1",
            lifecycle.retries_loss: "; cancelled after 0 retries",
            None: "",
        }[row.when]
        assert reasons == [f"heartbeat timeout{suffix}"]
    if row.event in (Event.Finish, Event.AgentCancel, Event.Progress):
        assert world.worker.assigned_task_id == moved.id and moved.assigned_worker == world.worker.id


def test_guards_are_tried_in_table_order(world):
    """A lost task both cancelled by its user and at its last loss ends with the user's cancellation."""
    task = world.task(TaskState.Running, cancel_requested=True, lost_count=world.max_losses - 1)
    moved = lifecycle.apply(task, Event.WorkerLost, Context(worker=world.worker, reason="gone"))
    assert moved.result == {"exit_status": 0, "msg": "UserCancellation"}


def test_commit_releases_the_pending_downstream_task(world):
    up = world.task(TaskState.Finished)
    down = world.task(TaskState.Pending, upstream_task_uuid=up.uuid)
    up.downstream_task_uuid = down.uuid
    lifecycle.apply(up, Event.Commit, Context(worker=world.worker, result={"exit_status": 0, "msg": None}))
    assert world.active(down.uuid).state == TaskState.Ready
    assert tags_key(["gpu"]) in world.buckets()


_STATES: tuple[TaskState | None, ...] = (None, *TaskState)
_REFUSED = [(state, event) for state in _STATES for event in Event if not lifecycle.allows(state, event)]


@pytest.mark.parametrize(
    ("state", "event"), _REFUSED, ids=[f"{s.name if s else 'new'}-{e.name}" for s, e in _REFUSED]
)
def test_an_event_not_in_the_table_is_refused_and_changes_nothing(world, state, event):
    task = world.new_task() if state is None else world.task(state)
    before = {c.key: getattr(task, c.key) for c in sa.inspect(ActiveTask).column_attrs}
    holder_before = world.worker.assigned_task_id
    counts_before = _counts()

    with pytest.raises(DomainError) as refused:
        lifecycle.apply(task, event, Context(worker=world.worker, result={"exit_status": 0}, reason="x"))
    db.session.flush()

    assert isinstance(refused.value, InvalidRequest if event is Event.Commit else Conflict)
    allowed = " or ".join(s.name for s in lifecycle.sources(event)) or "new"
    current = state.name if state is not None else "new"
    expected = f"Task {task.uuid} can not be {event.value}: it is {current}, not {allowed}"
    assert refused.value.message == expected
    assert {c.key: getattr(task, c.key) for c in sa.inspect(ActiveTask).column_attrs} == before
    assert world.worker.assigned_task_id == holder_before
    assert _counts() == counts_before


def _counts() -> tuple[int, ...]:
    return tuple(
        db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
        for model in (ActiveTask, ArchivedTask, TaskLoss, TaskBucket)
    )


def test_the_table_names_each_pair_once_per_guard_and_ends_with_an_unguarded_row():
    """Within a (state, event), guarded rows come first and one unguarded row (if any) closes it."""
    pairs: dict[tuple[TaskState | None, Event], list[Transition]] = {}
    for row in TRANSITIONS:
        pairs.setdefault((row.source, row.event), []).append(row)
    for rows in pairs.values():
        assert all(r.when is not None for r in rows[:-1])
        assert len({r.when for r in rows}) == len(rows)


def test_sources_and_allows_read_the_table():
    assert lifecycle.sources(Event.UserCancel) == (TaskState.Pending, TaskState.Ready, TaskState.Running)
    assert lifecycle.sources(Event.Commit) == (TaskState.Finished, TaskState.Cancelled)
    assert lifecycle.allows(None, Event.Submit) and not lifecycle.allows(TaskState.Ready, Event.Submit)
    assert not lifecycle.allows(TaskState.Unknown, Event.WorkerLost)
