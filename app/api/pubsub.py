"""Pubsub routes: Redis connection information."""

from __future__ import annotations

from app.api._blueprint import Blueprint

blp = Blueprint("Pubsub", __name__, description="Redis connection information")
