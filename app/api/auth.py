"""Authentication routes: User authentication."""

from __future__ import annotations

from app.api._blueprint import Blueprint

blp = Blueprint("Authentication", __name__, description="User authentication")
