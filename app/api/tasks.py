"""Tasks routes: Task submission and monitoring."""

from __future__ import annotations

from flask import Response

from app.api._blueprint import Blueprint
from app.auth import current_user
from app.schemas import tasks as s
from app.services import task as task_service

blp = Blueprint("Tasks", __name__, description="Task submission and monitoring")


def _ok() -> Response:
    return Response(status=200)


@blp.route("/tasks", methods=["POST"])
@blp.user_required()
@blp.arguments(s.SubmitTaskReq)
@blp.response(200, s.SubmitTaskResp)
@blp.alt_response(403, description="Forbidden")
def submit_task(req):
    """Submit task"""
    task = task_service.submit_task(actor=current_user(), req=req)
    return {"task_id": task.task_id, "uuid": task.uuid}


@blp.route("/tasks/submit", methods=["POST"])
@blp.user_required()
@blp.arguments(s.TasksSubmitReq)
@blp.response(200, s.TasksSubmitResp)
@blp.alt_response(400, description="Bad request")
@blp.alt_response(403, description="Forbidden")
def batch_submit_tasks(req):
    """Batch submit tasks"""
    return {"results": task_service.batch_submit_tasks(actor=current_user(), items=s.load_each(req["tasks"]))}


@blp.route("/tasks/query", methods=["POST"])
@blp.user_required()
@blp.arguments(s.TasksQueryReq)
@blp.response(200, s.TasksQueryResp)
def query_tasks(filters):
    """Query tasks"""
    return task_service.query_tasks(actor=current_user(), filters=filters)


@blp.route("/tasks/cancel", methods=["POST"])
@blp.user_required()
@blp.arguments(s.TasksCancelByFilterReq)
@blp.response(200, s.TasksCancelByFilterResp)
@blp.alt_response(403, description="Forbidden")
def cancel_tasks_by_filter(filters):
    """Batch cancel tasks"""
    return task_service.cancel_tasks_by_filter(actor=current_user(), filters=filters)


@blp.route("/tasks/cancel/list", methods=["POST"])
@blp.user_required()
@blp.arguments(s.TasksCancelByUuidsReq)
@blp.response(200, s.TasksCancelByUuidsResp)
@blp.alt_response(400, description="Bad request")
@blp.alt_response(403, description="Forbidden")
def cancel_tasks_by_uuids(req):
    """Batch cancel tasks by UUIDs"""
    return task_service.cancel_tasks_by_uuids(actor=current_user(), uuids=req["uuids"])


@blp.route("/tasks/<uuid:uuid>", methods=["GET"])
@blp.user_required()
@blp.response(200, s.TaskQueryResp)
@blp.alt_response(403, description="Forbidden")
@blp.alt_response(404, description="Not found")
def get_task(uuid):
    """Get task information"""
    return task_service.get_task(actor=current_user(), task_uuid=uuid)


@blp.route("/tasks/<uuid:uuid>", methods=["PUT"])
@blp.user_required()
@blp.arguments(s.ChangeTaskReq)
@blp.response(200)
@blp.alt_response(403, description="Forbidden")
@blp.alt_response(404, description="Not found")
@blp.alt_response(409, description="Conflict")
def update_task(changes, uuid):
    """Update task"""
    task_service.update_task(actor=current_user(), task_uuid=uuid, changes=changes)
    return _ok()


@blp.route("/tasks/<uuid:uuid>", methods=["DELETE"])
@blp.user_required()
@blp.response(200)
@blp.alt_response(403, description="Forbidden")
@blp.alt_response(404, description="Not found")
@blp.alt_response(409, description="Conflict")
def cancel_task(uuid):
    """Cancel task"""
    task_service.cancel_task(actor=current_user(), task_uuid=uuid)
    return _ok()


@blp.route("/tasks/<uuid:uuid>/labels", methods=["PUT"])
@blp.user_required()
@blp.arguments(s.UpdateTaskLabelsReq)
@blp.response(200)
@blp.alt_response(403, description="Forbidden")
@blp.alt_response(404, description="Not found")
def update_task_labels(req, uuid):
    """Update task labels"""
    task_service.update_task_labels(actor=current_user(), task_uuid=uuid, labels=req["labels"])
    return _ok()
