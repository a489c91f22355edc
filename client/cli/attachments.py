"""`mito groups attachments`: a group's input files (tasks fetch them with -r attachment=KEY:PATH)."""

from __future__ import annotations

from pathlib import Path

import click

from client.bodies import Json
from client.cli import params
from client.cli.output import progress, table
from client.cli.session import Session, verb

GROUP = click.option("-g", "--group", help="Group (default: your personal group).")


@click.group("attachments")
def attachments() -> None:
    """A group's input files (tasks fetch them with -r attachment=KEY:PATH)."""


def _render_attachments(d: Json) -> None:
    rows = [(a["key"], a["size"], a["created_at"], a["updated_at"]) for a in d.get("attachments", [])]
    table(f"{d.get('group_name')} ({d.get('count')})", ["key", "size", "created", "updated"], rows)


@verb(attachments, "upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("key", required=False)
@GROUP
def attachments_upload(session: Session, file: Path, key: str | None, group: str | None) -> None:
    """Upload FILE as KEY (default: the file name; a KEY ending in / gets the file name appended)."""
    key = key or file.name
    if key.endswith("/"):
        key += file.name
    group = session.group_of(group)
    with progress(f"upload {key}", not session.json) as report:
        size = session.api().put_attachment(group, key, file, progress=report)
    session.done(
        f"Uploaded {file} to {group}/{key} ({size} bytes)", {"group_name": group, "key": key, "size": size}
    )


@verb(attachments, "download")
@click.argument("key")
@GROUP
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Local path (default: the key's file name)."
)
@click.option("--no-download", is_flag=True, help="Only print the URL and size.")
def attachments_download(
    session: Session, key: str, group: str | None, output: Path | None, no_download: bool
) -> None:
    """Download an attachment."""
    group = session.group_of(group)
    link = session.api().download_attachment(group, key)
    if no_download:
        session.out(link, lambda d: click.echo(f"{d['url']}  ({d['size']} bytes)"))
        return
    dest = output or Path(key.rsplit("/", 1)[-1])
    if dest.is_dir():
        dest = dest / key.rsplit("/", 1)[-1]
    size = session.fetch(link["url"], dest, size=link.get("size"), label=f"download {key}")
    session.done(f"Downloaded {group}/{key} to {dest} ({size} bytes)", {"path": str(dest), "size": size})


@verb(attachments, "get")
@click.argument("key")
@GROUP
def attachments_get(session: Session, key: str, group: str | None) -> None:
    """Show an attachment's metadata."""
    meta = session.api().get_attachment(session.group_of(group), key)
    session.out(meta, lambda d: table(key, ["field", "value"], d.items()))


@verb(attachments, "delete")
@click.argument("key")
@GROUP
def attachments_delete(session: Session, key: str, group: str | None) -> None:
    """Delete an attachment."""
    group = session.group_of(group)
    session.api().delete_attachment(group, key)
    session.done(f"Deleted {group}/{key}", {"group_name": group, "key": key})


@verb(attachments, "query")
@params.attachment_filter_options
@click.option("--count", is_flag=True, help="Only count the matches (ignores --limit/--offset).")
def attachments_query(
    session: Session, group: str | None, key: str | None, limit: int | None, offset: int | None, count: bool
) -> None:
    """List a group's attachments."""
    result = session.api().query_attachments(
        session.group_of(group), key=key, limit=limit, offset=offset, count=count
    )
    session.out(result, _render_attachments)


@verb(attachments, "download-many")
@params.attachment_filter_options
@params.OUTPUT_DIR
@params.URLS_ONLY
def attachments_download_many(
    session: Session,
    group: str | None,
    key: str | None,
    limit: int | None,
    offset: int | None,
    output: Path,
    no_download: bool,
) -> None:
    """Download every attachment matching the filter into a directory (keys become paths)."""
    result = session.api().download_attachments_by_filter(
        session.group_of(group), key=key, limit=limit, offset=offset
    )
    _downloaded(session, result, output, no_download)


@verb(attachments, "download-list")
@click.argument("keys", nargs=-1, required=True)
@GROUP
@params.OUTPUT_DIR
@params.URLS_ONLY
def attachments_download_list(
    session: Session, keys: tuple[str, ...], group: str | None, output: Path, no_download: bool
) -> None:
    """Download the named attachments into a directory."""
    result = session.api().download_attachments_by_keys(session.group_of(group), params.split(keys))
    _downloaded(session, result, output, no_download)


def _downloaded(session: Session, result: Json, output: Path, no_download: bool) -> None:
    if no_download:
        rows = [(x["key"], x["size"], x["url"]) for x in result["downloads"]]
        session.out(result, lambda d: table(None, ["key", "size", "url"], rows))
        return
    fetched = session.fetch_many(result["downloads"], lambda x: str(x["key"]), output)
    if session.json:
        session.out({"group_name": result.get("group_name"), "downloads": fetched})


@verb(attachments, "delete-many")
@params.attachment_filter_options
def attachments_delete_many(
    session: Session, group: str | None, key: str | None, limit: int | None, offset: int | None
) -> None:
    """Delete every attachment matching the filter."""
    result = session.api().delete_attachments_by_filter(
        session.group_of(group), key=key, limit=limit, offset=offset
    )
    session.out(
        result, lambda d: click.echo(f"Deleted {d['deleted_count']} attachment(s) of {d['group_name']}")
    )


@verb(attachments, "delete-list")
@click.argument("keys", nargs=-1, required=True)
@GROUP
def attachments_delete_list(session: Session, keys: tuple[str, ...], group: str | None) -> None:
    """Delete the named attachments."""
    result = session.api().delete_attachments_by_keys(session.group_of(group), params.split(keys))
    session.out(
        result,
        lambda d: click.echo(
            f"Deleted {d['deleted_count']} attachment(s)"
            + (f"; failed: {', '.join(d['failed_keys'])}" if d["failed_keys"] else "")
        ),
    )
