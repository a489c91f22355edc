"""Explain routes (extension, tag Explain): why a task is not running (issue #14 item 3)."""

from __future__ import annotations

from uuid import UUID

from app.api._blueprint import Blueprint
from app.auth import current_user
from app.schemas.explain import TaskExplainResp
from app.services import explain as explain_service
from app.services.explain import Explanation

blp = Blueprint("Explain", __name__, description="Why a task is not running: the facts and a verdict")


@blp.route("/tasks/<uuid:uuid>/explain", methods=["GET"])
@blp.user_required()
@blp.response(200, TaskExplainResp)
@blp.errors(403, 404)
def explain_task(uuid: UUID) -> Explanation:
    """Explain why a task is (not) running"""
    return explain_service.explain_task(actor=current_user(), task_uuid=uuid)
