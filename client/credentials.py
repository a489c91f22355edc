"""The client's credential cache: one token per user, the first entry is the default user.

File: `$MITO_CONFIG_DIR/credentials`, else `$XDG_CONFIG_HOME/mitosis/credentials`, else
`~/.config/mitosis/credentials`. JSON `{"users": [{"username", "token", "coordinator"}, ...]}`, mode 0600.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_COORDINATOR = "http://127.0.0.1:5000"


def config_dir() -> Path:
    """The client's configuration directory."""
    if os.environ.get("MITO_CONFIG_DIR"):
        return Path(os.environ["MITO_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mitosis"


def credentials_path() -> Path:
    return config_dir() / "credentials"


@dataclass
class Credential:
    username: str
    token: str
    coordinator: str


def load() -> list[Credential]:
    """Every cached credential, default first; an unreadable file counts as empty."""
    path = credentials_path()
    try:
        data = json.loads(path.read_text())
        return [Credential(**entry) for entry in data.get("users", [])]
    except (OSError, ValueError, TypeError):
        return []


def find(username: str | None = None) -> Credential | None:
    """The credential of `username`, or the default one."""
    entries = load()
    if username is None:
        return entries[0] if entries else None
    return next((c for c in entries if c.username == username), None)


def save(credential: Credential) -> Path:
    """Store or refresh a user's credential (a new user goes last, so the default stays)."""
    entries = load()
    for i, entry in enumerate(entries):
        if entry.username == credential.username:
            entries[i] = credential
            break
    else:
        entries.append(credential)
    return _write(entries)


def remove(username: str) -> bool:
    """Forget a user's credential; returns whether one was cached."""
    entries = load()
    kept = [c for c in entries if c.username != username]
    _write(kept)
    return len(kept) != len(entries)


def _write(entries: list[Credential]) -> Path:
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"users": [asdict(c) for c in entries]}, fh, indent=2)
    os.replace(tmp, path)
    return path
