"""Authentication routes: User authentication."""

from __future__ import annotations

from flask import Response, request

from app import auth
from app.api._blueprint import Blueprint
from app.schemas.auth import UserLoginReq, UserLoginResp
from app.services import user as user_service

blp = Blueprint("Authentication", __name__, description="User authentication")


@blp.route("/login", methods=["POST"])
@blp.arguments(UserLoginReq)
@blp.response(200, UserLoginResp)
@blp.errors(401, 403, 429)
def user_login(body):
    """User login"""
    token = user_service.login(**body, ip=request.remote_addr)
    return {"token": token}


@blp.route("/auth")
@blp.user_required()
@blp.doc(responses={"200": {"description": "Username of authenticated user",
                            "content": {"text/plain": {"schema": {"type": "string"}}}}})  # fmt: skip
def user_auth():
    """Get current user"""
    return Response(auth.current_user().username, status=200, mimetype="text/plain")
