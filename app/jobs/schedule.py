"""The one periodic schedule: Celery beat and the in-process runner (standalone mode) both read JOBS.

Every job selects its work by state and time, so a missed or doubled run is harmless. MITO_JOBS_INTERVAL_SCALE
multiplies every interval (tests use short ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

MIN_INTERVAL = timedelta(milliseconds=200)


@dataclass(frozen=True)
class Job:
    task: str  # the Celery task name, "jobs.<module>.<verb>"
    function: str  # the plain function, "module:name", run inside an app context
    every: timedelta


JOBS: tuple[Job, ...] = (
    Job("jobs.workers.reap", "app.jobs.workers:reap_silent_workers", timedelta(seconds=30)),
    Job("jobs.tasks.reclaim_overrun", "app.jobs.tasks:reclaim_overrun_tasks", timedelta(seconds=30)),
    Job("jobs.workers.expire", "app.jobs.workers:remove_expired_workers", timedelta(minutes=5)),
    Job("jobs.storage.delete_pending", "app.jobs.storage:delete_pending_objects", timedelta(minutes=1)),
    Job("jobs.quota.recompute", "app.jobs.quota:recompute_storage_used", timedelta(hours=1)),
)


def interval_scale(settings: Mapping[str, Any]) -> float:
    return float(settings.get("JOBS_INTERVAL_SCALE") or 1.0)


def scaled(job: Job, scale: float) -> timedelta:
    return max(job.every * scale, MIN_INTERVAL)


def beat_schedule(settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Celery beat_schedule: each job every interval; a run not started within one interval expires."""
    scale = interval_scale(settings)
    return {
        job.task: {
            "task": job.task,
            "schedule": scaled(job, scale),
            "options": {"expires": scaled(job, scale).total_seconds()},
        }
        for job in JOBS
    }
