"""The reaper and the overrun sweep judge silence against the coordinator's liveness (plain functions)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app import db
from app.jobs.tasks import reclaim_overrun_tasks
from app.jobs.workers import reap_silent_workers, remove_expired_workers
from app.models import ActiveTask, RemovedWorker, TaskState, Worker
from app.services import worker as worker_service
from mito.vocab import WorkerRemoval
from tests import builders


def _workers() -> int:
    return builders.read(sa.select(sa.func.count()).select_from(Worker))


def test_no_worker_is_reaped_while_the_coordinator_is_down(app, app_ctx):
    now = db.utcnow()
    builders.worker(silent_for=3600)
    # the last mark is an hour old: the API has been down since, so the silence is the coordinator's
    builders.coordinator_served(since=now - timedelta(days=1), until=now - timedelta(hours=1))
    assert reap_silent_workers(now=now) == 0
    assert _workers() == 1


def test_no_worker_is_reaped_until_the_coordinator_has_served_a_whole_timeout_again(app, app_ctx):
    timeout = app.config["HEARTBEAT_TIMEOUT_SECONDS"]
    back = db.utcnow()
    builders.worker(silent_for=3600)  # it heartbeated last before the outage
    builders.coordinator_served(since=back, until=back)
    assert reap_silent_workers(now=back + timedelta(seconds=timeout - 1)) == 0
    builders.coordinator_served(since=back, until=back + timedelta(seconds=timeout + 1))
    assert reap_silent_workers(now=back + timedelta(seconds=timeout + 1)) == 1
    assert _workers() == 0


def test_silence_is_counted_only_up_to_the_last_mark(app, app_ctx):
    """The API stopped after its last mark: until the gap shows, the time since then is nobody's silence."""
    timeout = app.config["HEARTBEAT_TIMEOUT_SECONDS"]
    last_mark = db.utcnow()
    builders.worker(silent_for=timeout / 2)  # it heartbeated half a timeout before the API stopped
    # a gap shows only after a whole timeout without a mark: it is not visible yet
    builders.coordinator_served(until=last_mark, outage_after=timeout)
    assert reap_silent_workers(now=last_mark + timedelta(seconds=timeout * 0.75)) == 0
    assert _workers() == 1
    # silent for a whole timeout before the last mark: reaped, even though no mark came after
    builders.coordinator_served(until=last_mark + timedelta(seconds=timeout), outage_after=timeout)
    assert reap_silent_workers(now=last_mark + timedelta(seconds=timeout + 1)) == 1


def test_no_worker_is_reaped_on_a_database_that_was_never_served(app_ctx):
    builders.worker(silent_for=3600)
    assert reap_silent_workers() == 0


def test_an_overrun_task_is_left_to_its_agent_for_a_grace_period_after_an_outage(app, app_ctx):
    grace = app.config["TASK_TIMEOUT_GRACE_SECONDS"]
    back = db.utcnow()
    task = builders.task(holder=builders.worker(), timeout=60, running_for=3600)
    builders.coordinator_served(since=back, until=back)
    assert reclaim_overrun_tasks(now=back + timedelta(seconds=grace - 1)) == 0
    builders.coordinator_served(since=back, until=back + timedelta(seconds=grace + 1))
    assert reclaim_overrun_tasks(now=back + timedelta(seconds=grace + 1)) == 1
    assert builders.read(sa.select(ActiveTask.state).where(ActiveTask.uuid == task.uuid)) == TaskState.Ready


def test_the_reason_of_a_removal_is_kept_until_the_token_expires(app_ctx):
    builders.coordinator_served()
    short, long = (
        builders.worker(silent_for=3600, expires_in=60),
        builders.worker(silent_for=3600, expires_in=7200),
    )
    assert reap_silent_workers() == 2
    reasons = builders.read_all(sa.select(RemovedWorker.reason).order_by(RemovedWorker.expires_at))
    assert reasons == [WorkerRemoval.HeartbeatTimeout] * 2
    assert remove_expired_workers(now=db.utcnow() + timedelta(seconds=120)) == 0
    assert builders.read_all(sa.select(RemovedWorker.uuid)) == [long.uuid]
    assert short.uuid != long.uuid


def test_an_expired_worker_is_removed_and_forgotten_in_one_run_when_its_token_is_past(app_ctx):
    expired = builders.worker(expires_in=-1)
    assert remove_expired_workers() == 1
    # removed with reason "lifetime expired", then forgotten at once: its token has already expired
    assert builders.read_all(sa.select(RemovedWorker.uuid).where(RemovedWorker.uuid == expired.uuid)) == []
    assert worker_service.forget_removed_workers(now=db.utcnow()) == 0
