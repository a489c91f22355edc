"""Quota accounting: repair drift between storage_used and the object rows (services/quota.py)."""

from __future__ import annotations

from app.jobs import job
from app.services import quota


@job("jobs.quota.recompute")
def recompute() -> None:
    """Recompute storage_used for every group and repair drift."""
    quota.recompute_storage_used()
