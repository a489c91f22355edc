"""Admin routes: delete any attachment or artifact (added to the Admin blueprint)."""

from __future__ import annotations

from app.api._blueprint import empty_response
from app.api.admin import blp
from app.auth import current_user
from app.services import artifact as artifact_service
from app.services import attachment as attachment_service


@blp.route("/admin/groups/<group_name>/attachments/<path:key>", methods=["DELETE"])
@blp.user_required(admin=True)
@blp.response(200, description="Attachment deleted successfully")
@blp.errors(404)
def admin_delete_attachment(group_name, key):
    """Delete group attachment (Admin)"""
    attachment_service.delete_attachment(actor=current_user(), group_name=group_name, key=key, admin=True)
    return empty_response()


@blp.route("/admin/tasks/<uuid:uuid>/artifacts/<artifact_type:content_type>", methods=["DELETE"])
@blp.user_required(admin=True)
@blp.response(200, description="Artifact deleted successfully")
@blp.errors(404)
def admin_delete_task_artifact(uuid, content_type):
    """Delete task artifact (Admin)"""
    artifact_service.delete_artifact(
        actor=current_user(), task_uuid=uuid, content_type=content_type, admin=True
    )
    return empty_response()
