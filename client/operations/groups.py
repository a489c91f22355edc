"""Groups, their members and their attachments (spec tag groups)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from client.bodies import Json, drop_none, relations_body
from client.operations._base import Operations, key_path, q
from mito.vocab import Role


class GroupOperations(Operations):
    """Groups, members and attachments."""

    def create_group(self, group_name: str) -> None:
        """Create a group; the caller becomes its admin."""
        self._call("POST", "/groups", json={"group_name": group_name})

    def get_group(self, group_name: str) -> Json:
        """A group's quota, usage and members."""
        return self._call("GET", f"/groups/{q(group_name)}")

    def update_group_users(self, group_name: str, relations: Mapping[str, str | Role]) -> None:
        """Add users to a group or change their roles: {username: Read|Write|Admin}."""
        body = {"relations": relations_body(relations)}
        self._call("PUT", f"/groups/{q(group_name)}/users", json=body)

    def remove_group_users(self, group_name: str, users: Iterable[str]) -> None:
        """Remove users from a group."""
        self._call("DELETE", f"/groups/{q(group_name)}/users", params={"users": ",".join(users)})

    # -- attachments
    def upload_attachment(self, group_name: str, key: str, content_length: int) -> Json:
        """Ask for a presigned PUT URL for an attachment: {url}."""
        body = {"key": key, "content_length": content_length}
        return self._call("POST", f"/groups/{q(group_name)}/attachments", json=body)

    def query_attachments(
        self,
        group_name: str,
        *,
        key: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        count: bool = False,
    ) -> Json:
        """A group's attachments whose key contains `key`."""
        body = drop_none(key=key, limit=limit, offset=offset, count=count)
        return self._call("POST", f"/groups/{q(group_name)}/attachments/query", json=body)

    def get_attachment(self, group_name: str, key: str) -> Json:
        """An attachment's metadata."""
        return self._call("GET", f"/groups/{q(group_name)}/attachments/{key_path(key)}")

    def delete_attachment(self, group_name: str, key: str) -> None:
        """Delete an attachment."""
        self._call("DELETE", f"/groups/{q(group_name)}/attachments/{key_path(key)}")

    def download_attachment(self, group_name: str, key: str) -> Json:
        """The presigned GET URL of an attachment and its size: {url, size}."""
        path = f"/groups/{q(group_name)}/download/attachments/{key_path(key)}"
        return self._call("GET", path, params={"redirect": "false"})

    def download_attachments_by_filter(
        self, group_name: str, *, key: str | None = None, limit: int | None = None, offset: int | None = None
    ) -> Json:
        """Presigned GET URLs of the attachments matching the filter."""
        body = drop_none(key=key, limit=limit, offset=offset)
        return self._call("POST", f"/groups/{q(group_name)}/download/attachments", json=body)

    def download_attachments_by_keys(self, group_name: str, keys: Iterable[str]) -> Json:
        """Presigned GET URLs of the named attachments."""
        body = {"keys": list(keys)}
        return self._call("POST", f"/groups/{q(group_name)}/download/attachments/list", json=body)

    def delete_attachments_by_filter(
        self, group_name: str, *, key: str | None = None, limit: int | None = None, offset: int | None = None
    ) -> Json:
        """Delete the attachments matching the filter."""
        body = drop_none(key=key, limit=limit, offset=offset)
        return self._call("POST", f"/groups/{q(group_name)}/delete/attachments", json=body)

    def delete_attachments_by_keys(self, group_name: str, keys: Iterable[str]) -> Json:
        """Delete the named attachments."""
        body = {"keys": list(keys)}
        return self._call("POST", f"/groups/{q(group_name)}/delete/attachments/list", json=body)
