"""Hand a housekeeping job to Celery by name; callers use db.after_commit so only committed work is sent."""

from __future__ import annotations

import logging

from flask import current_app
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


def enqueue(name: str, *args) -> None:
    """Send job `name` (e.g. "jobs.storage.delete_pending"); never blocks the API on a broker outage.

    Without a broker, an in-process runner (standalone mode) is asked to run the job soon. When the broker
    is unreachable the send is dropped and logged: the periodic schedule does the same work later.
    """
    runner = current_app.extensions.get("mito_jobs_runner")
    if runner is not None:
        runner.trigger(name)
        return
    celery = current_app.extensions.get("celery")
    if celery is None:
        return
    try:
        celery.send_task(name, args=list(args), ignore_result=True, retry=False)
    except (BrokerError, RedisError, OSError) as exc:
        log.warning("broker unreachable, job %s left to the periodic schedule: %s", name, exc)
