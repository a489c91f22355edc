"""Admin route for workers (on the Admin blueprint): shut any worker down."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Response

from app.api._blueprint import empty_response
from app.api.admin import blp
from app.schemas.workers import ShutdownOpArgs
from app.services import worker as worker_service


# The spec writes a trailing slash, upstream has none: both are served (ARCHITECTURE 6.7).
@blp.route("/admin/workers/<uuid:uuid>/", methods=["DELETE"], strict_slashes=False)
@blp.user_required(admin=True)
@blp.arguments(ShutdownOpArgs, location="query")
@blp.response(200)
@blp.errors(404)
def admin_shutdown_worker(args: dict[str, Any], uuid: UUID) -> Response:
    """Shutdown worker (Admin)"""
    worker_service.admin_shutdown_worker(worker_uuid=uuid, op=args["op"])
    return empty_response()
