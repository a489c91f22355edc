"""Admin routes: Administrative operations (admin users only)."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Mapping
from typing import Any

from flask import current_app, request

from app.api._blueprint import Blueprint, empty_response
from app.schemas.admin import (
    AdminChangePasswordReq,
    ChangeGroupStorageQuotaReq,
    ChangeUserGroupQuota,
    ChangeUserStateReq,
    CreateUserReq,
    GroupStorageQuotaResp,
    ShutdownReq,
    UserGroupQuotaResp,
    UserStateResp,
)
from app.services import admin as admin_service

log = logging.getLogger(__name__)

blp = Blueprint("Admin", __name__, description="Administrative operations (admin users only)")


@blp.route("/admin/users", methods=["POST"])
@blp.user_required(admin=True)
@blp.arguments(CreateUserReq)
@blp.response(200, description="User created successfully")
@blp.errors(409)
def admin_create_user(body):
    """Create user (Admin)"""
    admin_service.create_user(**body)
    return empty_response()


@blp.route("/admin/users/<username>", methods=["DELETE"])
@blp.user_required(admin=True)
@blp.response(200, UserStateResp)
@blp.errors(404)
def admin_delete_user(username):
    """Delete user (Admin)"""
    return admin_service.delete_user(username=username)


@blp.route("/admin/users/<username>/password", methods=["POST"])
@blp.user_required(admin=True)
@blp.arguments(AdminChangePasswordReq)
@blp.response(200, description="Password changed successfully")
@blp.errors(404)
def admin_change_user_password(body, username):
    """Change user password (Admin)"""
    admin_service.change_user_password(username=username, md5_password=body["new_md5_password"])
    return empty_response()


@blp.route("/admin/users/<username>/group-quota", methods=["POST"])
@blp.user_required(admin=True)
@blp.arguments(ChangeUserGroupQuota)
@blp.response(200, UserGroupQuotaResp)
@blp.errors(404)
def admin_change_user_group_quota(body, username):
    """Change user group quota (Admin)"""
    return admin_service.change_user_group_quota(username=username, change=body["group_quota"])


@blp.route("/admin/users/<username>/state", methods=["POST"])
@blp.user_required(admin=True)
@blp.arguments(ChangeUserStateReq)
@blp.response(200, UserStateResp)
@blp.errors(404)
def admin_change_user_state(body, username):
    """Change user state (Admin)"""
    return admin_service.change_user_state(username=username, state=body["state"])


@blp.route("/admin/groups/<group_name>/storage-quota", methods=["POST"])
@blp.user_required(admin=True)
@blp.arguments(ChangeGroupStorageQuotaReq)
@blp.response(200, GroupStorageQuotaResp)
@blp.errors(404)
def admin_change_group_storage_quota(body, group_name):
    """Change group storage quota (Admin)"""
    return admin_service.change_group_storage_quota(group_name=group_name, change=body["storage_quota"])


@blp.route("/admin/shutdown", methods=["POST"])
@blp.user_required(admin=True)
@blp.arguments(ShutdownReq)
@blp.response(200, description="Shutdown initiated")
def admin_shutdown_coordinator(body):
    """Shutdown coordinator (Admin)"""
    admin_service.check_shutdown_secret(secret=body["secret"], expected=current_app.config["SHUTDOWN_SECRET"])
    response = empty_response()
    response.call_on_close(_shutdown_callback(request.environ))
    return response


def _shutdown_callback(environ: Mapping[str, Any]) -> Callable[[], None]:
    """What stops this server once the shutdown response has been sent.

    Under gunicorn: SIGTERM to the master, which stops accepting, lets every worker finish its in-flight
    requests (graceful_timeout) and exits 0. Tests of the in-process app set SHUTDOWN_HOOK instead.
    """
    hook = current_app.config.get("SHUTDOWN_HOOK")
    if hook is not None:
        return hook
    if str(environ.get("SERVER_SOFTWARE", "")).startswith("gunicorn"):
        master = os.getppid()
        return lambda: os.kill(master, signal.SIGTERM)
    return lambda: log.warning(
        "shutdown requested, but this server is not gunicorn: stop the process yourself"
    )
