"""Tasks routes: task artifacts (added to the Tasks blueprint)."""

from __future__ import annotations

from app.api._blueprint import empty_response
from app.api._storage import download_response
from app.api.tasks import blp
from app.auth import current_user
from app.schemas.storage import (
    ArtifactDownloadArgs,
    ArtifactsDeleteByFilterReq,
    ArtifactsDeleteByFilterResp,
    ArtifactsDeleteByUuidsReq,
    ArtifactsDeleteByUuidsResp,
    ArtifactsDownloadByFilterReq,
    ArtifactsDownloadByUuidsReq,
    ArtifactsDownloadListResp,
    UploadArtifactReq,
    UploadArtifactResp,
)
from app.services import artifact as artifact_service


@blp.route("/tasks/<uuid:uuid>/artifacts", methods=["POST"])
@blp.user_required()
@blp.arguments(UploadArtifactReq)
@blp.response(200, UploadArtifactResp)
@blp.errors(403, 404)
def upload_task_artifact(req, uuid):
    """Upload task artifact"""
    return artifact_service.upload_artifact(actor=current_user(), task_uuid=uuid, **req)


@blp.route("/tasks/<uuid:uuid>/artifacts/<artifact_type:content_type>", methods=["DELETE"])
@blp.user_required()
@blp.response(200, description="Artifact deleted successfully")
@blp.errors(403, 404)
def delete_task_artifact(uuid, content_type):
    """Delete task artifact"""
    artifact_service.delete_artifact(actor=current_user(), task_uuid=uuid, content_type=content_type)
    return empty_response()


@blp.route("/tasks/<uuid:uuid>/download/artifacts/<artifact_type:content_type>", methods=["GET"])
@blp.user_required()
@blp.arguments(ArtifactDownloadArgs, location="query")
@blp.response(302, description="Redirect to download URL")
@blp.errors(403, 404)
def download_task_artifact(args, uuid, content_type):
    """Download task artifact"""
    download = artifact_service.download_artifact(
        actor=current_user(), task_uuid=uuid, content_type=content_type, attempt=args.get("attempt")
    )
    return download_response(download, args["redirect"])


@blp.route("/tasks/download/artifacts", methods=["POST"])
@blp.user_required()
@blp.arguments(ArtifactsDownloadByFilterReq)
@blp.response(200, ArtifactsDownloadListResp)
@blp.errors(403)
def batch_download_artifacts_by_filter(req):
    """Batch download artifacts by filter"""
    content_type = req.pop("content_type")
    return artifact_service.download_by_filter(actor=current_user(), criteria=req, content_type=content_type)


@blp.route("/tasks/download/artifacts/list", methods=["POST"])
@blp.user_required()
@blp.arguments(ArtifactsDownloadByUuidsReq)
@blp.response(200, ArtifactsDownloadListResp)
def batch_download_artifacts_by_uuids(req):
    """Batch download artifacts by UUIDs"""
    return artifact_service.download_by_uuids(actor=current_user(), **req)


@blp.route("/tasks/delete/artifacts", methods=["POST"])
@blp.user_required()
@blp.arguments(ArtifactsDeleteByFilterReq)
@blp.response(200, ArtifactsDeleteByFilterResp)
@blp.errors(400, 403)
def batch_delete_artifacts_by_filter(req):
    """Batch delete artifacts by filter"""
    content_type = req.pop("content_type")
    return artifact_service.delete_by_filter(actor=current_user(), criteria=req, content_type=content_type)


@blp.route("/tasks/delete/artifacts/list", methods=["POST"])
@blp.user_required()
@blp.arguments(ArtifactsDeleteByUuidsReq)
@blp.response(200, ArtifactsDeleteByUuidsResp)
@blp.errors(400, 403)
def batch_delete_artifacts_by_uuids(req):
    """Batch delete artifacts by UUIDs"""
    return artifact_service.delete_by_uuids(actor=current_user(), **req)
