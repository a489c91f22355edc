"""Batch deletion: remove the objects queued in storage_deletions from the store (services/deletion.py)."""

from __future__ import annotations

from app.jobs import job
from app.services import deletion


@job("jobs.storage.delete_pending", retry_on=(ConnectionError, OSError))
def delete_pending() -> None:
    """Remove the objects queued for deletion from the object store."""
    deletion.drain()
