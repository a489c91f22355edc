"""Dashboard routes (extension, tag Dashboard): what the web dashboard needs beyond the spec's operations."""

from __future__ import annotations

from app import auth
from app.api._blueprint import Blueprint
from app.schemas.dashboard import CurrentUserResp, TaskCountsResp, UsersQueryArgs, UsersQueryResp
from app.services import metrics as metrics_service
from app.services import user as user_service

blp = Blueprint("Dashboard", __name__, description="Extensions the web dashboard (/ui) uses")


@blp.route("/users/me")
@blp.user_required()
@blp.response(200, CurrentUserResp)
def get_current_user():
    """Get the current user's account"""
    return user_service.describe_self(actor=auth.current_user())


@blp.route("/groups/<group_name>/task-counts")
@blp.user_required()
@blp.response(200, TaskCountsResp)
@blp.errors(403, 404)
def get_group_task_counts(group_name):
    """Count a group's tasks by state"""
    return metrics_service.group_task_counts(actor=auth.current_user(), group_name=group_name)


@blp.route("/admin/users", methods=["GET"])
@blp.user_required(admin=True)
@blp.arguments(UsersQueryArgs, location="query")
@blp.response(200, UsersQueryResp)
def admin_list_users(args):
    """List users (Admin)"""
    return user_service.list_users(actor=auth.current_user(), **args)
