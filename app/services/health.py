"""Service health."""

from __future__ import annotations


def check() -> dict:
    """Report the coordinator's health."""
    return {"status": "ok"}
