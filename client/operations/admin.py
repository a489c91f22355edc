"""What only admins may do (spec tag admin)."""

from __future__ import annotations

from client.bodies import Json, artifact_type, shutdown_op
from client.operations._base import Operations, key_path, q
from client.worker_api import md5_password
from mito.vocab import ShutdownOp, UserState


class AdminOperations(Operations):
    """Admin-only operations."""

    def admin_create_user(self, username: str, password: str, *, admin: bool = False) -> None:
        """Create a user (and their personal group)."""
        body = {"username": username, "md5_password": md5_password(password), "admin": admin}
        self._call("POST", "/admin/users", json=body)

    def admin_delete_user(self, username: str) -> Json:
        """Delete a user: {state}."""
        return self._call("DELETE", f"/admin/users/{q(username)}")

    def admin_change_password(self, username: str, new_password: str) -> None:
        """Set a user's password (their sessions end)."""
        body = {"new_md5_password": md5_password(new_password)}
        self._call("POST", f"/admin/users/{q(username)}/password", json=body)

    def admin_change_group_quota(self, username: str, group_quota: str | int) -> Json:
        """Set ("10", "=10") or change ("+5", "-3") how many groups a user may create."""
        body = {"group_quota": str(group_quota)}
        return self._call("POST", f"/admin/users/{q(username)}/group-quota", json=body)

    def admin_change_user_state(self, username: str, state: str | UserState) -> Json:
        """Set a user's state: Active, Locked or Deleted."""
        name = state.name if isinstance(state, UserState) else state
        return self._call("POST", f"/admin/users/{q(username)}/state", json={"state": name})

    def admin_change_storage_quota(self, group_name: str, storage_quota: str | int) -> Json:
        """Set a group's storage quota ("10GB", "1GiB" or bytes)."""
        body = {"storage_quota": str(storage_quota)}
        return self._call("POST", f"/admin/groups/{q(group_name)}/storage-quota", json=body)

    def admin_shutdown_worker(self, uuid: str, *, op: str | ShutdownOp = ShutdownOp.Graceful) -> None:
        """Shut down any worker."""
        self._call("DELETE", f"/admin/workers/{q(uuid)}/", params={"op": shutdown_op(op)})

    def admin_delete_attachment(self, group_name: str, key: str) -> None:
        """Delete any group's attachment."""
        self._call("DELETE", f"/admin/groups/{q(group_name)}/attachments/{key_path(key)}")

    def admin_delete_artifact(self, uuid: str, content_type: str) -> None:
        """Delete any task's artifact."""
        self._call("DELETE", f"/admin/tasks/{q(uuid)}/artifacts/{artifact_type(content_type)}")

    def admin_shutdown_coordinator(self, secret: str) -> None:
        """Shut the coordinator down (needs its shutdown secret)."""
        self._call("POST", "/admin/shutdown", json={"secret": secret})
