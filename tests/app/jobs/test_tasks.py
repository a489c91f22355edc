"""Job jobs.tasks.reclaim_overrun, called as a plain function."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import db
from app.jobs.tasks import reclaim_overrun_tasks
from app.models import ActiveTask, TaskLoss, TaskState, Worker
from tests import builders


@pytest.fixture(autouse=True)
def _coordinator_serving(app_ctx):
    """The coordinator has served for a day: silence is judged by the clock alone (see test_liveness.py)."""
    builders.coordinator_served()


def _state(task_uuid):
    db.session.rollback()
    return db.session.scalars(sa.select(ActiveTask).where(ActiveTask.uuid == task_uuid)).one()


def test_reclaim_task_past_timeout_plus_grace_requeues_it(app, app_ctx):
    grace = app.config["TASK_TIMEOUT_GRACE_SECONDS"]
    holder = builders.worker()
    overrun = builders.task(holder=holder, timeout=100, running_for=100 + grace + 5)

    assert reclaim_overrun_tasks() == 1

    task = _state(overrun.uuid)
    assert (task.state, task.assigned_worker, task.lost_count) == (TaskState.Ready, None, 1)
    assert db.session.scalars(sa.select(Worker).where(Worker.uuid == holder.uuid)).first() is None
    [loss] = db.session.scalars(sa.select(TaskLoss).where(TaskLoss.task_uuid == overrun.uuid)).all()
    assert (loss.worker_uuid, loss.reason) == (holder.uuid, "task overrun")


def test_reclaim_leaves_tasks_within_their_own_timeout(app, app_ctx):
    grace = app.config["TASK_TIMEOUT_GRACE_SECONDS"]
    long_task = builders.task(holder=builders.worker(), timeout=3600, running_for=1000)
    in_grace = builders.task(holder=builders.worker(), timeout=100, running_for=100 + grace - 5)
    queued = builders.task()

    assert reclaim_overrun_tasks() == 0

    assert _state(long_task.uuid).state == TaskState.Running
    assert _state(in_grace.uuid).state == TaskState.Running
    assert _state(queued.uuid).state == TaskState.Ready
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Worker)) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TaskLoss)) == 0


def test_reclaim_follows_configured_grace(app, app_ctx, monkeypatch):
    monkeypatch.setitem(app.config, "TASK_TIMEOUT_GRACE_SECONDS", 0)
    short = builders.task(holder=builders.worker(), timeout=10, running_for=12)
    kept = builders.task(holder=builders.worker(), timeout=10, running_for=8)

    assert reclaim_overrun_tasks() == 1
    assert _state(short.uuid).state == TaskState.Ready
    assert _state(kept.uuid).state == TaskState.Running
    assert reclaim_overrun_tasks() == 0
