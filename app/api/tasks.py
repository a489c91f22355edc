"""Tasks routes: Task submission and monitoring."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Response

from app.api._blueprint import Blueprint, empty_response
from app.auth import current_user
from app.models import ActiveTask
from app.schemas import tasks as s
from app.services import rerun as rerun_service
from app.services import task as task_service
from app.services import task_query
from app.services.rerun import Rerun
from app.services.task import CancelledByFilter, CancelledByUuids, Filters, TaskDetail, TaskReq
from app.services.task_query import TaskPage

blp = Blueprint("Tasks", __name__, description="Task submission and monitoring")


@blp.route("/tasks", methods=["POST"])
@blp.user_required()
@blp.arguments(s.SubmitTaskReq)
@blp.response(200, s.SubmitTaskResp)
@blp.errors(403)
def submit_task(req: TaskReq) -> ActiveTask:
    """Submit task"""
    return task_service.submit_task(actor=current_user(), req=req)


@blp.route("/tasks/submit", methods=["POST"])
@blp.user_required()
@blp.arguments(s.TasksSubmitReq)
@blp.response(200, s.TasksSubmitResp)
@blp.errors(400, 403)
def batch_submit_tasks(req: dict[str, Any]) -> dict[str, list[ActiveTask | str]]:
    """Batch submit tasks"""
    return {"results": task_service.batch_submit_tasks(actor=current_user(), items=s.load_each(req["tasks"]))}


@blp.route("/tasks/query", methods=["POST"])
@blp.reads_in_autocommit
@blp.user_required()
@blp.arguments(s.TasksQueryReq)
@blp.response(200, s.TasksQueryResp)
def query_tasks(filters: Filters) -> TaskPage:
    """Query tasks"""
    return task_query.query_tasks(actor=current_user(), filters=filters)


@blp.route("/tasks/cancel", methods=["POST"])
@blp.user_required()
@blp.arguments(s.TasksCancelByFilterReq)
@blp.response(200, s.TasksCancelByFilterResp)
@blp.errors(403)
def cancel_tasks_by_filter(filters: Filters) -> CancelledByFilter:
    """Batch cancel tasks"""
    return task_service.cancel_tasks_by_filter(actor=current_user(), filters=filters)


@blp.route("/tasks/cancel/list", methods=["POST"])
@blp.user_required()
@blp.arguments(s.TasksCancelByUuidsReq)
@blp.response(200, s.TasksCancelByUuidsResp)
@blp.errors(400, 403)
def cancel_tasks_by_uuids(req: dict[str, Any]) -> CancelledByUuids:
    """Batch cancel tasks by UUIDs"""
    return task_service.cancel_tasks_by_uuids(actor=current_user(), uuids=req["uuids"])


@blp.route("/tasks/<uuid:uuid>", methods=["GET"])
@blp.user_required()
@blp.response(200, s.TaskQueryResp)
@blp.errors(403, 404)
def get_task(uuid: UUID) -> TaskDetail:
    """Get task information"""
    return task_service.get_task(actor=current_user(), task_uuid=uuid)


@blp.route("/tasks/<uuid:uuid>", methods=["PUT"])
@blp.user_required()
@blp.arguments(s.ChangeTaskReq)
@blp.response(200)
@blp.errors(403, 404, 409)
def update_task(changes: dict[str, Any], uuid: UUID) -> Response:
    """Update task"""
    task_service.update_task(actor=current_user(), task_uuid=uuid, changes=changes)
    return empty_response()


@blp.route("/tasks/<uuid:uuid>", methods=["DELETE"])
@blp.user_required()
@blp.response(200)
@blp.errors(403, 404, 409)
def cancel_task(uuid: UUID) -> Response:
    """Cancel task"""
    task_service.cancel_task(actor=current_user(), task_uuid=uuid)
    return empty_response()


@blp.route("/tasks/<uuid:uuid>/labels", methods=["PUT"])
@blp.user_required()
@blp.arguments(s.UpdateTaskLabelsReq)
@blp.response(200)
@blp.errors(403, 404)
def update_task_labels(req: dict[str, Any], uuid: UUID) -> Response:
    """Update task labels"""
    task_service.update_task_labels(actor=current_user(), task_uuid=uuid, labels=req["labels"])
    return empty_response()


@blp.route("/tasks/<uuid:uuid>/retry", methods=["POST"])
@blp.user_required()
@blp.response(200, s.SubmitTaskResp)
@blp.errors(403, 404, 409)
def retry_task(uuid: UUID) -> ActiveTask:
    """Re-run a committed task as a new attempt (extension)"""
    return rerun_service.retry_task(actor=current_user(), task_uuid=uuid)


@blp.route("/tasks/retry", methods=["POST"])
@blp.user_required()
@blp.arguments(s.TasksRetryByFilterReq)
@blp.response(200, s.TasksRetryByFilterResp)
@blp.errors(403, 404)
def retry_tasks_by_filter(filters: Filters) -> Rerun:
    """Re-run the committed tasks matching a filter (extension)"""
    return rerun_service.retry_tasks_by_filter(actor=current_user(), filters=filters)
