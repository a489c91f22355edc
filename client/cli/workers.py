"""`mito workers`: find worker agents, retag them, grant groups, shut them down."""

from __future__ import annotations

from typing import Any

import click

from client.bodies import Json
from client.cli import params
from client.cli.output import table
from client.cli.session import Session, verb


@click.group("workers")
def workers() -> None:
    """Worker agents: find them, retag them, grant groups, shut them down."""


@verb(workers, "query")
@params.worker_filter_options
@click.option("--count", is_flag=True, help="Only count the matches (ignores --limit/--offset).")
@click.option("-v", "--verbose", is_flag=True, help="Show labels and timestamps too.")
def workers_query(session: Session, count: bool, verbose: bool, **flt: Any) -> None:
    """Find workers."""
    result = session.api().query_workers(count=count, **params.worker_filters(**flt))

    def render(d: Json) -> None:
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
        table(f"workers ({d['count']})" if count else "workers", columns, rows)

    session.out(result, render)


@verb(workers, "get")
@params.UUID_ARG
def workers_get(session: Session, uuid: str) -> None:
    """Show a worker and the groups it serves."""

    def render(d: Json) -> None:
        rows = [(k, ",".join(v) if isinstance(v, list) else v) for k, v in d["info"].items()]
        rows.append(("groups", ", ".join(f"{g}:{r}" for g, r in sorted(d["groups"].items()))))
        table(f"worker {uuid}", ["field", "value"], rows)

    session.out(session.api().get_worker(uuid), render)


@verb(workers, "register")
@click.option("-t", "--tags", multiple=True, help="Tags (comma list).")
@click.option(
    "-g", "--groups", multiple=True, help="Groups it serves (comma list; default: your personal group)."
)
@click.option("-l", "--labels", multiple=True, help="Labels (comma list).")
@click.option("--lifetime", help="Token lifetime (humantime).")
def workers_register(
    session: Session,
    tags: tuple[str, ...],
    groups: tuple[str, ...],
    labels: tuple[str, ...],
    lifetime: str | None,
) -> None:
    """Register a worker by hand and print its id and token (agents do this themselves)."""
    result = session.api().register_worker(
        tags=params.split(tags),
        groups=params.split(groups) or [session.username],
        labels=params.split(labels),
        lifetime=lifetime,
    )
    session.out(result, lambda d: click.echo(f"{d['worker_id']}\n{d['token']}"))


@verb(workers, "cancel")
@params.UUID_ARG
@params.FORCE
def workers_cancel(session: Session, uuid: str, force: bool) -> None:
    """Shut a worker down (gracefully unless --force)."""
    op = params.shutdown_op(force)
    session.api().shutdown_worker(uuid, op=op)
    session.done(f"Shutting down {uuid} ({op.name})", {"uuid": uuid, "op": op.name})


@verb(workers, "cancel-many")
@params.worker_filter_options
@params.FORCE
def workers_cancel_many(session: Session, force: bool, **flt: Any) -> None:
    """Shut down every worker matching the filter."""
    op = params.shutdown_op(force)
    result = session.api().shutdown_workers_by_filter(op=op, **params.worker_filters(**flt))
    session.out(result, lambda d: click.echo(f"Shutting down {d['shutdown_count']} worker(s)"))


@verb(workers, "cancel-list")
@params.UUIDS_ARG
@params.FORCE
def workers_cancel_list(session: Session, uuids: list[str], force: bool) -> None:
    """Shut down the listed workers."""
    result = session.api().shutdown_workers_by_uuids(uuids, op=params.shutdown_op(force))
    session.out(
        result,
        lambda d: click.echo(
            f"Shutting down {d['shutdown_count']} worker(s)"
            + (f"; failed: {', '.join(d['failed_uuids'])}" if d["failed_uuids"] else "")
        ),
    )


@verb(workers, "update-tags")
@params.UUID_ARG
@click.argument("tags", nargs=-1)
def workers_update_tags(session: Session, uuid: str, tags: tuple[str, ...]) -> None:
    """Replace a worker's tags."""
    new = params.split(tags)
    session.api().update_worker_tags(uuid, new)
    session.done(f"Tags of {uuid}: {', '.join(new) or '(none)'}", {"tags": new})


@verb(workers, "update-labels")
@params.UUID_ARG
@click.argument("labels", nargs=-1)
def workers_update_labels(session: Session, uuid: str, labels: tuple[str, ...]) -> None:
    """Replace a worker's labels."""
    new = params.split(labels)
    session.api().update_worker_labels(uuid, new)
    session.done(f"Labels of {uuid}: {', '.join(new) or '(none)'}", {"labels": new})


@verb(workers, "update-roles")
@params.UUID_ARG
@click.argument("relations", nargs=-1, required=True)
def workers_update_roles(session: Session, uuid: str, relations: tuple[str, ...]) -> None:
    """Grant groups a role on a worker: GROUP:read|write|admin ..."""
    rel = params.relations(relations, "GROUP")
    session.api().update_worker_groups(uuid, rel)
    session.done(f"Updated {len(rel)} group role(s) on {uuid}", {"relations": rel})


@verb(workers, "remove-roles")
@params.UUID_ARG
@click.argument("groups", nargs=-1, required=True)
def workers_remove_roles(session: Session, uuid: str, groups: tuple[str, ...]) -> None:
    """Remove groups from a worker."""
    names = params.split(groups)
    session.api().remove_worker_groups(uuid, names)
    session.done(f"Removed {', '.join(names)} from {uuid}", {"groups": names})
