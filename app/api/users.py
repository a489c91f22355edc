"""Users routes: User management."""

from __future__ import annotations

from app import auth
from app.api._blueprint import Blueprint
from app.schemas.users import GroupsQueryResp, UserChangePasswordReq, UserChangePasswordResp
from app.services import user as user_service

blp = Blueprint("Users", __name__, description="User management")


@blp.route("/users/<username>/password", methods=["POST"])
@blp.user_required()
@blp.arguments(UserChangePasswordReq)
@blp.response(200, UserChangePasswordResp)
@blp.errors(403, 404)
def change_password(body, username):
    """Change user password"""
    token = user_service.change_password(actor=auth.current_user(), username=username, **body)
    return {"token": token}


@blp.route("/users/groups")
@blp.user_required()
@blp.response(200, GroupsQueryResp)
def query_user_groups():
    """Query user groups"""
    return {"groups": user_service.list_groups(actor=auth.current_user())}
