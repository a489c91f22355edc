"""The `mito` client CLI: login, then users / groups (+ attachments) / tasks (+ artifacts) / workers / admin.

Global options come before the group (`mito --coordinator URL --user U --json tasks query`); `--json`
is also accepted after any verb. Shell completion: `eval "$(_MITO_COMPLETE=bash_source mito)"`.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import json
import sys
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from client import credentials
from client.http import ApiError, TransportError
from client.options import global_options
from client.sdk import (
    Mitosis,
    artifact_resource,
    artifact_type,
    attachment_resource,
    task_spec,
)
from mito.units import format_duration, parse_duration, parse_size

ROLES = ("Read", "Write", "Admin")
TASK_STATES = ("Pending", "Ready", "Running", "Finished", "Cancelled", "Unknown")


class Session:
    """What a command needs: the coordinator URL, the acting user, their token, the output mode."""

    def __init__(self, obj: dict):
        self.json = bool(obj.get("json"))
        self.user = obj.get("user")
        self.credential = credentials.find(self.user)
        cached = self.credential.coordinator if self.credential else None
        self.coordinator = obj.get("coordinator") or cached or credentials.DEFAULT_COORDINATOR
        self._sdk: Mitosis | None = None

    @property
    def username(self) -> str:
        if self.credential is None:
            who = f" as {self.user}" if self.user else ""
            raise click.ClickException(
                f"not logged in{who}: run `mito login{' ' + self.user if self.user else ''}`"
            )
        return self.credential.username

    @property
    def sdk(self) -> Mitosis:
        if self._sdk is None:
            token = self.credential.token if self.credential else None
            self._sdk = Mitosis(self.coordinator, token)
        return self._sdk

    def api(self) -> Mitosis:
        """The SDK with the user's token (a command that needs a login)."""
        self.username  # noqa: B018 - raises the "run mito login" hint
        return self.sdk

    def out(self, data: Any, render: Callable[[Any], None] | None = None) -> None:
        """Print `data` as JSON (--json) or through `render`."""
        if self.json or render is None:
            click.echo(json.dumps(data, indent=None if self.json else 2, sort_keys=False))
        else:
            render(data)

    def done(self, message: str, data: Any = None) -> None:
        """Report a command without a body: a sentence, or {"ok": true, ...} with --json."""
        if self.json:
            click.echo(json.dumps({"ok": True, **(data or {})}))
        else:
            click.echo(message)


def _session() -> Session:
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
        401: "your login is missing or expired: run `mito login`"
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


def verb(group: click.Group, name: str | None = None, **attrs):
    """A leaf command: takes the Session first, accepts --json, turns API errors into messages."""

    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, json_out: bool = False, **kwargs):
            session = _session()
            session.json = session.json or json_out
            try:
                return func(session, *args, **kwargs)
            except ApiError as err:
                raise click.ClickException(explain(err, session)) from err
            except (ValueError, OSError) as err:
                raise click.ClickException(str(err)) from err

        wrapper = click.option("--json", "json_out", is_flag=True, help="Machine-readable JSON output.")(
            wrapper
        )
        return group.command(name, **attrs)(wrapper)

    return decorator


def _split(values: Iterable[str] | None) -> list[str]:
    """Accept repeated options and comma lists: -t a,b -t c -> [a, b, c]."""
    out: list[str] = []
    for value in values or ():
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def _role(text: str) -> str:
    for role in ROLES:
        if text.strip().lower() == role.lower():
            return role
    raise click.BadParameter(f"unknown role {text!r}: use read, write or admin")


def _relations(pairs: Iterable[str], what: str) -> dict[str, str]:
    out = {}
    for pair in _split(pairs):
        name, sep, role = pair.rpartition(":")
        if not sep or not name:
            raise click.BadParameter(f"expected {what}:ROLE, got {pair!r}")
        out[name] = _role(role)
    return out


def _state(text: str) -> str:
    for state in TASK_STATES:
        if text.strip().lower() == state.lower():
            return state
    raise click.BadParameter(f"unknown task state {text!r}: use one of {', '.join(TASK_STATES)}")


def _table(title: str | None, columns: list[str], rows: Iterable[Iterable[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console = Console()
    if not console.is_terminal:
        console = Console(width=250)  # a pipe or file: do not fold uuids at 80 columns
    console.print(table)


def _progress(label: str, enabled: bool):
    """A rich progress bar on stderr for one transfer; yields a callback(done, total)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    @contextlib.contextmanager
    def bar():
        console = Console(stderr=True)
        if not enabled or not console.is_terminal:
            yield None
            return
        with Progress(
            "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            console=console, transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task(label, total=None)
            yield lambda done, total: progress.update(task, completed=done, total=total or None)

    return bar()


# ====================================================================== root group
@click.group("client")
@global_options
def cli() -> None:
    """The Mitosis client."""


@verb(cli, "login")
@click.argument("username", required=False)
@click.argument("password", required=False)
@click.option("--retain", is_flag=True, help="Keep the user's other sessions valid.")
def login(session: Session, username: str | None, password: str | None, retain: bool) -> None:
    """Log in and cache the token (prompts for what is missing)."""
    username = username or session.user or click.prompt("Username")
    if password is None:
        password = (
            getpass.getpass("Password: ") if sys.stdin.isatty() else click.prompt("Password", hide_input=True)
        )
    sdk = Mitosis(session.coordinator)
    token = sdk.login(username, password, retain=retain)
    path = credentials.save(credentials.Credential(username, token, session.coordinator))
    session.done(
        f"Logged in as {username} at {session.coordinator} (token cached in {path})", {"username": username}
    )


@verb(cli, "logout")
@click.argument("username", required=False)
def logout(session: Session, username: str | None) -> None:
    """Forget a cached login (default: the current user)."""
    name = username or session.username
    removed = credentials.remove(name)
    session.done(f"Forgot {name}" if removed else f"{name} was not logged in", {"removed": removed})


@verb(cli, "whoami")
def whoami(session: Session) -> None:
    """Check the cached token with the coordinator and print the user name."""
    name = session.api().auth()
    session.out({"username": name, "coordinator": session.coordinator}, lambda d: click.echo(d["username"]))


@verb(cli, "health")
def health(session: Session) -> None:
    """Ask the coordinator whether it is up."""
    session.out(session.sdk.health(), lambda d: click.echo(d.get("status")))


@verb(cli, "redis")
def redis_info(session: Session) -> None:
    """Print the Redis URL the coordinator hands to clients (empty without Redis)."""
    session.out(session.api().redis_info(), lambda d: click.echo(d.get("url") or ""))


# ====================================================================== users
@cli.group("users")
def users() -> None:
    """Your account."""


@verb(users, "change-password")
@click.argument("old_password", required=False)
@click.argument("new_password", required=False)
def users_change_password(session: Session, old_password: str | None, new_password: str | None) -> None:
    """Change your password (prompts for what is missing); the cached token is refreshed."""
    old = old_password or click.prompt("Current password", hide_input=True)
    new = new_password or click.prompt("New password", hide_input=True, confirmation_prompt=True)
    token = session.api().change_password(session.username, old, new)
    credentials.save(credentials.Credential(session.username, token, session.coordinator))
    session.done("Password changed")


@verb(users, "groups")
def users_groups(session: Session) -> None:
    """The groups you belong to and your role in each."""
    session.out(session.api().user_groups(), lambda d: _table(None, ["group", "role"], sorted(d.items())))


# ====================================================================== groups
@cli.group("groups")
def groups() -> None:
    """Groups, their members and their attachments."""


@verb(groups, "create")
@click.argument("group_name")
def groups_create(session: Session, group_name: str) -> None:
    """Create a group (you become its admin)."""
    session.api().create_group(group_name)
    session.done(f"Created group {group_name}", {"group_name": group_name})


def _render_group(g: dict) -> None:
    rows = [(k, v) for k, v in g.items() if k != "users_in_group"]
    rows.append(("users", ", ".join(f"{u}:{r}" for u, r in sorted((g.get("users_in_group") or {}).items()))))
    _table(g.get("group_name"), ["field", "value"], rows)


@verb(groups, "get")
@click.argument("group_name")
def groups_get(session: Session, group_name: str) -> None:
    """Show a group: quota, usage, members."""
    session.out(session.api().get_group(group_name), _render_group)


@verb(groups, "update-user")
@click.argument("group_name")
@click.argument("relations", nargs=-1, required=True)
def groups_update_user(session: Session, group_name: str, relations: tuple[str, ...]) -> None:
    """Add users or change their roles: USER:read|write|admin ..."""
    rel = _relations(relations, "USER")
    session.api().update_group_users(group_name, rel)
    session.done(f"Updated {len(rel)} member(s) of {group_name}", {"relations": rel})


@verb(groups, "remove-user")
@click.argument("group_name")
@click.argument("usernames", nargs=-1, required=True)
def groups_remove_user(session: Session, group_name: str, usernames: tuple[str, ...]) -> None:
    """Remove users from a group."""
    names = _split(usernames)
    session.api().remove_group_users(group_name, names)
    session.done(f"Removed {', '.join(names)} from {group_name}", {"users": names})


# ---------------------------------------------------------------------- attachments
@groups.group("attachments")
def attachments() -> None:
    """A group's input files (tasks fetch them with -r attachment=KEY:PATH)."""


def _group_of(session: Session, group: str | None) -> str:
    return group or session.username


def _render_attachments(d: dict) -> None:
    rows = [(a["key"], a["size"], a["created_at"], a["updated_at"]) for a in d.get("attachments", [])]
    _table(f"{d.get('group_name')} ({d.get('count')})", ["key", "size", "created", "updated"], rows)


@verb(attachments, "upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("key", required=False)
@click.option("-g", "--group", help="Group (default: your personal group).")
def attachments_upload(session: Session, file: Path, key: str | None, group: str | None) -> None:
    """Upload FILE as KEY (default: the file name; a KEY ending in / gets the file name appended)."""
    key = key or file.name
    if key.endswith("/"):
        key += file.name
    group = _group_of(session, group)
    with _progress(f"upload {key}", not session.json) as progress:
        size = session.api().put_attachment(group, key, file, progress=progress)
    session.done(
        f"Uploaded {file} to {group}/{key} ({size} bytes)", {"group_name": group, "key": key, "size": size}
    )


@verb(attachments, "download")
@click.argument("key")
@click.option("-g", "--group", help="Group (default: your personal group).")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Local path (default: the key's file name)."
)
@click.option("--no-download", is_flag=True, help="Only print the URL and size.")
def attachments_download(
    session: Session, key: str, group: str | None, output: Path | None, no_download: bool
) -> None:
    """Download an attachment."""
    group = _group_of(session, group)
    link = session.api().download_attachment(group, key)
    if no_download:
        session.out(link, lambda d: click.echo(f"{d['url']}  ({d['size']} bytes)"))
        return
    dest = output or Path(key.rsplit("/", 1)[-1])
    if dest.is_dir():
        dest = dest / key.rsplit("/", 1)[-1]
    with _progress(f"download {key}", not session.json) as progress:
        size = session.sdk.fetch_bytes(link["url"], dest, size=link.get("size"), progress=progress)
    session.done(f"Downloaded {group}/{key} to {dest} ({size} bytes)", {"path": str(dest), "size": size})


@verb(attachments, "get")
@click.argument("key")
@click.option("-g", "--group", help="Group (default: your personal group).")
def attachments_get(session: Session, key: str, group: str | None) -> None:
    """Show an attachment's metadata."""
    meta = session.api().get_attachment(_group_of(session, group), key)
    session.out(meta, lambda d: _table(key, ["field", "value"], d.items()))


@verb(attachments, "delete")
@click.argument("key")
@click.option("-g", "--group", help="Group (default: your personal group).")
def attachments_delete(session: Session, key: str, group: str | None) -> None:
    """Delete an attachment."""
    group = _group_of(session, group)
    session.api().delete_attachment(group, key)
    session.done(f"Deleted {group}/{key}", {"group_name": group, "key": key})


def attachment_filter_options(func):
    for option in reversed(
        [
            click.option("-g", "--group", help="Group (default: your personal group)."),
            click.option("-k", "--key", help="Only keys containing this text."),
            click.option("--limit", type=int),
            click.option("--offset", type=int),
        ]
    ):
        func = option(func)
    return func


@verb(attachments, "query")
@attachment_filter_options
@click.option("--count", is_flag=True, help="Only count the matches (ignores --limit/--offset).")
def attachments_query(session: Session, group, key, limit, offset, count) -> None:
    """List a group's attachments."""
    result = session.api().query_attachments(
        _group_of(session, group), key=key, limit=limit, offset=offset, count=count
    )
    session.out(result, _render_attachments)


def _fetch_many(
    session: Session, items: list[dict], name_of: Callable[[dict], str], directory: Path
) -> list[dict]:
    fetched = []
    for item in items:
        dest = directory / name_of(item)
        with _progress(f"download {name_of(item)}", not session.json) as progress:
            size = session.sdk.fetch_bytes(item["url"], dest, size=item.get("size"), progress=progress)
        fetched.append({**item, "path": str(dest), "size": size})
        if not session.json:
            click.echo(f"{dest} ({size} bytes)")
    return fetched


@verb(attachments, "download-many")
@attachment_filter_options
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--no-download", is_flag=True, help="Only print the URLs.")
def attachments_download_many(session: Session, group, key, limit, offset, output: Path, no_download) -> None:
    """Download every attachment matching the filter into a directory (keys become paths)."""
    result = session.api().download_attachments_by_filter(
        _group_of(session, group), key=key, limit=limit, offset=offset
    )
    _attachments_downloaded(session, result, output, no_download)


@verb(attachments, "download-list")
@click.argument("keys", nargs=-1, required=True)
@click.option("-g", "--group", help="Group (default: your personal group).")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--no-download", is_flag=True, help="Only print the URLs.")
def attachments_download_list(session: Session, keys, group, output: Path, no_download) -> None:
    """Download the named attachments into a directory."""
    result = session.api().download_attachments_by_keys(_group_of(session, group), _split(keys))
    _attachments_downloaded(session, result, output, no_download)


def _attachments_downloaded(session: Session, result: dict, output: Path, no_download: bool) -> None:
    if no_download:
        session.out(
            result,
            lambda d: _table(
                None, ["key", "size", "url"], [(x["key"], x["size"], x["url"]) for x in d["downloads"]]
            ),
        )
        return
    fetched = _fetch_many(session, result["downloads"], lambda x: x["key"], output)
    if session.json:
        session.out({"group_name": result.get("group_name"), "downloads": fetched})


@verb(attachments, "delete-many")
@attachment_filter_options
def attachments_delete_many(session: Session, group, key, limit, offset) -> None:
    """Delete every attachment matching the filter."""
    result = session.api().delete_attachments_by_filter(
        _group_of(session, group), key=key, limit=limit, offset=offset
    )
    session.out(
        result, lambda d: click.echo(f"Deleted {d['deleted_count']} attachment(s) of {d['group_name']}")
    )


@verb(attachments, "delete-list")
@click.argument("keys", nargs=-1, required=True)
@click.option("-g", "--group", help="Group (default: your personal group).")
def attachments_delete_list(session: Session, keys, group) -> None:
    """Delete the named attachments."""
    result = session.api().delete_attachments_by_keys(_group_of(session, group), _split(keys))
    session.out(
        result,
        lambda d: click.echo(
            f"Deleted {d['deleted_count']} attachment(s)"
            + (f"; failed: {', '.join(d['failed_keys'])}" if d["failed_keys"] else "")
        ),
    )


# ====================================================================== tasks
@cli.group("tasks")
def tasks() -> None:
    """Submit, watch, change and cancel tasks; their artifacts."""


def _envs(values: Iterable[str]) -> dict[str, str]:
    envs = {}
    for pair in _split(values):
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}")
        envs[name] = value
    return envs


def _resources(values: Iterable[str]) -> list[dict]:
    out = []
    for item in _split(values):
        kind, sep, rest = item.partition("=")
        parts = rest.split(":")
        if kind == "attachment" and sep and len(parts) == 2 and all(parts):
            out.append(attachment_resource(parts[0], parts[1]))
        elif kind == "artifact" and sep and len(parts) == 3 and all(parts):
            out.append(artifact_resource(parts[0], parts[1], parts[2]))
        else:
            raise click.BadParameter(
                f"bad resource {item!r}: use attachment=KEY:LOCAL_PATH or artifact=UUID:TYPE:LOCAL_PATH"
            )
    return out


def _watch(value: str | None) -> list[str] | None:
    if not value:
        return None
    uuid, sep, state = value.partition(",")
    if not sep or not uuid or not state:
        raise click.BadParameter("expected --watch UUID,STATE (e.g. ...,ExecFinished)")
    return [uuid.strip(), state.strip()]


def _timeout(value: str) -> str:
    try:
        parse_duration(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    return value


def task_options(func):
    for option in reversed(
        [
            click.option("-g", "--group", help="Group to submit to (default: your personal group)."),
            click.option("-t", "--tags", multiple=True, help="Tags a worker must carry (comma list)."),
            click.option(
                "-l", "--labels", multiple=True, help="Labels for finding the task later (comma list)."
            ),
            click.option("--timeout", default="10m", show_default=True, help="Run time limit (humantime)."),
            click.option(
                "-p", "--priority", type=int, default=0, show_default=True, help="Higher runs first."
            ),
            click.option(
                "-e", "--env", "envs", multiple=True, help="Environment KEY=VALUE (repeat or comma list)."
            ),
            click.option("--terminal", is_flag=True, help="Capture stdout/stderr as the std-log artifact."),
            click.option(
                "-r",
                "--resource",
                "resources",
                multiple=True,
                help="Fetch before running: attachment=KEY:PATH or artifact=UUID:TYPE:PATH (repeatable).",
            ),  # fmt: skip
            click.option("--watch", help="Wait until task UUID reaches exec STATE: UUID,STATE."),
        ]
    ):
        func = option(func)
    return func


@verb(tasks, "submit", context_settings={"ignore_unknown_options": True})
@task_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def tasks_submit(
    session: Session, group, tags, labels, timeout, priority, envs, terminal, resources, watch, command
):
    """Submit a task: mito tasks submit [options] -- CMD ARGS..."""
    result = session.api().submit_task(
        group_name=_group_of(session, group),
        args=list(command),
        tags=_split(tags),
        labels=_split(labels),
        timeout=_timeout(timeout),
        priority=priority,
        envs=_envs(envs),
        resources=_resources(resources),
        terminal_output=terminal,
        watch=_watch(watch),
    )
    session.out(result, lambda d: click.echo(d["uuid"]))


@verb(tasks, "submit-many")
@click.option(
    "-f",
    "--file",
    "file",
    type=click.File("r"),
    required=True,
    help="JSON list of SubmitTaskReq ('-' = stdin).",
)
def tasks_submit_many(session: Session, file) -> None:
    """Submit many tasks from a JSON file (a list of SubmitTaskReq, or {"tasks": [...]})."""
    data = json.load(file)
    items = data["tasks"] if isinstance(data, dict) else data
    result = session.api().submit_tasks(items)

    def render(d):
        for r in d["results"]:
            click.echo(r["Ok"]["uuid"] if "Ok" in r else f"error: {r['Err'].get('msg')}")

    session.out(result, render)


def _render_task(d: dict) -> None:
    info = d["info"]
    rows = [(k, json.dumps(v) if isinstance(v, dict | list) else v) for k, v in info.items()]
    rows.append(("timeout (h)", format_duration(info.get("timeout") or 0)))
    _table(f"task {info['uuid']}", ["field", "value"], rows)
    if d.get("artifacts"):
        _table(
            "artifacts",
            ["type", "size", "updated"],
            [(a["content_type"], a["size"], a["updated_at"]) for a in d["artifacts"]],
        )


@verb(tasks, "get")
@click.argument("uuid")
def tasks_get(session: Session, uuid: str) -> None:
    """Show a task, its result and its artifacts."""
    session.out(session.api().get_task(uuid), _render_task)


def task_filter_options(func):
    for option in reversed(
        [
            click.option("-c", "--creators", multiple=True, help="Creator user names (comma list)."),
            click.option("-g", "--group", help="Group name."),
            click.option("-t", "--tags", multiple=True, help="Tasks carrying all these tags."),
            click.option("-l", "--labels", multiple=True, help="Tasks carrying all these labels."),
            click.option("-s", "--states", multiple=True, help="States (comma list), e.g. Ready,Running."),
            click.option("-e", "--exit-status", help='Exit status filter, e.g. "0" or "!=0".'),
            click.option("-p", "--priority", help='Priority filter, e.g. ">5".'),
            click.option("--reporter-uuid", help="Worker that committed the task."),
        ]
    ):
        func = option(func)
    return func


def _filters(creators, group, tags, labels, states, exit_status, priority, reporter_uuid) -> dict:
    return dict(
        creator_usernames=_split(creators) or None,
        group_name=group,
        tags=_split(tags) or None,
        labels=_split(labels) or None,
        states=[_state(s) for s in _split(states)] or None,
        exit_status=exit_status,
        priority=priority,
        reporter_uuid=reporter_uuid,
    )


def _exit_of(task: dict) -> str:
    result = task.get("result") or {}
    if not result:
        return ""
    return f"{result.get('exit_status')}" + (f" ({result['msg']})" if result.get("msg") else "")


@verb(tasks, "query")
@task_filter_options
@click.option("--limit", type=int)
@click.option("--offset", type=int)
@click.option("--count", is_flag=True, help="Only count the matches (ignores --limit/--offset).")
@click.option("-v", "--verbose", is_flag=True, help="Show the command line and labels too.")
def tasks_query(session: Session, limit, offset, count, verbose, **flt) -> None:
    """Find tasks (newest first)."""
    result = session.api().query_tasks(limit=limit, offset=offset, count=count, **_filters(**flt))

    def render(d):
        columns = ["uuid", "group", "creator", "state", "exit", "priority", "tags", "created"]
        if verbose:
            columns += ["labels", "command"]
        rows = []
        for t in d["tasks"]:
            row = [t["uuid"], t["group_name"], t["creator_username"], t["state"], _exit_of(t), t["priority"],
                   ",".join(t["tags"]), t["created_at"]]  # fmt: skip
            if verbose:
                row += [",".join(t["labels"]), " ".join((t.get("spec") or {}).get("args", []))]
            rows.append(row)
        _table(f"tasks ({d['count']})" if count else "tasks", columns, rows)

    session.out(result, render)


@verb(tasks, "cancel")
@click.argument("uuid")
def tasks_cancel(session: Session, uuid: str) -> None:
    """Cancel a task (a running one is stopped by its agent)."""
    session.api().cancel_task(uuid)
    session.done(f"Cancelled {uuid}", {"uuid": uuid})


@verb(tasks, "cancel-many")
@task_filter_options
def tasks_cancel_many(session: Session, **flt) -> None:
    """Cancel every task matching the filter."""
    flt.pop("reporter_uuid", None)
    result = session.api().cancel_tasks_by_filter(**_filters(reporter_uuid=None, **flt))
    session.out(result, lambda d: click.echo(f"Cancelled {d['cancelled_count']} task(s)"))


@verb(tasks, "cancel-list")
@click.argument("uuids", nargs=-1, required=True)
def tasks_cancel_list(session: Session, uuids) -> None:
    """Cancel the listed tasks."""
    result = session.api().cancel_tasks_by_uuids(_split(uuids))
    session.out(
        result,
        lambda d: click.echo(
            f"Cancelled {d['cancelled_count']} task(s)"
            + (f"; failed: {', '.join(d['failed_uuids'])}" if d["failed_uuids"] else "")
        ),
    )


@verb(tasks, "update-labels")
@click.argument("uuid")
@click.argument("labels", nargs=-1)
def tasks_update_labels(session: Session, uuid: str, labels) -> None:
    """Replace a task's labels."""
    new = _split(labels)
    session.api().update_task_labels(uuid, new)
    session.done(f"Labels of {uuid}: {', '.join(new) or '(none)'}", {"labels": new})


@verb(tasks, "change", context_settings={"ignore_unknown_options": True})
@click.argument("uuid")
@click.option("-t", "--tags", multiple=True, help="New tags (comma list).")
@click.option("--timeout", help="New timeout (humantime).")
@click.option("-p", "--priority", type=int, help="New priority.")
@click.option("-e", "--env", "envs", multiple=True, help="Environment KEY=VALUE (with a new command).")
@click.option("--terminal", is_flag=True, help="Capture stdout/stderr (with a new command).")
@click.option("-r", "--resource", "resources", multiple=True, help="Resources (with a new command).")
@click.option("--watch", help="UUID,STATE (with a new command).")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def tasks_change(
    session: Session, uuid, tags, timeout, priority, envs, terminal, resources, watch, command
) -> None:
    """Change a task that is still waiting: mito tasks change UUID [options] [-- CMD ARGS]."""
    spec = None
    if command:
        spec = task_spec(
            list(command),
            envs=_envs(envs),
            resources=_resources(resources),
            terminal_output=terminal,
            watch=_watch(watch),
        )
    session.api().update_task(
        uuid,
        tags=_split(tags) or None,
        timeout=_timeout(timeout) if timeout else None,
        priority=priority,
        task_spec=spec,
    )
    session.done(f"Changed {uuid}", {"uuid": uuid})


def exit_code(info: dict) -> int:
    """The shell exit code of a done task: its exit status (signal N -> 128+N); cancelled -> at least 1."""
    result = info.get("result") or {}
    status = int(result.get("exit_status") or 0)
    if status < 0:
        status = 128 - status
    status = status if 0 <= status <= 255 else 1
    if info.get("state") == "Cancelled" and status == 0:
        return 1
    return status


@verb(tasks, "wait")
@click.argument("uuid")
@click.option("--timeout", help="Give up after this long (humantime); exit code 124.")
@click.option("--interval", default="1s", show_default=True, help="Polling interval.")
def tasks_wait(session: Session, uuid: str, timeout: str | None, interval: str) -> None:
    """Wait until a task is done; exit with its exit status (1 when cancelled, 124 on --timeout)."""
    limit = parse_duration(timeout) if timeout else None
    try:
        info = session.api().wait_task(uuid, timeout=limit, interval=parse_duration(interval))
    except TimeoutError as err:
        click.echo(str(err), err=True)
        sys.exit(124)
    result = info.get("result") or {}
    session.out(
        info,
        lambda d: click.echo(f"{uuid} {d['state']} exit_status={result.get('exit_status')}"
                             + (f" ({result['msg']})" if result.get("msg") else "")),
    )  # fmt: skip
    sys.exit(exit_code(info))


# ---------------------------------------------------------------------- artifacts
@tasks.group("artifacts")
def artifacts() -> None:
    """A task's outputs: result, exec-log, std-log (each a .tar.gz)."""


def _type(ctx, param, value):
    if value is None:
        return None
    try:
        return artifact_type(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err


TYPE_ARG = click.argument("content_type", metavar="TYPE", callback=_type)


@verb(artifacts, "upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("uuid")
@TYPE_ARG
def artifacts_upload(session: Session, file: Path, uuid: str, content_type: str) -> None:
    """Upload FILE as a task's artifact of TYPE (result, exec-log, std-log)."""
    with _progress(f"upload {content_type}", not session.json) as progress:
        size = session.api().put_artifact(uuid, content_type, file, progress=progress)
    session.done(f"Uploaded {file} as {uuid}/{content_type} ({size} bytes)", {"size": size})


@verb(artifacts, "download")
@click.argument("uuid")
@TYPE_ARG
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="File or directory (default: ./TYPE.tar.gz)."
)
@click.option("--no-download", is_flag=True, help="Only print the URL and size.")
@click.option("-x", "--extract", "extract_to", type=click.Path(file_okay=False, path_type=Path),
              help="Also unpack the archive into this directory.")  # fmt: skip
def artifacts_download(session: Session, uuid, content_type, output, no_download, extract_to) -> None:
    """Download a task's artifact (a .tar.gz)."""
    link = session.api().download_artifact(uuid, content_type)
    if no_download:
        session.out(link, lambda d: click.echo(f"{d['url']}  ({d['size']} bytes)"))
        return
    dest = output or Path(f"{content_type}.tar.gz")
    if dest.is_dir():
        dest = dest / f"{content_type}.tar.gz"
    with _progress(f"download {content_type}", not session.json) as progress:
        size = session.sdk.fetch_bytes(link["url"], dest, size=link.get("size"), progress=progress)
    data: dict[str, Any] = {"path": str(dest), "size": size}
    if extract_to:
        extract_to.mkdir(parents=True, exist_ok=True)
        with tarfile.open(dest) as archive:
            archive.extractall(extract_to, filter="data")
        data["extracted_to"] = str(extract_to)
    session.done(f"Downloaded {uuid}/{content_type} to {dest} ({size} bytes)"
                 + (f", unpacked into {extract_to}" if extract_to else ""), data)  # fmt: skip


@verb(artifacts, "delete")
@click.argument("uuid")
@TYPE_ARG
def artifacts_delete(session: Session, uuid, content_type) -> None:
    """Delete a task's artifact."""
    session.api().delete_artifact(uuid, content_type)
    session.done(f"Deleted {uuid}/{content_type}", {"uuid": uuid, "content_type": content_type})


def _artifacts_downloaded(
    session: Session, result: dict, content_type: str, output: Path, no_download: bool
) -> None:
    if no_download:
        session.out(
            result,
            lambda d: _table(
                None, ["uuid", "size", "url"], [(x["uuid"], x["size"], x["url"]) for x in d["downloads"]]
            ),
        )
        return
    fetched = _fetch_many(
        session, result["downloads"], lambda x: f"{x['uuid']}/{content_type}.tar.gz", output
    )
    if session.json:
        session.out({"downloads": fetched})


@verb(artifacts, "download-many")
@TYPE_ARG
@task_filter_options
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--no-download", is_flag=True, help="Only print the URLs.")
def artifacts_download_many(session: Session, content_type, output, no_download, **flt) -> None:
    """Download the TYPE artifact of every matching task into DIR/UUID/TYPE.tar.gz."""
    result = session.api().download_artifacts_by_filter(content_type, **_filters(**flt))
    _artifacts_downloaded(session, result, content_type, output, no_download)


@verb(artifacts, "download-list")
@TYPE_ARG
@click.argument("uuids", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--no-download", is_flag=True, help="Only print the URLs.")
def artifacts_download_list(session: Session, content_type, uuids, output, no_download) -> None:
    """Download the TYPE artifact of the listed tasks."""
    result = session.api().download_artifacts_by_uuids(content_type, _split(uuids))
    _artifacts_downloaded(session, result, content_type, output, no_download)


@verb(artifacts, "delete-many")
@TYPE_ARG
@task_filter_options
def artifacts_delete_many(session: Session, content_type, **flt) -> None:
    """Delete the TYPE artifact of every matching task."""
    result = session.api().delete_artifacts_by_filter(content_type, **_filters(**flt))
    session.out(result, lambda d: click.echo(f"Deleted {d['deleted_count']} artifact(s)"))


@verb(artifacts, "delete-list")
@TYPE_ARG
@click.argument("uuids", nargs=-1, required=True)
def artifacts_delete_list(session: Session, content_type, uuids) -> None:
    """Delete the TYPE artifact of the listed tasks."""
    result = session.api().delete_artifacts_by_uuids(content_type, _split(uuids))
    session.out(
        result,
        lambda d: click.echo(
            f"Deleted {d['deleted_count']} artifact(s)"
            + (f"; failed: {', '.join(d['failed_uuids'])}" if d["failed_uuids"] else "")
        ),
    )


# ====================================================================== workers
@cli.group("workers")
def workers() -> None:
    """Worker agents: find them, retag them, grant groups, shut them down."""


def _op(force: bool) -> str:
    return "Force" if force else "Graceful"


FORCE = click.option("-f", "--force", is_flag=True, help="Stop now (the running task goes back to Ready).")


def worker_filter_options(func):
    for option in reversed(
        [
            click.option("-g", "--group", help="Workers serving this group."),
            click.option(
                "-r", "--roles", multiple=True, help="The group's roles on the worker (comma list)."
            ),
            click.option("-t", "--tags", multiple=True, help="Workers carrying all these tags."),
            click.option("-l", "--labels", multiple=True, help="Workers carrying all these labels."),
            click.option("--creator", help="Creator user name."),
        ]
    ):
        func = option(func)
    return func


def _worker_filters(group, roles, tags, labels, creator) -> dict:
    return dict(
        group_name=group,
        role=[_role(r) for r in _split(roles)] or None,
        tags=_split(tags) or None,
        labels=_split(labels) or None,
        creator_username=creator,
    )


@verb(workers, "query")
@worker_filter_options
@click.option("--count", is_flag=True, help="Only count the matches (ignores --limit/--offset).")
@click.option("-v", "--verbose", is_flag=True, help="Show labels and timestamps too.")
def workers_query(session: Session, count, verbose, **flt) -> None:
    """Find workers."""
    result = session.api().query_workers(count=count, **_worker_filters(**flt))

    def render(d):
        columns = ["worker", "creator", "state", "tags", "task", "last heartbeat"]
        if verbose:
            columns += ["labels", "created"]
        rows = []
        for w in d["workers"]:
            row = [w["worker_id"], w["creator_username"], w["state"], ",".join(w["tags"]),
                   w.get("assigned_task_id"), w["last_heartbeat"]]  # fmt: skip
            if verbose:
                row += [",".join(w["labels"]), w["created_at"]]
            rows.append(row)
        _table(f"workers ({d['count']})" if count else "workers", columns, rows)

    session.out(result, render)


@verb(workers, "get")
@click.argument("uuid")
def workers_get(session: Session, uuid: str) -> None:
    """Show a worker and the groups it serves."""

    def render(d):
        rows = [(k, ",".join(v) if isinstance(v, list) else v) for k, v in d["info"].items()]
        rows.append(("groups", ", ".join(f"{g}:{r}" for g, r in sorted(d["groups"].items()))))
        _table(f"worker {uuid}", ["field", "value"], rows)

    session.out(session.api().get_worker(uuid), render)


@verb(workers, "register")
@click.option("-t", "--tags", multiple=True, help="Tags (comma list).")
@click.option(
    "-g", "--groups", multiple=True, help="Groups it serves (comma list; default: your personal group)."
)
@click.option("-l", "--labels", multiple=True, help="Labels (comma list).")
@click.option("--lifetime", help="Token lifetime (humantime).")
def workers_register(session: Session, tags, groups, labels, lifetime) -> None:
    """Register a worker by hand and print its id and token (agents do this themselves)."""
    result = session.api().register_worker(
        tags=_split(tags),
        groups=_split(groups) or [session.username],
        labels=_split(labels),
        lifetime=lifetime,
    )
    session.out(result, lambda d: click.echo(f"{d['worker_id']}\n{d['token']}"))


@verb(workers, "cancel")
@click.argument("uuid")
@FORCE
def workers_cancel(session: Session, uuid: str, force: bool) -> None:
    """Shut a worker down (gracefully unless --force)."""
    session.api().shutdown_worker(uuid, op=_op(force))
    session.done(f"Shutting down {uuid} ({_op(force)})", {"uuid": uuid, "op": _op(force)})


@verb(workers, "cancel-many")
@worker_filter_options
@FORCE
def workers_cancel_many(session: Session, force, **flt) -> None:
    """Shut down every worker matching the filter."""
    result = session.api().shutdown_workers_by_filter(op=_op(force), **_worker_filters(**flt))
    session.out(result, lambda d: click.echo(f"Shutting down {d['shutdown_count']} worker(s)"))


@verb(workers, "cancel-list")
@click.argument("uuids", nargs=-1, required=True)
@FORCE
def workers_cancel_list(session: Session, uuids, force) -> None:
    """Shut down the listed workers."""
    result = session.api().shutdown_workers_by_uuids(_split(uuids), op=_op(force))
    session.out(
        result,
        lambda d: click.echo(
            f"Shutting down {d['shutdown_count']} worker(s)"
            + (f"; failed: {', '.join(d['failed_uuids'])}" if d["failed_uuids"] else "")
        ),
    )


@verb(workers, "update-tags")
@click.argument("uuid")
@click.argument("tags", nargs=-1)
def workers_update_tags(session: Session, uuid, tags) -> None:
    """Replace a worker's tags."""
    new = _split(tags)
    session.api().update_worker_tags(uuid, new)
    session.done(f"Tags of {uuid}: {', '.join(new) or '(none)'}", {"tags": new})


@verb(workers, "update-labels")
@click.argument("uuid")
@click.argument("labels", nargs=-1)
def workers_update_labels(session: Session, uuid, labels) -> None:
    """Replace a worker's labels."""
    new = _split(labels)
    session.api().update_worker_labels(uuid, new)
    session.done(f"Labels of {uuid}: {', '.join(new) or '(none)'}", {"labels": new})


@verb(workers, "update-roles")
@click.argument("uuid")
@click.argument("relations", nargs=-1, required=True)
def workers_update_roles(session: Session, uuid, relations) -> None:
    """Grant groups a role on a worker: GROUP:read|write|admin ..."""
    rel = _relations(relations, "GROUP")
    session.api().update_worker_groups(uuid, rel)
    session.done(f"Updated {len(rel)} group role(s) on {uuid}", {"relations": rel})


@verb(workers, "remove-roles")
@click.argument("uuid")
@click.argument("groups", nargs=-1, required=True)
def workers_remove_roles(session: Session, uuid, groups) -> None:
    """Remove groups from a worker."""
    names = _split(groups)
    session.api().remove_worker_groups(uuid, names)
    session.done(f"Removed {', '.join(names)} from {uuid}", {"groups": names})


# ====================================================================== admin
@cli.group("admin")
def admin() -> None:
    """Administration (admin users only)."""


@admin.group("users")
def admin_users() -> None:
    """Create, delete, lock users; passwords and group quotas."""


@verb(admin_users, "create")
@click.argument("username", required=False)
@click.argument("password", required=False)
@click.option("--admin", "is_admin", is_flag=True, help="Make the user an admin.")
def admin_users_create(session: Session, username, password, is_admin) -> None:
    """Create a user (and their personal group)."""
    username = username or click.prompt("Username")
    password = password or click.prompt("Password", hide_input=True, confirmation_prompt=True)
    session.api().admin_create_user(username, password, admin=is_admin)
    session.done(f"Created user {username}", {"username": username, "admin": is_admin})


@verb(admin_users, "delete")
@click.argument("username")
def admin_users_delete(session: Session, username) -> None:
    """Delete a user."""
    session.out(session.api().admin_delete_user(username), lambda d: click.echo(f"{username}: {d['state']}"))


@verb(admin_users, "change-password")
@click.argument("username")
@click.argument("password", required=False)
def admin_users_change_password(session: Session, username, password) -> None:
    """Set a user's password."""
    password = password or click.prompt("New password", hide_input=True, confirmation_prompt=True)
    session.api().admin_change_password(username, password)
    session.done(f"Password of {username} changed", {"username": username})


@verb(admin_users, "group-quota")
@click.argument("username")
@click.argument("quota")
def admin_users_group_quota(session: Session, username, quota) -> None:
    """Set (10, =10) or change (+5, -3) how many groups a user may create."""
    session.out(
        session.api().admin_change_group_quota(username, quota), lambda d: click.echo(d["group_quota"])
    )


@verb(admin_users, "state")
@click.argument("username")
@click.argument("state", type=click.Choice(["Active", "Locked", "Deleted"], case_sensitive=False))
def admin_users_state(session: Session, username, state) -> None:
    """Set a user's state: Active, Locked or Deleted."""
    result = session.api().admin_change_user_state(username, state.capitalize())
    session.out(result, lambda d: click.echo(f"{username}: {d['state']}"))


@admin.group("groups")
def admin_groups() -> None:
    """Group storage quotas and attachments."""


@verb(admin_groups, "storage-quota")
@click.argument("group_name")
@click.argument("quota")
def admin_groups_storage_quota(session: Session, group_name, quota) -> None:
    """Set a group's storage quota (e.g. 10GB, 1GiB)."""
    parse_size(quota)
    result = session.api().admin_change_storage_quota(group_name, quota)
    session.out(result, lambda d: click.echo(f"{group_name}: {d['storage_quota']} bytes"))


@verb(admin_groups, "delete-attachment")
@click.argument("group_name")
@click.argument("key")
def admin_groups_delete_attachment(session: Session, group_name, key) -> None:
    """Delete any group's attachment."""
    session.api().admin_delete_attachment(group_name, key)
    session.done(f"Deleted {group_name}/{key}", {"group_name": group_name, "key": key})


@admin.group("tasks")
def admin_tasks() -> None:
    """Any task's artifacts."""


@verb(admin_tasks, "delete-artifact")
@click.argument("uuid")
@TYPE_ARG
def admin_tasks_delete_artifact(session: Session, uuid, content_type) -> None:
    """Delete any task's artifact."""
    session.api().admin_delete_artifact(uuid, content_type)
    session.done(f"Deleted {uuid}/{content_type}", {"uuid": uuid, "content_type": content_type})


@admin.group("workers")
def admin_workers() -> None:
    """Any worker."""


@verb(admin_workers, "shutdown")
@click.argument("uuid")
@FORCE
def admin_workers_shutdown(session: Session, uuid, force) -> None:
    """Shut down any worker."""
    session.api().admin_shutdown_worker(uuid, op=_op(force))
    session.done(f"Shutting down {uuid} ({_op(force)})", {"uuid": uuid, "op": _op(force)})


@verb(admin, "shutdown")
@click.argument("secret")
def admin_shutdown(session: Session, secret) -> None:
    """Shut the coordinator down (needs its shutdown secret)."""
    session.api().admin_shutdown_coordinator(secret)
    session.done("Coordinator shutting down")


if __name__ == "__main__":
    cli()
