"""Tasks routes: Task submission and monitoring."""

from __future__ import annotations

from app.api._blueprint import Blueprint

blp = Blueprint("Tasks", __name__, description="Task submission and monitoring")
