"""Hand a housekeeping job to Celery by name. Call it through db.after_commit so only committed work is sent."""

from __future__ import annotations

import logging

from flask import current_app

log = logging.getLogger(__name__)


def enqueue(name: str, *args) -> None:
    """Send job `name` (e.g. "jobs.storage.delete_pending"); without a broker the periodic run does the work."""
    celery = current_app.extensions.get("celery")
    if celery is None:
        return
    celery.send_task(name, args=list(args), ignore_result=True)
