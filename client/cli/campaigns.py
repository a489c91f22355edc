"""`mito campaigns`: list, follow, cancel and collect parameter sweeps; and the sweep options of
`mito tasks submit` (--sweep, --sweep-file, --repeat, --campaign), which submit a campaign in one request.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from client import collect
from client.bodies import Json
from client.cli import params
from client.cli.output import table
from client.cli.session import Session, verb
from mito.vocab import MAX_CAMPAIGN_TASKS, PointOutcome, TaskState, parse_duration
from mito.vocab.campaigns import CAMPAIGN_NAME, PARAMETER_NAME

Rows = list[dict[str, str]]


@click.group("campaigns")
def campaigns() -> None:
    """Parameter sweeps: follow, cancel, re-run and collect them (submit with `mito tasks submit --sweep`)."""


GROUP = click.option("-g", "--group", help="The campaign's group (default: your personal group).")
NAME_ARG = click.argument("name")


# ---------------------------------------------------------------- the sweep options of `tasks submit`


def _parameter_name(name: str, where: str) -> str:
    if not PARAMETER_NAME.match(name):
        raise click.BadParameter(
            f"{where}: {name!r} is not a parameter name (letters, digits and _, not starting with a digit)"
        )
    if name == "repeat":
        raise click.BadParameter(f"{where}: 'repeat' is reserved ({{repeat}} is the repetition number)")
    return name


def sweep(values: Iterable[str]) -> dict[str, list[str]]:
    """--sweep NAME=V1,V2,... (repeatable): the swept parameters in order."""
    swept: dict[str, list[str]] = {}
    for item in values:
        name, sep, text = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected --sweep NAME=VALUE1,VALUE2,..., got {item!r}")
        name = _parameter_name(name.strip(), f"--sweep {item}")
        if name in swept:
            raise click.BadParameter(f"--sweep {name} is given twice: list all its values in one --sweep")
        values_ = [v.strip() for v in text.split(",")] if text.strip() else []
        if not values_:
            raise click.BadParameter(
                f"--sweep {item}: {name} has an empty value list; give at least one value"
            )
        if "" in values_:
            raise click.BadParameter(f"--sweep {item}: an empty value (two commas in a row?)")
        swept[name] = values_
    return swept


def sweep_file(path: Path) -> Rows:
    """--sweep-file grid.csv: a header row of parameter names, then one row per point."""
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = [name.strip() for name in next(reader, [])]
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    if not header:
        raise click.BadParameter(f"{path} is empty: its first line names the parameters")
    for name in header:
        _parameter_name(name, str(path))
    if len(set(header)) != len(header):
        raise click.BadParameter(f"{path}: a parameter is named twice in its header")
    if not rows:
        raise click.BadParameter(f"{path} has no rows: one row per point after the header")
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise click.BadParameter(f"{path}: a row ({number} of the non-empty lines) has {len(row)} values "
                                     f"for {len(header)} parameters")  # fmt: skip
    return [dict(zip(header, (cell.strip() for cell in row), strict=True)) for row in rows]


def campaign_name(value: str) -> str:
    """--campaign NAME, checked as the coordinator does."""
    if not CAMPAIGN_NAME.match(value):
        raise click.BadParameter(
            f"{value!r}: a campaign name is 1-128 letters, digits, '.', '_' or '-', starting alphanumeric"
        )
    return value


SWEEP_OPTIONS = [
    click.option(
        "--sweep", "sweeps", multiple=True, callback=params.checked(sweep), metavar="NAME=V1,V2",
        help="Submit a campaign: one task per combination of the swept values ({NAME} in the command and "
             "env values). Repeatable.",
    ),
    click.option(
        "--sweep-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
        callback=params.checked(sweep_file),
        help="Submit a campaign: one task per row of a CSV file whose header names the parameters.",
    ),
    click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
                 help="Tasks per point ({repeat} is the repetition number)."),
    click.option("--campaign", callback=params.checked(campaign_name),
                 help="Name of the campaign (default: the program's name and a random suffix)."),
]  # fmt: skip


def wants_campaign(sweeps: dict[str, list[str]], rows: Rows | None, repeat: int, name: str | None) -> bool:
    """Whether `tasks submit` was given any sweep option."""
    return bool(sweeps or rows or repeat > 1 or name)


def submit_campaign(
    session: Session,
    sweeps: dict[str, list[str]],
    rows: Rows | None,
    repeat: int,
    name: str | None,
    **task: Any,
) -> None:
    """Submit the campaign in one request; print its name (stdout) and what it made."""
    count = (len(rows) if rows else 1) * math.prod(len(v) for v in sweeps.values()) * repeat
    if count > MAX_CAMPAIGN_TASKS:
        raise click.UsageError(
            f"the sweep makes {count:,} tasks: over the limit of {MAX_CAMPAIGN_TASKS:,} tasks per campaign"
        )
    made = session.api().create_campaign(parameters=sweeps, points=rows, repeat=repeat, name=name, **task)

    def render(d: Json) -> None:
        click.echo(d["name"])
        if Console(stderr=True).is_terminal:
            click.echo(
                f"campaign {d['name']}: {d['task_count']} tasks submitted; follow it with "
                f"`mito campaigns status {d['name']} --follow`",
                err=True,
            )

    session.out(made, render)


# ---------------------------------------------------------------- mito campaigns ...


@verb(campaigns, "list")
@GROUP
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
def campaigns_list(session: Session, group: str | None, limit: int) -> None:
    """List a group's campaigns, newest first."""
    result = session.api().list_campaigns(session.group_of(group), limit=limit)

    def render(d: Json) -> None:
        rows = [
            (c["name"], c["task_count"], ",".join(c["parameter_names"]), c["repeat"], c["creator_username"],
             c["created_at"])
            for c in d["campaigns"]
        ]  # fmt: skip
        table(
            f"campaigns of {d['group_name']}",
            ["name", "tasks", "parameters", "repeat", "creator", "created"],
            rows,
        )

    session.out(result, render)


@verb(campaigns, "get")
@NAME_ARG
@GROUP
def campaigns_get(session: Session, name: str, group: str | None) -> None:
    """Show a campaign's grid and task template."""
    result = session.api().get_campaign(session.group_of(group), name)

    def render(d: Json) -> None:
        rows: list[tuple[str, Any]] = [(p["name"], ",".join(p["values"])) for p in d["parameters"]]
        if d.get("points"):
            points = d["points"]
            rows.append(("points", f"{len(points['rows'])} rows of {', '.join(points['names'])}"))
        command = " ".join(d["task"]["task_spec"]["args"])
        rows += [("repeat", d["repeat"]), ("tasks", d["task_count"]), ("command", command)]
        rows.append(("created", d["created_at"]))
        table(f"campaign {d['name']} ({d['group_name']})", ["", "value"], rows)

    session.out(result, render)


def _counts(status: Json) -> list[tuple[str, int]]:
    """(state, tasks) in lifecycle order."""
    return [(s.name, status["counts"][s.name]) for s in TaskState if s.name in status["counts"]]


def _outcomes(status: Json) -> list[tuple[str, int]]:
    return [(o.value, status["outcomes"][o.value]) for o in PointOutcome if o.value in status["outcomes"]]


def _summary(status: Json) -> str:
    counts = " ".join(f"{state} {n}" for state, n in _counts(status) if n)
    outcomes = " ".join(f"{o} {n}" for o, n in _outcomes(status) if n)
    return f"{counts}  ({outcomes})" if outcomes else counts


def _render_status(status: Json) -> None:
    done = f"{status['committed']} of {status['task_count']} tasks done"
    click.echo(
        f"campaign {status['name']} ({status['group_name']}): {done}" + (", all" if status["done"] else "")
    )
    table(None, ["state", "tasks"], _counts(status))
    table(None, ["outcome", "tasks"], _outcomes(status))
    if status["failures"]:
        rows = [
            (f["uuid"], " ".join(f"{k}={v}" for k, v in f["params"].items()), f["repeat"], f["state"],
             f["exit_status"], ": ".join(str(f[k]) for k in ("msg", "detail") if f.get(k)))
            for f in status["failures"]
        ]  # fmt: skip
        failed = status["outcomes"][PointOutcome.Failed.value]
        title = f"failures (first {len(rows)} of {failed})" if failed > len(rows) else "failures"
        table(title, ["uuid", "parameters", "repeat", "state", "exit", "why"], rows)


@contextmanager
def _bar(label: str, enabled: bool) -> Iterator[Progress | None]:
    """A counting progress bar on stderr, only on a terminal."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[note]}"))  # fmt: skip
    with Progress(*columns, console=console, transient=True) as bar:
        bar.add_task(label, total=None, note="")
        yield bar


@verb(campaigns, "status")
@NAME_ARG
@GROUP
@click.option("--follow", is_flag=True, help="Show a progress bar and wait until every task is done.")
@click.option("--interval", default="2s", show_default=True, callback=params.checked(params.duration),
              help="Polling interval of --follow.")  # fmt: skip
def campaigns_status(session: Session, name: str, group: str | None, follow: bool, interval: str) -> None:
    """Task counts by state and outcome, and the first failures.

    With --follow: wait until every task is done, then exit 0 if all succeeded, 1 otherwise.
    """
    api, group_name = session.api(), session.group_of(group)
    status = api.campaign_status(group_name, name)
    if follow:
        with _bar(name, not session.json) as bar:
            while True:
                if bar is not None:
                    bar.update(bar.task_ids[0], total=status["task_count"], completed=status["committed"],
                               note=_summary(status))  # fmt: skip
                if status["done"]:
                    break
                time.sleep(parse_duration(interval))
                status = api.campaign_status(group_name, name)
    session.out(status, _render_status)
    if follow and status["outcomes"][PointOutcome.Succeeded.value] != status["task_count"]:
        sys.exit(1)


@verb(campaigns, "cancel")
@NAME_ARG
@GROUP
def campaigns_cancel(session: Session, name: str, group: str | None) -> None:
    """Cancel every task of the campaign that has not ended (running ones are stopped by their agents)."""
    result = session.api().cancel_campaign(session.group_of(group), name)
    session.out(result, lambda d: click.echo(f"Cancelled {d['cancelled_count']} task(s) of {d['name']}"))


@verb(campaigns, "retry")
@NAME_ARG
@GROUP
@click.option("--failed/--no-failed", default=True, show_default=True, help="Re-run the failed points.")
@click.option("--cancelled", is_flag=True, help="Re-run the points cancelled by their user too.")
def campaigns_retry(session: Session, name: str, group: str | None, failed: bool, cancelled: bool) -> None:
    """Re-run the failed points of a campaign as new attempts of their tasks (same uuids)."""
    if not failed and not cancelled:
        raise click.UsageError("nothing to retry: drop --no-failed or add --cancelled")
    result = session.api().retry_campaign(session.group_of(group), name, failed=failed, cancelled=cancelled)
    session.out(result, lambda d: click.echo(f"Re-running {d['retried_count']} task(s) of {d['name']}"))


@verb(campaigns, "collect")
@NAME_ARG
@GROUP
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The CSV file to write (one row per task).")  # fmt: skip
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the result artifacts are unpacked and kept (default: NAME/ beside the output).",
)
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Downloads at once.")  # fmt: skip
def campaigns_collect(
    session: Session, name: str, group: str | None, output: Path, results_dir: Path | None, jobs: int
) -> None:
    """Merge one row per task into a CSV: parameters, state, exit status, worker and result.json's values.

    Each finished task's `result` artifact is fetched once (a new run fetches only new results).
    """
    directory = results_dir or output.parent / name
    with _bar(f"collect {name}", not session.json) as bar:

        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar.update(bar.task_ids[0], completed=done, total=total)

        try:
            collected = collect.collect(
                session.api(), session.group_of(group), name, directory, jobs=jobs, progress=progress
            )
        except collect.CollectError as err:
            raise click.ClickException(str(err)) from err
    collect.write_csv(collected, output)
    summary = {
        "output": str(output), "results_dir": str(directory), "rows": len(collected.rows),
        "fetched": collected.fetched, "reused": collected.reused, "without_result": collected.without_result,
    }  # fmt: skip

    def render(d: Json) -> None:
        click.echo(f"{d['output']}: {d['rows']} rows ({d['fetched']} results fetched, {d['reused']} already "
                   f"in {d['results_dir']})")  # fmt: skip
        if d["without_result"]:
            click.echo(f"{len(d['without_result'])} finished task(s) left no result.json", err=True)

    session.out(summary, render)
