"""Workers routes: downloads for the task a worker runs (added to the Workers blueprint)."""

from __future__ import annotations

from app.api._storage import download_response
from app.api.workers import blp
from app.auth import current_worker
from app.schemas.storage import DownloadArgs
from app.services import artifact as artifact_service
from app.services import attachment as attachment_service


@blp.route("/workers/tasks/<uuid:uuid>/artifacts/<artifact_type:content_type>", methods=["GET"])
@blp.worker_required
@blp.arguments(DownloadArgs, location="query")
@blp.response(302, description="Redirect to download URL")
@blp.errors(404)
def download_task_artifact_for_worker(args, uuid, content_type):
    """Download task artifact for worker"""
    download = artifact_service.worker_download_artifact(
        worker=current_worker(), task_uuid=uuid, content_type=content_type
    )
    return download_response(download, args["redirect"])


@blp.route("/workers/tasks/<uuid:uuid>/attachments/<path:key>", methods=["GET"])
@blp.worker_required
@blp.arguments(DownloadArgs, location="query")
@blp.response(302, description="Redirect to download URL")
@blp.errors(404)
def download_attachment_for_worker(args, uuid, key):
    """Download attachment for worker"""
    download = attachment_service.worker_download_attachment(worker=current_worker(), task_uuid=uuid, key=key)
    return download_response(download, args["redirect"])
