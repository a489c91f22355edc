"""The one credential-cache format, shared by the CLI (`mito login`) and the worker agent.

A cache file holds one user token per username, the first entry being the default user:
JSON `{"users": [{"username", "token", "coordinator"}, ...]}`, written atomically with mode 0600.
The CLI's file is `$MITO_CONFIG_DIR/credentials`, else `$XDG_CONFIG_HOME/mitosis/credentials`, else
`~/.config/mitosis/credentials`; the agent keeps its own file (worker_agent/config.py). An agent cache
written before this format (`{"<coordinator>|<user>": token}`) is read as such and rewritten in this
format on the next save.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEFAULT_COORDINATOR = "http://127.0.0.1:5000"


def config_dir() -> Path:
    """The client's configuration directory."""
    if os.environ.get("MITO_CONFIG_DIR"):
        return Path(os.environ["MITO_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mitosis"


def credentials_path() -> Path:
    """The CLI's credential cache file."""
    return config_dir() / "credentials"


@dataclass
class Credential:
    """A user token and the coordinator that issued it."""

    username: str
    token: str
    coordinator: str


class CredentialCache:
    """One cache file; an unreadable or malformed file counts as empty."""

    def __init__(self, path: Path):
        self.path = path

    def load(self) -> list[Credential]:
        """Every cached credential, default first."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []
        if not isinstance(data, dict):
            return []
        if "users" not in data:
            return _legacy_agent_entries(data)
        try:
            return [Credential(**entry) for entry in data["users"]]
        except TypeError:
            return []

    def find(self, username: str | None = None, coordinator: str | None = None) -> Credential | None:
        """The credential of `username` (None: the default user), if it was cached for `coordinator`.

        A credential cached for another coordinator is not returned (None: any coordinator).
        """
        entries = self.load()
        if username is None:
            found = entries[0] if entries else None
        else:
            found = next((c for c in entries if c.username == username), None)
        if found is None or (coordinator is not None and _norm(found.coordinator) != _norm(coordinator)):
            return None
        return found

    def save(self, credential: Credential) -> Path:
        """Store or refresh a user's credential (a new user goes last, so the default stays)."""
        entries = self.load()
        for i, entry in enumerate(entries):
            if entry.username == credential.username:
                entries[i] = credential
                break
        else:
            entries.append(credential)
        return self._write(entries)

    def remove(self, username: str) -> bool:
        """Forget a user's credential; returns whether one was cached."""
        entries = self.load()
        kept = [c for c in entries if c.username != username]
        self._write(kept)
        return len(kept) != len(entries)

    def _write(self, entries: list[Credential]) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"users": [asdict(c) for c in entries]}, fh, indent=2)
        os.replace(tmp, self.path)
        return self.path


def _norm(url: str) -> str:
    return url.rstrip("/")


def _legacy_agent_entries(data: dict[str, Any]) -> list[Credential]:
    """The agent's former cache: `{"<coordinator>|<user>": token}`."""
    entries = []
    for key, token in data.items():
        coordinator, sep, username = str(key).rpartition("|")
        if sep and username and isinstance(token, str):
            entries.append(Credential(username, token, coordinator))
    return entries


def load() -> list[Credential]:
    """Every credential in the CLI's cache, default first."""
    return CredentialCache(credentials_path()).load()


def find(username: str | None = None) -> Credential | None:
    """The CLI's credential of `username`, or the default one."""
    return CredentialCache(credentials_path()).find(username)


def save(credential: Credential) -> Path:
    """Store or refresh a user's credential in the CLI's cache."""
    return CredentialCache(credentials_path()).save(credential)


def remove(username: str) -> bool:
    """Forget a user's credential in the CLI's cache; returns whether one was cached."""
    return CredentialCache(credentials_path()).remove(username)
