"""Workers routes: Worker registration and management."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Response

from app.api._blueprint import Blueprint, empty_response
from app.auth import current_user, current_worker, current_worker_identity
from app.models import ActiveTask, ArchivedTask
from app.schemas import workers as s
from app.services import agent_protocol
from app.services import worker as worker_service
from app.services.agent_protocol import BatchAnswer, ReportAnswer, WatchedTask
from app.services.claim_sql import Claimed
from app.services.worker import (
    Filters,
    HeartbeatAnswer,
    Registration,
    ShutdownByFilter,
    ShutdownByUuids,
    WorkerDetail,
    WorkerPage,
)

blp = Blueprint("Workers", __name__, description="Worker registration and management")


@blp.route("/workers", methods=["POST"])
@blp.user_required()
@blp.arguments(s.RegisterWorkerReq)
@blp.response(200, s.RegisterWorkerResp)
def register_worker(req: dict[str, Any]) -> Registration:
    """Register worker"""
    return worker_service.register_worker(actor=current_user(), **req)


@blp.route("/workers", methods=["DELETE"])
@blp.worker_required
@blp.response(200)
def unregister_worker() -> Response:
    """Unregister worker"""
    worker_service.unregister_worker(worker=current_worker())
    return empty_response()


@blp.route("/workers/query", methods=["POST"])
@blp.user_required()
@blp.arguments(s.WorkersQueryReq)
@blp.response(200, s.WorkersQueryResp)
def query_workers(filters: Filters) -> WorkerPage:
    """Query workers"""
    return worker_service.query_workers(actor=current_user(), filters=filters)


@blp.route("/workers/shutdown", methods=["POST"])
@blp.user_required()
@blp.arguments(s.WorkersShutdownByFilterReq)
@blp.response(200, s.WorkersShutdownByFilterResp)
@blp.errors(403)
def shutdown_workers_by_filter(req: dict[str, Any]) -> ShutdownByFilter:
    """Batch shutdown workers"""
    op = req.pop("op")
    return worker_service.shutdown_workers_by_filter(actor=current_user(), filters=req, op=op)


@blp.route("/workers/shutdown/list", methods=["POST"])
@blp.user_required()
@blp.arguments(s.WorkersShutdownByUuidsReq)
@blp.response(200, s.WorkersShutdownByUuidsResp)
@blp.errors(400, 403)
def shutdown_workers_by_uuids(req: dict[str, Any]) -> ShutdownByUuids:
    """Batch shutdown workers by UUIDs"""
    return worker_service.shutdown_workers_by_uuids(actor=current_user(), uuids=req["uuids"], op=req["op"])


@blp.route("/workers/heartbeat", methods=["POST"])
@blp.worker_required(lookup=False)
@blp.response(200, s.HeartbeatResp)
def worker_heartbeat() -> HeartbeatAnswer:
    """Worker heartbeat"""
    return worker_service.heartbeat(worker=current_worker_identity())


@blp.route("/workers/tasks", methods=["GET"])
@blp.worker_required(lookup=False)
@blp.response(200, s.WorkerTaskResp)
@blp.alt_response(204, description="No tasks available")
def fetch_task() -> ActiveTask | Claimed | Response:
    """Fetch task for worker"""
    task = agent_protocol.fetch_task(worker=current_worker_identity())
    return task if task is not None else Response(status=204)


@blp.route("/workers/tasks", methods=["POST"])
@blp.worker_required(lookup=False)
@blp.arguments(s.ReportTaskReq)
@blp.response(200, s.ReportTaskResp)
@blp.errors(400, 404)
def report_task(req: dict[str, Any]) -> ReportAnswer:
    """Report task status"""
    return agent_protocol.report_task(worker=current_worker_identity(), task_id=req["id"], op=req["op"])


@blp.route("/workers/tasks/batch", methods=["POST"])
@blp.worker_required(lookup=False)
@blp.arguments(s.ReportTaskBatchReq)
@blp.response(200, s.ReportTaskBatchResp)
@blp.errors(400, 404)
def report_task_batch(req: dict[str, Any]) -> BatchAnswer:
    """Report several ops of a task (extension)"""
    return agent_protocol.report_batch(
        worker=current_worker_identity(),
        task_id=req["id"],
        ops=req["ops"],
        claim_next=req["next"],
        attempt=req.get("attempt"),
    )


@blp.route("/workers/tasks/<uuid:uuid>", methods=["GET"])
@blp.worker_required
@blp.response(200, s.WorkerTaskStateResp)
@blp.errors(404)
def get_task_for_worker(uuid: UUID) -> ActiveTask | ArchivedTask | WatchedTask:
    """Get task details for worker"""
    return agent_protocol.get_task_for_worker(worker=current_worker(), task_uuid=uuid)


@blp.route("/workers/<uuid:uuid>", methods=["GET"])
@blp.user_required()
@blp.response(200, s.WorkerQueryResp)
@blp.errors(403, 404)
def get_worker(uuid: UUID) -> WorkerDetail:
    """Get worker information"""
    return worker_service.get_worker(actor=current_user(), worker_uuid=uuid)


@blp.route("/workers/<uuid:uuid>", methods=["DELETE"])
@blp.user_required()
@blp.arguments(s.ShutdownOpArgs, location="query")
@blp.response(200)
@blp.errors(403, 404)
def shutdown_worker(args: dict[str, Any], uuid: UUID) -> Response:
    """Shutdown worker"""
    worker_service.shutdown_worker(actor=current_user(), worker_uuid=uuid, op=args["op"])
    return empty_response()


@blp.route("/workers/<uuid:uuid>/tags", methods=["PUT"])
@blp.user_required()
@blp.arguments(s.ReplaceWorkerTagsReq)
@blp.response(200)
@blp.errors(403, 404)
def update_worker_tags(req: dict[str, Any], uuid: UUID) -> Response:
    """Update worker tags"""
    worker_service.update_worker_tags(actor=current_user(), worker_uuid=uuid, tags=req["tags"])
    return empty_response()


@blp.route("/workers/<uuid:uuid>/labels", methods=["PUT"])
@blp.user_required()
@blp.arguments(s.ReplaceWorkerLabelsReq)
@blp.response(200)
@blp.errors(403, 404)
def update_worker_labels(req: dict[str, Any], uuid: UUID) -> Response:
    """Update worker labels"""
    worker_service.update_worker_labels(actor=current_user(), worker_uuid=uuid, labels=req["labels"])
    return empty_response()


@blp.route("/workers/<uuid:uuid>/groups", methods=["PUT"])
@blp.user_required()
@blp.arguments(s.UpdateGroupWorkerRoleReq)
@blp.response(200)
@blp.errors(403, 404)
def update_worker_groups(req: dict[str, Any], uuid: UUID) -> Response:
    """Update worker group roles"""
    worker_service.update_worker_groups(actor=current_user(), worker_uuid=uuid, relations=req["relations"])
    return empty_response()


@blp.route("/workers/<uuid:uuid>/groups", methods=["DELETE"])
@blp.user_required()
@blp.arguments(s.RemoveGroupWorkerRoleParams, location="query")
@blp.response(200)
@blp.errors(403, 404)
def remove_worker_groups_params(args: dict[str, Any], uuid: UUID) -> Response:
    """Remove worker group roles (query params)"""
    worker_service.remove_worker_groups(actor=current_user(), worker_uuid=uuid, groups=args["groups"])
    return empty_response()
