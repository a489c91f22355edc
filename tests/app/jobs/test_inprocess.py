"""Standalone mode: the scheduled jobs run in a thread of the coordinator, with no broker."""

from __future__ import annotations

import sqlalchemy as sa

from app import db
from app.jobs import inprocess, schedule
from app.jobs.enqueue import enqueue
from app.models import Group, Worker
from tests import builders
from tests.helpers import wait_until


def _used(name: str) -> int:
    return builders.read(sa.select(Group.storage_used).where(Group.group_name == name))


def _workers() -> int:
    return builders.read(sa.select(sa.func.count()).select_from(Worker))


def test_runner_runs_every_scheduled_job_from_the_one_schedule(app):
    runner = inprocess.start(app, interval_scale=1.0)
    try:
        assert [job.task for job, _, _ in runner.jobs] == [job.task for job in schedule.JOBS]
    finally:
        runner.stop()
        app.extensions.pop("mito_jobs_runner", None)
    assert not runner.thread.is_alive()


def test_runner_reaps_silent_workers_and_repairs_quota(app, app_ctx):
    builders.coordinator_served()  # the reaper judges silence only while the coordinator serves
    builders.worker(silent_for=700)
    lab = builders.group("lab")
    lab.storage_used = 99
    db.session.commit()

    runner = inprocess.start(app, interval_scale=0.01)
    try:
        wait_until(lambda: _workers() == 0 and _used("lab") == 0, timeout=30, what="jobs run in process")
    finally:
        runner.stop()
        app.extensions.pop("mito_jobs_runner", None)


def test_enqueue_without_broker_triggers_the_inprocess_job(app, app_ctx):
    runner = inprocess.start(app, interval_scale=1.0)  # quota runs at start, then hourly
    try:
        wait_until(lambda: runner.runs["jobs.quota.recompute"] == 1, what="the run at start")
        lab = builders.group("lab")
        lab.storage_used = 7
        db.session.commit()
        enqueue("jobs.quota.recompute")
        # the runner counts a run once its function has returned, a moment after the commit _used() sees
        wait_until(lambda: runner.runs["jobs.quota.recompute"] >= 2, timeout=30, what="triggered quota run")
        assert _used("lab") == 0
        assert runner.runs["jobs.quota.recompute"] == 2
    finally:
        runner.stop()
        app.extensions.pop("mito_jobs_runner", None)
