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
    task: str  # the Celery task name, "jobs.<module>.<verb>"; inprocess.PLAIN names its plain function
    every: timedelta


JOBS: tuple[Job, ...] = (
    Job("jobs.workers.reap", timedelta(seconds=30)),
    Job("jobs.tasks.reclaim_overrun", timedelta(seconds=30)),
    Job("jobs.workers.expire", timedelta(minutes=5)),
    Job("jobs.storage.delete_pending", timedelta(minutes=1)),
    Job("jobs.quota.recompute", timedelta(hours=1)),
    Job("jobs.tasks.prune_buckets", timedelta(minutes=10)),
    Job("jobs.output.prune", timedelta(minutes=1)),
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
