"""Batch deletion: remove the objects queued in storage_deletions from the store, with retries."""

from __future__ import annotations

import logging

from app.jobs import job
from app.services import storage as storage_service

log = logging.getLogger(__name__)

BATCH = 1000


def delete_pending_objects(*, limit: int = BATCH) -> int:
    """Work through the deletion queue until it is empty; returns the number of objects removed."""
    total = 0
    while True:
        done = storage_service.process_pending_deletions(limit=limit)
        total += done
        if done < limit:
            break
    if total:
        log.info("storage: deleted %d object(s)", total)
    return total


@job("jobs.storage.delete_pending", retry_on=(ConnectionError, OSError))
def delete_pending() -> None:
    """Remove the objects queued for deletion from the object store."""
    delete_pending_objects()
