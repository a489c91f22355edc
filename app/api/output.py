"""Live-output routes (extension, tag LiveOutput): agents ship chunks, followers read the tail (issue #14)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Response

from app.api._blueprint import Blueprint, empty_response
from app.auth import current_user, current_worker
from app.schemas import output as s
from app.services import output as output_service
from app.services.output import OutputPage

blp = Blueprint("LiveOutput", __name__, description="Live output of running tasks: shipped, kept, followed")


@blp.route("/workers/tasks/output", methods=["POST"])
@blp.worker_required
@blp.arguments(s.ShipOutputReq)
@blp.response(200)
@blp.errors(404)
def ship_task_output(req: dict[str, Any]) -> Response:
    """Ship output chunks of the task this worker holds"""
    output_service.ship_output(worker=current_worker(), task_id=req["id"], chunks=req["chunks"])
    return empty_response()


@blp.route("/tasks/<uuid:uuid>/output", methods=["GET"])
@blp.user_required()
@blp.arguments(s.OutputQueryArgs, location="query")
@blp.response(200, s.TaskOutputResp)
@blp.errors(403, 404)
def get_task_output(args: dict[str, Any], uuid: UUID) -> OutputPage:
    """Read a task's live output after a cursor, waiting for more while it runs"""
    return output_service.read_output(actor=current_user(), task_uuid=uuid, **args)
