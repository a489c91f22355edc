"""Workers routes: Worker registration and management."""

from __future__ import annotations

from flask import Response

from app.api._blueprint import Blueprint
from app.auth import current_user, current_worker
from app.schemas import workers as s
from app.services import report as report_service
from app.services import worker as worker_service

blp = Blueprint("Workers", __name__, description="Worker registration and management")


def _ok() -> Response:
    return Response(status=200)


@blp.route("/workers", methods=["POST"])
@blp.user_required()
@blp.arguments(s.RegisterWorkerReq)
@blp.response(200, s.RegisterWorkerResp)
def register_worker(req):
    """Register worker"""
    return worker_service.register_worker(actor=current_user(), **req)


@blp.route("/workers", methods=["DELETE"])
@blp.worker_required
@blp.response(200)
def unregister_worker():
    """Unregister worker"""
    worker_service.unregister_worker(worker=current_worker())
    return _ok()


@blp.route("/workers/query", methods=["POST"])
@blp.user_required()
@blp.arguments(s.WorkersQueryReq)
@blp.response(200, s.WorkersQueryResp)
def query_workers(filters):
    """Query workers"""
    return worker_service.query_workers(actor=current_user(), filters=filters)


@blp.route("/workers/shutdown", methods=["POST"])
@blp.user_required()
@blp.arguments(s.WorkersShutdownByFilterReq)
@blp.response(200, s.WorkersShutdownByFilterResp)
@blp.alt_response(403, description="Forbidden")
def shutdown_workers_by_filter(req):
    """Batch shutdown workers"""
    op = req.pop("op")
    return worker_service.shutdown_workers_by_filter(actor=current_user(), filters=req, op=op)


@blp.route("/workers/shutdown/list", methods=["POST"])
@blp.user_required()
@blp.arguments(s.WorkersShutdownByUuidsReq)
@blp.response(200, s.WorkersShutdownByUuidsResp)
@blp.alt_response(400, description="Bad request")
@blp.alt_response(403, description="Forbidden")
def shutdown_workers_by_uuids(req):
    """Batch shutdown workers by UUIDs"""
    return worker_service.shutdown_workers_by_uuids(actor=current_user(), uuids=req["uuids"], op=req["op"])


@blp.route("/workers/heartbeat", methods=["POST"])
@blp.worker_required
@blp.response(200, s.HeartbeatResp)
def worker_heartbeat():
    """Worker heartbeat"""
    return worker_service.heartbeat(worker=current_worker())


@blp.route("/workers/tasks", methods=["GET"])
@blp.worker_required
@blp.response(200, s.WorkerTaskResp)
@blp.alt_response(204, description="No tasks available")
def fetch_task():
    """Fetch task for worker"""
    task = report_service.fetch_task(worker=current_worker())
    return task if task is not None else Response(status=204)


@blp.route("/workers/tasks", methods=["POST"])
@blp.worker_required
@blp.arguments(s.ReportTaskReq)
@blp.response(200, s.ReportTaskResp)
@blp.alt_response(400, description="Bad request")
@blp.alt_response(404, description="The worker does not hold this task")
def report_task(req):
    """Report task status"""
    return report_service.report_task(worker=current_worker(), task_id=req["id"], op=req["op"])


@blp.route("/workers/tasks/<uuid:uuid>", methods=["GET"])
@blp.worker_required
@blp.response(200, s.WorkerTaskStateResp)
@blp.alt_response(404, description="Not found")
def get_task_for_worker(uuid):
    """Get task details for worker"""
    return report_service.get_task_for_worker(worker=current_worker(), task_uuid=uuid)


@blp.route("/workers/<uuid:uuid>", methods=["GET"])
@blp.user_required()
@blp.response(200, s.WorkerQueryResp)
@blp.alt_response(403, description="Forbidden")
@blp.alt_response(404, description="Not found")
def get_worker(uuid):
    """Get worker information"""
    return worker_service.get_worker(actor=current_user(), worker_uuid=uuid)


@blp.route("/workers/<uuid:uuid>", methods=["DELETE"])
@blp.user_required()
@blp.arguments(s.ShutdownOpArgs, location="query")
@blp.response(200)
@blp.alt_response(403, description="Forbidden")
@blp.alt_response(404, description="Not found")
def shutdown_worker(args, uuid):
    """Shutdown worker"""
    worker_service.shutdown_worker(actor=current_user(), worker_uuid=uuid, op=args["op"])
    return _ok()


@blp.route("/workers/<uuid:uuid>/tags", methods=["PUT"])
@blp.user_required()
@blp.arguments(s.ReplaceWorkerTagsReq)
@blp.response(200)
@blp.alt_response(403, description="Forbidden")
@blp.alt_response(404, description="Not found")
def update_worker_tags(req, uuid):
    """Update worker tags"""
    worker_service.update_worker_tags(actor=current_user(), worker_uuid=uuid, tags=req["tags"])
    return _ok()


@blp.route("/workers/<uuid:uuid>/labels", methods=["PUT"])
@blp.user_required()
@blp.arguments(s.ReplaceWorkerLabelsReq)
@blp.response(200)
@blp.alt_response(403, description="Forbidden")
@blp.alt_response(404, description="Not found")
def update_worker_labels(req, uuid):
    """Update worker labels"""
    worker_service.update_worker_labels(actor=current_user(), worker_uuid=uuid, labels=req["labels"])
    return _ok()


@blp.route("/workers/<uuid:uuid>/groups", methods=["PUT"])
@blp.user_required()
@blp.arguments(s.UpdateGroupWorkerRoleReq)
@blp.response(200)
@blp.alt_response(403, description="Forbidden")
@blp.alt_response(404, description="Not found")
def update_worker_groups(req, uuid):
    """Update worker group roles"""
    worker_service.update_worker_groups(actor=current_user(), worker_uuid=uuid, relations=req["relations"])
    return _ok()


@blp.route("/workers/<uuid:uuid>/groups", methods=["DELETE"])
@blp.user_required()
@blp.arguments(s.RemoveGroupWorkerRoleParams, location="query")
@blp.response(200)
@blp.alt_response(403, description="Forbidden")
@blp.alt_response(404, description="Not found")
def remove_worker_groups_params(args, uuid):
    """Remove worker group roles (query params)"""
    worker_service.remove_worker_groups(actor=current_user(), worker_uuid=uuid, groups=args["groups"])
    return _ok()
