"""Groups routes: file attachments (added to the Groups blueprint)."""

from __future__ import annotations

from app.api._blueprint import empty_response
from app.api._storage import download_response
from app.api.groups import blp
from app.auth import current_user
from app.schemas.storage import (
    AttachmentMetadata,
    AttachmentsDeleteByFilterReq,
    AttachmentsDeleteByFilterResp,
    AttachmentsDeleteByKeysReq,
    AttachmentsDeleteByKeysResp,
    AttachmentsDownloadByFilterReq,
    AttachmentsDownloadByKeysReq,
    AttachmentsDownloadListResp,
    AttachmentsQueryReq,
    AttachmentsQueryResp,
    DownloadArgs,
    UploadAttachmentReq,
    UploadAttachmentResp,
)
from app.services import attachment as attachment_service


@blp.route("/groups/<group_name>/attachments", methods=["POST"])
@blp.user_required()
@blp.arguments(UploadAttachmentReq)
@blp.response(200, UploadAttachmentResp)
@blp.errors(403)
def upload_attachment(req, group_name):
    """Upload group attachment"""
    return attachment_service.upload_attachment(actor=current_user(), group_name=group_name, **req)


@blp.route("/groups/<group_name>/attachments/query", methods=["POST"])
@blp.user_required()
@blp.arguments(AttachmentsQueryReq)
@blp.response(200, AttachmentsQueryResp)
@blp.errors(403)
def query_attachments(req, group_name):
    """Query group attachments"""
    return attachment_service.query_attachments(
        actor=current_user(),
        group_name=group_name,
        key=req.get("key"),
        limit=req.get("limit"),
        offset=req.get("offset"),
        count=req["count"],
    )


@blp.route("/groups/<group_name>/attachments/<path:key>", methods=["GET"])
@blp.user_required()
@blp.response(200, AttachmentMetadata)
@blp.errors(403, 404)
def query_attachment(group_name, key):
    """Get attachment metadata"""
    return attachment_service.get_attachment(actor=current_user(), group_name=group_name, key=key)


@blp.route("/groups/<group_name>/attachments/<path:key>", methods=["DELETE"])
@blp.user_required()
@blp.response(200, description="Attachment deleted successfully")
@blp.errors(403, 404)
def delete_attachment(group_name, key):
    """Delete attachment"""
    attachment_service.delete_attachment(actor=current_user(), group_name=group_name, key=key)
    return empty_response()


@blp.route("/groups/<group_name>/download/attachments/<path:key>", methods=["GET"])
@blp.user_required()
@blp.arguments(DownloadArgs, location="query")
@blp.response(302, description="Redirect to download URL")
@blp.errors(403, 404)
def download_attachment(args, group_name, key):
    """Download attachment"""
    download = attachment_service.download_attachment(actor=current_user(), group_name=group_name, key=key)
    return download_response(download, args["redirect"])


@blp.route("/groups/<group_name>/download/attachments", methods=["POST"])
@blp.user_required()
@blp.arguments(AttachmentsDownloadByFilterReq)
@blp.response(200, AttachmentsDownloadListResp)
@blp.errors(403)
def batch_download_attachments_by_filter(req, group_name):
    """Batch download attachments by filter"""
    return attachment_service.download_by_filter(
        actor=current_user(),
        group_name=group_name,
        key=req.get("key"),
        limit=req.get("limit"),
        offset=req.get("offset"),
    )


@blp.route("/groups/<group_name>/download/attachments/list", methods=["POST"])
@blp.user_required()
@blp.arguments(AttachmentsDownloadByKeysReq)
@blp.response(200, AttachmentsDownloadListResp)
@blp.errors(403)
def batch_download_attachments_by_keys(req, group_name):
    """Batch download attachments by keys"""
    return attachment_service.download_by_keys(actor=current_user(), group_name=group_name, keys=req["keys"])


@blp.route("/groups/<group_name>/delete/attachments", methods=["POST"])
@blp.user_required()
@blp.arguments(AttachmentsDeleteByFilterReq)
@blp.response(200, AttachmentsDeleteByFilterResp)
@blp.errors(400, 403)
def batch_delete_attachments_by_filter(req, group_name):
    """Batch delete attachments by filter"""
    return attachment_service.delete_by_filter(
        actor=current_user(),
        group_name=group_name,
        key=req.get("key"),
        limit=req.get("limit"),
        offset=req.get("offset"),
    )


@blp.route("/groups/<group_name>/delete/attachments/list", methods=["POST"])
@blp.user_required()
@blp.arguments(AttachmentsDeleteByKeysReq)
@blp.response(200, AttachmentsDeleteByKeysResp)
@blp.errors(400, 403)
def batch_delete_attachments_by_keys(req, group_name):
    """Batch delete attachments by keys"""
    return attachment_service.delete_by_keys(actor=current_user(), group_name=group_name, keys=req["keys"])
