"""Jobs jobs.workers.reap and jobs.workers.expire, called as plain functions."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from app import db
from app.jobs.workers import reap_silent_workers, remove_expired_workers
from app.models import ActiveTask, ArchivedTask, TaskLoss, TaskState, Worker
from tests import builders


@pytest.fixture(autouse=True)
def _coordinator_serving(app_ctx):
    """The coordinator has served for a day: silence is judged by the clock alone (see test_liveness.py)."""
    builders.coordinator_served()


def _worker_uuids() -> set:
    db.session.rollback()
    return set(db.session.scalars(sa.select(Worker.uuid)))


def _active(task_uuid) -> ActiveTask | None:
    db.session.rollback()
    return db.session.scalars(sa.select(ActiveTask).where(ActiveTask.uuid == task_uuid)).first()


def _losses(task_uuid) -> list[TaskLoss]:
    return list(
        db.session.scalars(sa.select(TaskLoss).where(TaskLoss.task_uuid == task_uuid).order_by(TaskLoss.id))
    )


def test_reap_silent_worker_requeues_its_task(app_ctx):
    silent, alive = builders.worker(silent_for=601), builders.worker(silent_for=10)
    silent_uuid, alive_uuid = silent.uuid, alive.uuid
    task = builders.task(holder=silent, running_for=30)

    assert reap_silent_workers() == 1

    assert _worker_uuids() == {alive_uuid}
    requeued = _active(task.uuid)
    assert requeued.state == TaskState.Ready
    assert requeued.assigned_worker is None
    assert requeued.lost_count == 1
    [loss] = _losses(task.uuid)
    assert (loss.worker_uuid, loss.reason) == (silent_uuid, "heartbeat timeout")


def test_reap_with_nothing_silent_changes_nothing(app_ctx):
    alive = builders.worker(silent_for=599)
    task = builders.task(holder=alive)

    assert reap_silent_workers() == 0

    assert _worker_uuids() == {alive.uuid}
    assert _active(task.uuid).state == TaskState.Running
    assert _losses(task.uuid) == []


def test_reap_twice_is_idempotent(app_ctx):
    builders.worker(silent_for=700)
    builders.worker(silent_for=900)

    assert reap_silent_workers() == 2
    assert reap_silent_workers() == 0
    assert _worker_uuids() == set()


def test_reap_follows_configured_heartbeat_timeout(app, app_ctx, monkeypatch):
    monkeypatch.setitem(app.config, "HEARTBEAT_TIMEOUT_SECONDS", 5)
    quiet = builders.worker(silent_for=6)
    kept = builders.worker(silent_for=1)

    assert reap_silent_workers() == 1
    assert _worker_uuids() == {kept.uuid}
    assert quiet.uuid not in _worker_uuids()


def test_task_lost_max_times_ends_cancelled_with_reason(app, app_ctx):
    limit = int(app.config["MAX_TASK_LOSSES"])
    task = builders.task(holder=builders.worker(silent_for=601), lost_count=limit)
    # the earlier losses, as remove_worker recorded them ("lost more than limit times" ends it)
    for _ in range(limit):
        db.session.add(TaskLoss(task_uuid=task.uuid, worker_uuid=task.uuid, reason="heartbeat timeout"))
    db.session.commit()

    assert reap_silent_workers() == 1

    assert _active(task.uuid) is None
    archived = db.session.scalars(sa.select(ArchivedTask).where(ArchivedTask.uuid == task.uuid)).one()
    assert archived.state == TaskState.Cancelled
    assert archived.lost_count == limit + 1
    losses = _losses(task.uuid)
    assert len(losses) == limit + 1
    assert "heartbeat timeout" in losses[-1].reason


def test_task_lost_fewer_times_cycles_back_to_ready(app, app_ctx):
    limit = int(app.config["MAX_TASK_LOSSES"])
    task = builders.task(holder=builders.worker(silent_for=601), lost_count=limit - 1)

    assert reap_silent_workers() == 1

    assert _active(task.uuid).state == TaskState.Ready
    assert db.session.scalars(sa.select(ArchivedTask)).first() is None


def test_remove_expired_workers_only_removes_past_lifetime(app_ctx):
    expired = builders.worker(expires_in=-1)
    valid = builders.worker(expires_in=60)
    task = builders.task(holder=expired)

    assert remove_expired_workers() == 1

    assert _worker_uuids() == {valid.uuid}
    assert _active(task.uuid).state == TaskState.Ready
    [loss] = _losses(task.uuid)
    assert loss.reason == "lifetime expired"
    assert remove_expired_workers() == 0


def test_two_reapers_at_once_remove_each_worker_once(app, app_ctx):
    """PostgreSQL: SKIP LOCKED row locks; SQLite: its single-writer lock."""
    tasks = [builders.task(holder=builders.worker(silent_for=700)) for _ in range(20)]
    results: list[int] = []
    errors: list[BaseException] = []

    def reap():
        with app.app_context():
            try:
                results.append(reap_silent_workers())
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=reap) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sum(results) == 20
    assert _worker_uuids() == set()
    for task in tasks:
        assert _active(task.uuid).lost_count == 1
        assert len(_losses(task.uuid)) == 1
