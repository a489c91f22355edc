"""Users routes: User management."""

from __future__ import annotations

from app.api._blueprint import Blueprint

blp = Blueprint("Users", __name__, description="User management")
