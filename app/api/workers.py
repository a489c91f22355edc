"""Workers routes: Worker registration and management."""

from __future__ import annotations

from app.api._blueprint import Blueprint

blp = Blueprint("Workers", __name__, description="Worker registration and management")
