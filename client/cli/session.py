"""What every command shares: the Session (coordinator, user, token, output mode) and the `verb` decorator
that hands it to a command and turns API errors into messages that say what to do next."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from client import credentials
from client.bodies import Json
from client.cli.output import progress
from client.http import ApiError, TransportError
from client.sdk import Mitosis

Command = Callable[..., None]


class Session:
    """What a command needs: the coordinator URL, the acting user, their token, the output mode."""

    def __init__(self, obj: dict[str, Any]):
        self.json = bool(obj.get("json"))
        self.user: str | None = obj.get("user")
        self.credential = credentials.find(self.user)
        cached = self.credential.coordinator if self.credential else None
        self.coordinator: str = obj.get("coordinator") or cached or credentials.DEFAULT_COORDINATOR
        self._sdk: Mitosis | None = None

    @property
    def username(self) -> str:
        """The logged-in user's name; a usage hint to run `mito login` when nobody is."""
        if self.credential is None:
            who = f" as {self.user}" if self.user else ""
            raise click.ClickException(
                f"not logged in{who}: run `mito login{' ' + self.user if self.user else ''}`"
            )
        return self.credential.username

    @property
    def sdk(self) -> Mitosis:
        """The SDK with the cached token, if any (for commands that need no login)."""
        if self._sdk is None:
            token = self.credential.token if self.credential else None
            self._sdk = Mitosis(self.coordinator, token)
        return self._sdk

    def api(self) -> Mitosis:
        """The SDK with the user's token (a command that needs a login)."""
        self.username  # noqa: B018 - raises the "run mito login" hint
        return self.sdk

    def group_of(self, group: str | None) -> str:
        """The group a command acts on: the one given, else the user's personal group."""
        return group or self.username

    def out(self, data: Any, render: Callable[[Any], None] | None = None) -> None:
        """Print `data` as JSON (--json) or through `render`."""
        if self.json or render is None:
            click.echo(json.dumps(data, indent=None if self.json else 2, sort_keys=False))
        else:
            render(data)

    def done(self, message: str, data: Json | None = None) -> None:
        """Report a command without a body: a sentence, or {"ok": true, ...} with --json."""
        if self.json:
            click.echo(json.dumps({"ok": True, **(data or {})}))
        else:
            click.echo(message)

    def fetch(self, url: str, dest: Path, *, size: int | None, label: str) -> int:
        """Download a presigned URL into `dest` with a progress bar on a terminal; returns the byte count."""
        with progress(label, not self.json) as report:
            return self.sdk.fetch_bytes(url, dest, size=size, progress=report)

    def fetch_many(
        self, items: Iterable[Json], name_of: Callable[[Json], str], directory: Path
    ) -> list[Json]:
        """Download every `{url, size}` item into `directory / name_of(item)`."""
        fetched = []
        for item in items:
            dest = directory / name_of(item)
            size = self.fetch(item["url"], dest, size=item.get("size"), label=f"download {name_of(item)}")
            fetched.append({**item, "path": str(dest), "size": size})
            if not self.json:
                click.echo(f"{dest} ({size} bytes)")
        return fetched


def current_session() -> Session:
    """The Session of the running command, from the global options stored on the root context."""
    ctx = click.get_current_context()
    return Session(ctx.find_root().ensure_object(dict))


def explain(err: ApiError, session: Session | None = None) -> str:
    """An error message that says what to do next."""
    if isinstance(err, TransportError):
        return (
            f"{err.message}\n  Hint: is the coordinator running? "
            "Point at it with --coordinator URL or MITO_COORDINATOR_ADDR."
        )
    hint = {
        401: "your login is missing, expired or was ended by a newer login: run `mito login`"
        + (f" {session.user}" if session and session.user else ""),
        403: "you lack the role this needs (ask a group admin, or an admin for quotas)",
        404: "check the name or uuid (`mito tasks query`, `mito users groups`)",
        409: "it already exists or changed meanwhile",
        413: "the request is too large",
    }.get(err.status)
    detail = ""
    if isinstance(err.body, dict) and err.body.get("errors"):
        detail = f" {json.dumps(err.body['errors'])}"
    return f"{err.status}: {err.message}{detail}" + (f"\n  Hint: {hint}" if hint else "")


def verb(group: click.Group, name: str, **attrs: Any) -> Callable[[Command], click.Command]:
    """A leaf command: takes the Session first, accepts --json, turns API errors into messages."""

    def decorator(func: Command) -> click.Command:
        @functools.wraps(func)
        def wrapper(*args: Any, json_out: bool = False, **kwargs: Any) -> None:
            session = current_session()
            session.json = session.json or json_out
            try:
                func(session, *args, **kwargs)
            except ApiError as err:
                raise click.ClickException(explain(err, session)) from err
            except (ValueError, OSError) as err:
                raise click.ClickException(str(err)) from err

        with_json = click.option("--json", "json_out", is_flag=True, help="Machine-readable JSON output.")
        return group.command(name, **attrs)(with_json(wrapper))

    return decorator
