"""Groups routes: Group management and file attachments."""

from __future__ import annotations

from app import auth
from app.api._blueprint import Blueprint, empty_response
from app.schemas.groups import (
    CreateGroupReq,
    GroupQueryInfo,
    RemoveUserGroupRoleParams,
    UpdateUserGroupRoleReq,
)
from app.services import group as group_service

blp = Blueprint("Groups", __name__, description="Group management and file attachments")


@blp.route("/groups", methods=["POST"])
@blp.user_required()
@blp.arguments(CreateGroupReq)
@blp.response(200, description="Group created successfully")
@blp.errors(403, 409)
def create_group(body):
    """Create group"""
    group_service.create_group(actor=auth.current_user(), **body)
    return empty_response()


@blp.route("/groups/<group_name>")
@blp.user_required()
@blp.response(200, GroupQueryInfo)
@blp.errors(403, 404)
def get_group(group_name):
    """Get group information"""
    return group_service.get_group(actor=auth.current_user(), group_name=group_name)


@blp.route("/groups/<group_name>/users", methods=["PUT"])
@blp.user_required()
@blp.arguments(UpdateUserGroupRoleReq)
@blp.response(200, description="User roles updated successfully")
@blp.errors(403, 404)
def update_user_group(body, group_name):
    """Update user group roles"""
    group_service.update_user_roles(actor=auth.current_user(), group_name=group_name, **body)
    return empty_response()


@blp.route("/groups/<group_name>/users", methods=["DELETE"])
@blp.user_required()
@blp.arguments(RemoveUserGroupRoleParams, location="query")
@blp.response(200, description="Users removed successfully")
@blp.errors(403, 404)
def remove_user_group_params(args, group_name):
    """Remove users from group (query params)"""
    group_service.remove_users(
        actor=auth.current_user(), group_name=group_name, usernames=args.get("users", [])
    )
    return empty_response()
