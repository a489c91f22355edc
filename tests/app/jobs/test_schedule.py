"""The one schedule and the Celery settings built from the coordinator's settings."""

from __future__ import annotations

from datetime import timedelta

from app.jobs import schedule
from app.jobs.config import celery_config
from app.jobs.inprocess import PLAIN


def test_beat_schedule_lists_every_job_with_expiry():
    beat = schedule.beat_schedule({"JOBS_INTERVAL_SCALE": "1"})
    assert set(beat) == {job.task for job in schedule.JOBS}
    for job in schedule.JOBS:
        entry = beat[job.task]
        assert entry["task"] == job.task and job.task.startswith("jobs.")
        assert entry["schedule"] == job.every
        assert entry["options"]["expires"] == job.every.total_seconds()


def test_interval_scale_shortens_every_interval_down_to_a_floor():
    beat = schedule.beat_schedule({"JOBS_INTERVAL_SCALE": "0.001"})
    assert beat["jobs.quota.recompute"]["schedule"] == timedelta(seconds=3.6)
    assert beat["jobs.workers.reap"]["schedule"] == schedule.MIN_INTERVAL


def test_every_scheduled_job_names_a_plain_function():
    for job in schedule.JOBS:
        assert callable(PLAIN[job.task])


def test_worker_config_uses_the_broker_and_producer_config_fails_fast(tmp_path):
    settings = {
        "BROKER_URL": "redis://127.0.0.1:6379/3",
        "DATA_DIR": str(tmp_path),
        "JOBS_INTERVAL_SCALE": "1",
    }
    worker = celery_config(settings, producer=False)
    producer = celery_config(settings, producer=True)
    assert worker["broker_url"] == producer["broker_url"] == "redis://127.0.0.1:6379/3"
    assert worker["task_ignore_result"] is True
    assert set(worker["beat_schedule"]) == {job.task for job in schedule.JOBS}
    assert producer["task_publish_retry"] is False
    assert producer["broker_transport_options"]["socket_connect_timeout"] <= 1


def test_without_broker_the_worker_uses_a_file_broker_in_the_data_dir(tmp_path):
    conf = celery_config({"BROKER_URL": None, "DATA_DIR": str(tmp_path)}, producer=False)
    assert conf["broker_url"] == "filesystem://"
    assert conf["broker_transport_options"]["data_folder_in"] == str(tmp_path / "broker")
    assert (tmp_path / "broker" / "processed").is_dir()
