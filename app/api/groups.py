"""Groups routes: Group management and file attachments."""

from __future__ import annotations

from app.api._blueprint import Blueprint

blp = Blueprint("Groups", __name__, description="Group management and file attachments")
