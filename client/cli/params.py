"""What the CLI accepts and how it checks it before any request: uuids, roles, states, KEY=VALUE
environments, resources, durations, and the option bundles that several commands share (filters, --force).

Invalid input is a usage error (exit 2) that names the bad value; nothing is sent to the coordinator.
"""

from __future__ import annotations

import re
import uuid as uuid_lib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

from client.bodies import Json, artifact_resource, artifact_type, attachment_resource
from mito.vocab import ExecState, Role, ShutdownOp, TaskState, parse_duration

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

# -e A=1,B=2 is two variables, -e CUDA_VISIBLE_DEVICES=0,1 is one: a comma starts a new pair only when a
# NAME= follows it.
_NEXT_PAIR = re.compile(r",\s*(?=[A-Za-z_][A-Za-z0-9_]*=)")


def split(values: Iterable[str] | None) -> list[str]:
    """Accept repeated options and comma lists: -t a,b -t c -> [a, b, c]."""
    out: list[str] = []
    for value in values or ():
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def _bad(message: str) -> click.BadParameter:
    return click.BadParameter(message)


def valid_uuid(text: str) -> str:
    """The canonical form of a uuid; a usage error that says the uuid is invalid otherwise."""
    try:
        return str(uuid_lib.UUID(text.strip()))
    except ValueError:
        raise _bad(f"invalid uuid {text!r} (expected e.g. 123e4567-e89b-12d3-a456-426614174000)") from None


def one_uuid(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Callback for a UUID argument, checked before any request (a bad one would meet "no such route")."""
    return valid_uuid(value)


def uuid_list(_ctx: click.Context, _param: click.Parameter, values: Iterable[str] | None) -> list[str]:
    """Callback for UUIDS... arguments: repeated or comma-separated uuids, each checked."""
    return [valid_uuid(v) for v in split(values)]


def optional_uuid(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """Callback for an optional uuid option."""
    return None if value is None else valid_uuid(value)


def role(text: str) -> Role:
    """A role from any casing of Read, Write, Admin."""
    try:
        return Role.parse(text)
    except ValueError:
        raise _bad(f"unknown role {text!r}: use read, write or admin") from None


def relations(pairs: Iterable[str], what: str) -> dict[str, str]:
    """NAME:ROLE pairs (repeated or comma lists) as {name: wire role}."""
    out = {}
    for pair in split(pairs):
        name, sep, text = pair.rpartition(":")
        if not sep or not name:
            raise _bad(f"expected {what}:ROLE, got {pair!r}")
        out[name] = role(text).name
    return out


def task_state(text: str) -> TaskState:
    """A task state from any casing of its name."""
    try:
        return TaskState.parse(text)
    except ValueError:
        names = ", ".join(s.name for s in TaskState)
        raise _bad(f"unknown task state {text!r}: use one of {names}") from None


def envs(values: Iterable[str]) -> dict[str, str]:
    """-e KEY=VALUE, repeated or as KEY=VALUE,KEY2=VALUE2; a value may hold commas (-e DEVICES=0,1)."""
    out = {}
    for value in values:
        for pair in _NEXT_PAIR.split(value):
            name, sep, text = pair.partition("=")
            if not sep or not name.strip():
                raise _bad(f"expected KEY=VALUE, got {pair!r}")
            out[name.strip()] = text
    return out


def resources(values: Iterable[str]) -> list[Json]:
    """-r attachment=KEY:PATH or artifact=UUID:TYPE:PATH (repeated or comma lists)."""
    out = []
    for item in split(values):
        kind, sep, rest = item.partition("=")
        parts = rest.split(":")
        if kind == "attachment" and sep and len(parts) == 2 and all(parts):
            out.append(attachment_resource(parts[0], parts[1]))
        elif kind == "artifact" and sep and len(parts) == 3 and all(parts):
            out.append(artifact_resource(valid_uuid(parts[0]), parts[1], parts[2]))
        else:
            raise _bad(
                f"bad resource {item!r}: use attachment=KEY:LOCAL_PATH or artifact=UUID:TYPE:LOCAL_PATH"
            )
    return out


def watch(value: str | None) -> list[str] | None:
    """--watch UUID,STATE: the upstream task and the exec state to wait for."""
    if not value:
        return None
    task, sep, state = value.partition(",")
    if not sep or not task or not state:
        raise _bad("expected --watch UUID,STATE (e.g. ...,ExecFinished)")
    exec_state = ExecState.parse(state.strip())
    if exec_state is ExecState.Unknown:
        names = ", ".join(s.name for s in ExecState if s is not ExecState.Unknown)
        raise _bad(f"unknown exec state {state.strip()!r} in --watch: use one of {names}")
    return [valid_uuid(task), exec_state.name]


def duration(value: str) -> str:
    """A humantime duration (10m, 2h 30m), checked and passed on as written."""
    try:
        parse_duration(value)
    except ValueError as err:
        raise _bad(str(err)) from err
    return value


def checked(parse: Callable[[Any], T]) -> Callable[[click.Context, click.Parameter, Any], T | None]:
    """An option callback that parses the option's value while click parses the command line (so a bad
    value is a usage error even before login); an absent option stays None."""

    def callback(_ctx: click.Context, _param: click.Parameter, value: Any) -> T | None:
        return None if value is None else parse(value)

    return callback


def _artifact_type(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return artifact_type(value)
    except ValueError as err:
        raise _bad(str(err)) from err


TYPE_ARG = click.argument("content_type", metavar="TYPE", callback=_artifact_type)
UUID_ARG = click.argument("uuid", callback=one_uuid)
UUIDS_ARG = click.argument("uuids", nargs=-1, required=True, callback=uuid_list)
OUTPUT_DIR = click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Directory to download into.",
)
URLS_ONLY = click.option("--no-download", is_flag=True, help="Only print the URLs.")
FORCE = click.option("-f", "--force", is_flag=True, help="Stop now (the running task goes back to Ready).")


def shutdown_op(force: bool) -> ShutdownOp:
    """--force means Force, else Graceful."""
    return ShutdownOp.Force if force else ShutdownOp.Graceful


def bundle(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    """One decorator for several options, in the order given (as --help lists them)."""

    def apply(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


task_filter_options = bundle(
    [
        click.option("-c", "--creators", multiple=True, help="Creator user names (comma list)."),
        click.option("-g", "--group", help="Group name."),
        click.option("-t", "--tags", multiple=True, help="Tasks carrying all these tags."),
        click.option("-l", "--labels", multiple=True, help="Tasks carrying all these labels."),
        click.option("-s", "--states", multiple=True, help="States (comma list), e.g. Ready,Running."),
        click.option("-e", "--exit-status", help='Exit status filter, e.g. "0" or "!=0".'),
        click.option("-p", "--priority", help='Priority filter, e.g. ">5".'),
        click.option("--reporter-uuid", callback=optional_uuid, help="Worker that committed the task."),
    ]
)


def task_filters(
    creators: Iterable[str],
    group: str | None,
    tags: Iterable[str],
    labels: Iterable[str],
    states: Iterable[str],
    exit_status: str | None,
    priority: str | None,
    reporter_uuid: str | None,
) -> dict[str, Any]:
    """The task_filter() keywords from task_filter_options' values."""
    return dict(
        creator_usernames=split(creators) or None,
        group_name=group,
        tags=split(tags) or None,
        labels=split(labels) or None,
        states=[task_state(s).name for s in split(states)] or None,
        exit_status=exit_status,
        priority=priority,
        reporter_uuid=reporter_uuid,
    )


worker_filter_options = bundle(
    [
        click.option("-g", "--group", help="Workers serving this group."),
        click.option("-r", "--roles", multiple=True, help="The group's roles on the worker (comma list)."),
        click.option("-t", "--tags", multiple=True, help="Workers carrying all these tags."),
        click.option("-l", "--labels", multiple=True, help="Workers carrying all these labels."),
        click.option("--creator", help="Creator user name."),
    ]
)


def worker_filters(
    group: str | None,
    roles: Iterable[str],
    tags: Iterable[str],
    labels: Iterable[str],
    creator: str | None,
) -> dict[str, Any]:
    """The worker_filter() keywords from worker_filter_options' values."""
    return dict(
        group_name=group,
        role=[role(r).name for r in split(roles)] or None,
        tags=split(tags) or None,
        labels=split(labels) or None,
        creator_username=creator,
    )


attachment_filter_options = bundle(
    [
        click.option("-g", "--group", help="Group (default: your personal group)."),
        click.option("-k", "--key", help="Only keys containing this text."),
        click.option("--limit", type=int),
        click.option("--offset", type=int),
    ]
)
