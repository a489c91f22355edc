"""Health, login and the caller's own account (spec tags health, auth, users)."""

from __future__ import annotations

from client.bodies import Json
from client.operations._base import Operations, q
from client.worker_api import md5_password


class AccountOperations(Operations):
    """The caller's session and account."""

    def health(self) -> Json:
        """GET /health."""
        return self._call("GET", "/health")

    def login(self, username: str, password: str, *, retain: bool = True) -> str:
        """Log in; stores and returns the token.

        retain=True (the SDK's default) keeps the user's other sessions (the CLI's, an agent's) valid;
        retain=False, the wire field's default, ends every other session of the user.
        """
        body = {"username": username, "md5_password": md5_password(password), "retain": retain}
        token: str = self._call("POST", "/login", json=body)["token"]
        self.http.token = token
        return token

    def auth(self) -> str:
        """Check the token; returns the username it belongs to."""
        return self.http.request("GET", "/auth").text.strip().strip('"')

    def redis_info(self) -> Json:
        """The Redis URL clients may subscribe to (url is None without Redis)."""
        return self._call("GET", "/redis")

    # -- users
    def change_password(self, username: str, old_password: str, new_password: str) -> str:
        """Change one's own password; stores and returns the new token."""
        body = {
            "old_md5_password": md5_password(old_password),
            "new_md5_password": md5_password(new_password),
        }
        token: str = self._call("POST", f"/users/{q(username)}/password", json=body)["token"]
        self.http.token = token
        return token

    def user_groups(self) -> dict[str, str]:
        """The caller's groups and roles: {group_name: role}."""
        groups: dict[str, str] = self._call("GET", "/users/groups")["groups"]
        return groups
