"""`mito tasks artifacts`: a task's outputs (result, exec-log, std-log), each a .tar.gz."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import click

from client.bodies import Json
from client.cli import params
from client.cli.output import progress, table
from client.cli.session import Session, verb


@click.group("artifacts")
def artifacts() -> None:
    """A task's outputs: result, exec-log, std-log (each a .tar.gz)."""


def _archive_name(content_type: str) -> str:
    return f"{content_type}.tar.gz"


@verb(artifacts, "upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@params.UUID_ARG
@params.TYPE_ARG
def artifacts_upload(session: Session, file: Path, uuid: str, content_type: str) -> None:
    """Upload FILE as a task's artifact of TYPE (result, exec-log, std-log)."""
    with progress(f"upload {content_type}", not session.json) as report:
        size = session.api().put_artifact(uuid, content_type, file, progress=report)
    session.done(f"Uploaded {file} as {uuid}/{content_type} ({size} bytes)", {"size": size})


@verb(artifacts, "download")
@params.UUID_ARG
@params.TYPE_ARG
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="File or directory (default: ./TYPE.tar.gz)."
)
@click.option("--no-download", is_flag=True, help="Only print the URL and size.")
@click.option("-x", "--extract", "extract_to", type=click.Path(file_okay=False, path_type=Path),
              help="Also unpack the archive into this directory.")  # fmt: skip
@click.option("--attempt", type=click.IntRange(min=0), metavar="N",
              help="The one attempt N uploaded (`mito tasks get` lists them), not the task's.")  # fmt: skip
def artifacts_download(
    session: Session,
    uuid: str,
    content_type: str,
    output: Path | None,
    no_download: bool,
    extract_to: Path | None,
    attempt: int | None,
) -> None:
    """Download a task's artifact (a .tar.gz)."""
    link = session.api().download_artifact(uuid, content_type, attempt=attempt)
    if no_download:
        session.out(link, lambda d: click.echo(f"{d['url']}  ({d['size']} bytes)"))
        return
    dest = output or Path(_archive_name(content_type))
    if dest.is_dir():
        dest = dest / _archive_name(content_type)
    size = session.fetch(link["url"], dest, size=link.get("size"), label=f"download {content_type}")
    data: dict[str, Any] = {"path": str(dest), "size": size}
    if extract_to:
        extract_to.mkdir(parents=True, exist_ok=True)
        with tarfile.open(dest) as archive:
            archive.extractall(extract_to, filter="data")
        data["extracted_to"] = str(extract_to)
    session.done(f"Downloaded {uuid}/{content_type} to {dest} ({size} bytes)"
                 + (f", unpacked into {extract_to}" if extract_to else ""), data)  # fmt: skip


@verb(artifacts, "delete")
@params.UUID_ARG
@params.TYPE_ARG
def artifacts_delete(session: Session, uuid: str, content_type: str) -> None:
    """Delete a task's artifact."""
    session.api().delete_artifact(uuid, content_type)
    session.done(f"Deleted {uuid}/{content_type}", {"uuid": uuid, "content_type": content_type})


def _downloaded(session: Session, result: Json, content_type: str, output: Path, no_download: bool) -> None:
    if no_download:
        rows = [(x["uuid"], x["size"], x["url"]) for x in result["downloads"]]
        session.out(result, lambda d: table(None, ["uuid", "size", "url"], rows))
        return
    fetched = session.fetch_many(
        result["downloads"], lambda x: f"{x['uuid']}/{_archive_name(content_type)}", output
    )
    if session.json:
        session.out({"downloads": fetched})


@verb(artifacts, "download-many")
@params.TYPE_ARG
@params.task_filter_options
@params.OUTPUT_DIR
@params.URLS_ONLY
def artifacts_download_many(
    session: Session, content_type: str, output: Path, no_download: bool, **flt: Any
) -> None:
    """Download the TYPE artifact of every matching task into DIR/UUID/TYPE.tar.gz."""
    result = session.api().download_artifacts_by_filter(content_type, **params.task_filters(**flt))
    _downloaded(session, result, content_type, output, no_download)


@verb(artifacts, "download-list")
@params.TYPE_ARG
@params.UUIDS_ARG
@params.OUTPUT_DIR
@params.URLS_ONLY
def artifacts_download_list(
    session: Session, content_type: str, uuids: list[str], output: Path, no_download: bool
) -> None:
    """Download the TYPE artifact of the listed tasks."""
    result = session.api().download_artifacts_by_uuids(content_type, uuids)
    _downloaded(session, result, content_type, output, no_download)


@verb(artifacts, "delete-many")
@params.TYPE_ARG
@params.task_filter_options
def artifacts_delete_many(session: Session, content_type: str, **flt: Any) -> None:
    """Delete the TYPE artifact of every matching task."""
    result = session.api().delete_artifacts_by_filter(content_type, **params.task_filters(**flt))
    session.out(result, lambda d: click.echo(f"Deleted {d['deleted_count']} artifact(s)"))


@verb(artifacts, "delete-list")
@params.TYPE_ARG
@params.UUIDS_ARG
def artifacts_delete_list(session: Session, content_type: str, uuids: list[str]) -> None:
    """Delete the TYPE artifact of the listed tasks."""
    result = session.api().delete_artifacts_by_uuids(content_type, uuids)
    session.out(
        result,
        lambda d: click.echo(
            f"Deleted {d['deleted_count']} artifact(s)"
            + (f"; failed: {', '.join(d['failed_uuids'])}" if d["failed_uuids"] else "")
        ),
    )
