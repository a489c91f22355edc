"""Admin routes: Administrative operations (admin users only)."""

from __future__ import annotations

from app.api._blueprint import Blueprint

blp = Blueprint("Admin", __name__, description="Administrative operations (admin users only)")
