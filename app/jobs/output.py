"""Live output: delete the table tails of ended tasks (services/output_store.py; Redis tails expire)."""

from __future__ import annotations

from app.jobs import job
from app.services import output_store


@job("jobs.output.prune")
def prune() -> None:
    """Delete the output chunks of archived tasks once their grace has passed."""
    output_store.prune()
