"""`mito tasks`: submit, find, change, cancel and wait for tasks (their artifacts are in artifacts.py)."""

from __future__ import annotations

import json
import sys
from typing import IO, Any, NoReturn

import click

from client.bodies import Json, task_spec
from client.cli import campaigns, params, retries
from client.cli.output import TaskStatus, table
from client.cli.retries import policy as retry_policy
from client.cli.session import Session, verb
from client.http import ApiError
from client.live_output import NoOutputKept
from client.sdk import Mitosis
from mito.vocab import TaskState, format_duration, parse_duration
from mito.vocab.queries import QUERY_LIMIT_MAX

WAIT_TIMEOUT_EXIT = 124

EXIT_CODES = """\b
Exit codes:
  N      the task's exit status (0 when it succeeded)
  128+N  the task was killed by signal N (SIGTERM: 143, SIGKILL: 137)
  1      the task was cancelled with exit status 0 (a cancelled task never exits 0), or an error
  124    --timeout expired before the task ended
  2      a usage error (e.g. an invalid uuid)"""


@click.group("tasks")
def tasks() -> None:
    """Submit, watch, change and cancel tasks; their artifacts."""


def _task_options(func: params.F) -> params.F:
    options = [
        click.option("-g", "--group", help="Group to submit to (default: your personal group)."),
        click.option("-t", "--tags", multiple=True, help="Tags a worker must carry (comma list)."),
        click.option("-l", "--labels", multiple=True, help="Labels for finding the task later (comma list)."),
        click.option(
            "--timeout", default="10m", show_default=True, callback=params.checked(params.duration),
            help="Run time limit (humantime).",
        ),
        click.option("-p", "--priority", type=int, default=0, show_default=True, help="Higher runs first."),
        click.option(
            "-e", "--env", "envs", multiple=True, callback=params.checked(params.envs),
            help="Environment KEY=VALUE (repeat, or KEY=VALUE,KEY2=VALUE2; a value may hold commas).",
        ),
        click.option("--terminal", is_flag=True, help="Capture stdout/stderr as the std-log artifact."),
        click.option(
            "-r", "--resource", "resources", multiple=True, callback=params.checked(params.resources),
            help="Fetch before running: attachment=KEY:PATH or artifact=UUID:TYPE:PATH (repeatable).",
        ),
        click.option(
            "--watch", callback=params.checked(params.watch),
            help="Wait until task UUID reaches exec STATE: UUID,STATE.",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


# The command's own words follow the options: once CMD starts, `-la` in `mito tasks submit ls -la` is ls's.
@verb(tasks, "submit", context_settings={"allow_interspersed_args": False})
@_task_options
@params.bundle(retries.RETRY_OPTIONS)
@params.bundle(campaigns.SWEEP_OPTIONS)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def tasks_submit(
    session: Session,
    group: str | None,
    tags: tuple[str, ...],
    labels: tuple[str, ...],
    timeout: str,
    priority: int,
    envs: dict[str, str],
    terminal: bool,
    resources: list[Json],
    watch: list[str] | None,
    retries: int | None,
    retry_on: list[str] | None,
    retry_delay: str | None,
    retry_backoff: str | None,
    sweeps: dict[str, list[str]] | None,
    sweep_file: list[dict[str, str]] | None,
    repeat: int,
    campaign: str | None,
    command: tuple[str, ...],
) -> None:
    """Submit a task: mito tasks submit [options] [--] CMD ARGS...

    Every word from CMD on belongs to the command, options included (`mito tasks submit ls -la`).
    With --sweep, --sweep-file, --repeat or --campaign it submits a campaign, one task per point, in one
    request, and prints the campaign's name: `{NAME}` in the command and env values is the point's value.
    """
    task: dict[str, Any] = dict(
        group_name=session.group_of(group),
        args=list(command),
        tags=params.split(tags),
        labels=params.split(labels),
        timeout=timeout,
        priority=priority,
        envs=envs,
        resources=resources,
        terminal_output=terminal,
        watch=watch,
        retry=retry_policy(retries, retry_on, retry_delay, retry_backoff),
    )
    if campaigns.wants_campaign(sweeps or {}, sweep_file, repeat, campaign):
        campaigns.submit_campaign(session, sweeps or {}, sweep_file, repeat, campaign, **task)
        return
    api = session.api()
    result = api.submit_task(**task)
    session.out(result, lambda d: click.echo(d["uuid"]))
    _warn_if_unrunnable(api, str(result["uuid"]))


def _warn_if_unrunnable(api: Mitosis, uuid: str) -> None:
    """Warn on stderr when no registered worker could ever run the task (exit status unchanged)."""
    try:
        facts = api.explain_task(uuid)
    except ApiError:  # a coordinator without explain, or a hiccup: the submission itself succeeded
        return
    workers = facts.get("workers") or {}
    if facts.get("state") == TaskState.Ready.name and workers.get("tags") == 0:
        click.echo(f"warning: no registered worker could run task {uuid}: {facts['verdict']}", err=True)


@verb(tasks, "submit-many")
@click.option(
    "-f",
    "--file",
    "file",
    type=click.File("r"),
    required=True,
    help="JSON list of SubmitTaskReq ('-' = stdin).",
)
def tasks_submit_many(session: Session, file: IO[str]) -> None:
    """Submit many tasks from a JSON file (a list of SubmitTaskReq, or {"tasks": [...]})."""
    data = json.load(file)
    items = data["tasks"] if isinstance(data, dict) else data
    result = session.api().submit_tasks(items)

    def render(d: Json) -> None:
        for r in d["results"]:
            click.echo(r["Ok"]["uuid"] if "Ok" in r else f"error: {r['Err'].get('msg')}")

    session.out(result, render)


def _render_task(d: Json) -> None:
    info = d["info"]
    rows = [(k, json.dumps(v) if isinstance(v, dict | list) else v) for k, v in info.items()]
    rows.append(("timeout (h)", format_duration(info.get("timeout") or 0)))
    table(f"task {info['uuid']}", ["field", "value"], rows)
    if d.get("artifacts"):
        table(
            "artifacts",
            ["type", "size", "updated"],
            [(a["content_type"], a["size"], a["updated_at"]) for a in d["artifacts"]],
        )
    if d.get("attempts"):
        retries.render_attempts(d["attempts"])


@verb(tasks, "get")
@params.UUID_ARG
def tasks_get(session: Session, uuid: str) -> None:
    """Show a task, its result and its artifacts."""
    session.out(session.api().get_task(uuid), _render_task)


def _why(result: Json) -> str:
    """` (msg: detail)` of a result that says why it did not succeed, else nothing."""
    reasons = [str(result[k]) for k in ("msg", "detail") if result.get(k)]
    return f" ({': '.join(reasons)})" if reasons else ""


def _exit_of(task: Json) -> str:
    result = task.get("result") or {}
    if not result:
        return ""
    return f"{result.get('exit_status')}{_why(result)}"


def _render_explain(d: Json) -> None:
    click.echo(d["verdict"])
    workers = d.get("workers")
    if workers:
        rows = [
            ("live workers", workers["live"]),
            ("that its group may use", workers["group"]),
            ("carrying all its tags", workers["tags"]),
            ("idle", workers["idle"]),
            ("tasks ahead in its queue", f"{d['ahead']}{'+' if d.get('ahead_capped') else ''}"),
        ]
        if d.get("missing_tags"):
            rows.append(("tags the closest workers lack", ", ".join(d["missing_tags"])))
        table(None, ["fact", "value"], rows)
    for key in ("upstream", "watch"):
        if d.get(key):
            click.echo(f"{key}: {d[key]['uuid']} ({d[key]['state'] or 'not found'})")


@verb(tasks, "explain")
@params.UUID_ARG
def tasks_explain(session: Session, uuid: str) -> None:
    """Why a task is not running (yet): worker counts, missing tags, tasks ahead, and a verdict."""
    session.out(session.api().explain_task(uuid), _render_explain)


@verb(tasks, "logs")
@params.UUID_ARG
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output until the task has ended.")
@click.option("--stderr", is_flag=True, help="Show stderr instead of stdout.")
@click.option("--tail", type=click.IntRange(min=0), help="Only the last N lines of what exists already.")
def tasks_logs(session: Session, uuid: str, follow: bool, stderr: bool, tail: int | None) -> None:
    """Print a task's output: live while it runs (-f: until it ends), from its std-log artifact after.

    A running task's output is the coordinator's tail of it (the newest chunks; see docs/live-output.md)
    whether or not it was submitted with --terminal; once it has ended, only --terminal kept it.
    """
    stream = "stderr" if stderr else "stdout"
    pieces = session.api().task_logs(uuid, stream=stream, follow=follow, tail=tail)
    try:
        if session.json:
            session.out({"uuid": uuid, "stream": stream, "output": "".join(pieces)})
            return
        for piece in pieces:
            click.echo(piece, nl=False)
            sys.stdout.flush()
    except NoOutputKept as err:
        raise click.ClickException(str(err)) from err


@verb(tasks, "query")
@params.task_filter_options
@click.option("--limit", type=int, help=f"At most this many (up to {QUERY_LIMIT_MAX}, the default).")
@click.option("--offset", type=int)
@click.option("--cursor", help="Continue after the page that printed this cursor.")
@click.option("--count", is_flag=True, help="Only count the matches (ignores --limit/--offset).")
@click.option("-v", "--verbose", is_flag=True, help="Show the command line and labels too.")
def tasks_query(
    session: Session,
    limit: int | None,
    offset: int | None,
    cursor: str | None,
    count: bool,
    verbose: bool,
    **flt: Any,
) -> None:
    """Find tasks (newest first), one page at a time."""
    filters = params.task_filters(**flt)
    result = session.api().query_tasks(limit=limit, offset=offset, cursor=cursor, count=count, **filters)

    def render(d: Json) -> None:
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
        total = f"{d['count']}+" if d.get("exact") is False else str(d["count"])  # + : at least
        table(f"tasks ({total})" if count else "tasks", columns, rows)
        if d.get("next_cursor"):
            click.echo(f"more: add --cursor {d['next_cursor']}")

    session.out(result, render)


def exit_code(info: Json) -> int:
    """The shell exit code of a done task: its exit status (signal N -> 128+N); cancelled -> at least 1."""
    result = info.get("result") or {}
    status = int(result.get("exit_status") or 0)
    if status < 0:
        status = 128 - status
    status = status if 0 <= status <= 255 else 1
    if TaskState.parse(info["state"]) is TaskState.Cancelled and status == 0:
        return 1
    return status


def _ended(uuid: str, info: Json) -> str:
    result = info.get("result") or {}
    return f"{uuid} {info['state']} exit_status={result.get('exit_status')}{_why(result)}"


def _wait(session: Session, api: Mitosis, uuid: str, timeout: str | None, interval: str) -> Json:
    """Poll until the task has ended, showing its state on a terminal; exit 124 when `timeout` expires."""
    limit = parse_duration(timeout) if timeout else None
    with TaskStatus(uuid, not session.json) as status:
        try:
            return api.wait_task(
                uuid, timeout=limit, interval=parse_duration(interval), on_poll=status.update
            )
        except TimeoutError as err:
            error = err
    click.echo(str(error), err=True)
    sys.exit(WAIT_TIMEOUT_EXIT)


WAIT_TIMEOUT = click.option(
    "--timeout",
    callback=params.checked(params.duration),
    help="Give up after this long (humantime); exit 124.",
)
WAIT_INTERVAL = click.option(
    "--interval",
    default="1s",
    show_default=True,
    callback=params.checked(params.duration),
    help="Polling interval.",
)


@verb(tasks, "wait", epilog=EXIT_CODES)
@params.UUID_ARG
@WAIT_TIMEOUT
@WAIT_INTERVAL
def tasks_wait(session: Session, uuid: str, timeout: str | None, interval: str) -> NoReturn:
    """Wait until a task has ended; exit with its exit status (see below).

    On a terminal, its state is shown as it changes, with the time waited.
    """
    info = _wait(session, session.api(), uuid, timeout, interval)
    session.out(info, lambda d: click.echo(_ended(uuid, d)))
    sys.exit(exit_code(info))


@verb(tasks, "cancel")
@params.UUID_ARG
@click.option("--wait", "wait", is_flag=True, help="Wait until the task has ended (its agent stopped it).")
@WAIT_TIMEOUT
@WAIT_INTERVAL
def tasks_cancel(session: Session, uuid: str, wait: bool, timeout: str | None, interval: str) -> None:
    """Cancel a task: a waiting one at once, a running one by its agent (cancellation is requested).

    --wait waits until the task has ended: exit 0 then, 124 when --timeout expires first.
    """
    api = session.api()
    api.cancel_task(uuid)
    if wait:
        info = _wait(session, api, uuid, timeout, interval)
        session.out(info, lambda d: click.echo(_ended(uuid, d)))
        return
    info = api.get_task(uuid)["info"]
    if info.get("result") is None:
        session.done(
            f"Cancellation of {uuid} requested: its agent stops it (`mito tasks wait {uuid}` waits for that)",
            {"uuid": uuid, "cancel_requested": True},
        )
    elif TaskState.parse(info["state"]) is TaskState.Cancelled:
        session.done(f"Cancelled {uuid}", {"uuid": uuid})
    else:
        session.done(f"{uuid} had already ended: {info['state']}", {"uuid": uuid, "state": info["state"]})


@verb(tasks, "cancel-many")
@params.task_filter_options
def tasks_cancel_many(session: Session, **flt: Any) -> None:
    """Cancel every task matching the filter (for running ones, cancellation is requested)."""
    flt["reporter_uuid"] = None
    result = session.api().cancel_tasks_by_filter(**params.task_filters(**flt))
    session.out(result, lambda d: click.echo(f"Cancelled {d['cancelled_count']} task(s)"))


@verb(tasks, "retry")
@params.UUID_ARG
def tasks_retry(session: Session, uuid: str) -> None:
    """Re-run a committed task as a new attempt: same uuid, its place in the queue, a renewed retry budget."""
    result = session.api().retry_task(uuid)
    session.out(result, lambda d: click.echo(d["uuid"]))


@verb(tasks, "retry-many")
@params.task_filter_options
def tasks_retry_many(session: Session, **flt: Any) -> None:
    """Re-run every committed task matching the filter (e.g. --exit-status '!=0')."""
    flt["reporter_uuid"] = None
    result = session.api().retry_tasks_by_filter(**params.task_filters(**flt))
    session.out(result, lambda d: click.echo(f"Re-running {d['retried_count']} task(s)"))


@verb(tasks, "cancel-list")
@params.UUIDS_ARG
def tasks_cancel_list(session: Session, uuids: list[str]) -> None:
    """Cancel the listed tasks (for running ones, cancellation is requested)."""
    result = session.api().cancel_tasks_by_uuids(uuids)
    session.out(
        result,
        lambda d: click.echo(
            f"Cancelled {d['cancelled_count']} task(s)"
            + (f"; failed: {', '.join(d['failed_uuids'])}" if d["failed_uuids"] else "")
        ),
    )


@verb(tasks, "update-labels")
@params.UUID_ARG
@click.argument("labels", nargs=-1)
def tasks_update_labels(session: Session, uuid: str, labels: tuple[str, ...]) -> None:
    """Replace a task's labels."""
    new = params.split(labels)
    session.api().update_task_labels(uuid, new)
    session.done(f"Labels of {uuid}: {', '.join(new) or '(none)'}", {"labels": new})


@verb(tasks, "change", context_settings={"ignore_unknown_options": True})
@params.UUID_ARG
@click.option("-t", "--tags", multiple=True, help="New tags (comma list).")
@click.option("--timeout", callback=params.checked(params.duration), help="New timeout (humantime).")
@click.option("-p", "--priority", type=int, help="New priority.")
@click.option(
    "-e", "--env", "envs", multiple=True, callback=params.checked(params.envs),
    help="Environment KEY=VALUE (with a new command).",
)  # fmt: skip
@click.option("--terminal", is_flag=True, help="Capture stdout/stderr (with a new command).")
@click.option(
    "-r", "--resource", "resources", multiple=True, callback=params.checked(params.resources),
    help="Resources (with a new command).",
)  # fmt: skip
@click.option("--watch", callback=params.checked(params.watch), help="UUID,STATE (with a new command).")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def tasks_change(
    session: Session,
    uuid: str,
    tags: tuple[str, ...],
    timeout: str | None,
    priority: int | None,
    envs: dict[str, str],
    terminal: bool,
    resources: list[Json],
    watch: list[str] | None,
    command: tuple[str, ...],
) -> None:
    """Change a task that is still waiting: mito tasks change UUID [options] [-- CMD ARGS]."""
    spec = None
    if command:
        spec = task_spec(list(command), envs=envs, resources=resources, terminal_output=terminal, watch=watch)
    session.api().update_task(
        uuid,
        tags=params.split(tags) or None,
        timeout=timeout,
        priority=priority,
        task_spec=spec,
    )
    session.done(f"Changed {uuid}", {"uuid": uuid})
