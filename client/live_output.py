"""A task's output as text, however far it got: the live tail while it runs, the std-log artifact after.

`task_logs` (the SDK's `Mitosis.task_logs`, the CLI's `mito tasks logs`) yields text pieces in order. While
the task is active it reads the coordinator's tail (GET /tasks/{uuid}/output); with `follow` it long-polls
for more until the task has ended. A task that had ended before the first read is shown from its std-log
artifact (kept when it ran with terminal_output), else from what is left of its tail. Where the agent
skipped output that came too fast, a marker line says how many bytes.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from client.bodies import Json
from client.http import ApiError
from mito.vocab import OutputStream
from mito.vocab.output import skip_marker

FOLLOW_WAIT = 10.0  # seconds one long-poll waits for new output


class NoOutputKept(Exception):
    """The task has ended, and neither a std-log artifact nor a live tail of it is left."""


class _Api(Protocol):
    def task_output(
        self, uuid: str, *, after: str | None = None, wait: float = 0.0, stream: str | None = None
    ) -> Json: ...
    def download_artifact(self, uuid: str, content_type: str) -> Json: ...
    def fetch_bytes(self, url: str, dest: Path | str, *, size: int | None = None) -> int: ...


def task_logs(
    api: _Api, uuid: str, *, stream: str = "stdout", follow: bool = False, tail: int | None = None
) -> Iterator[str]:
    """The task's `stream` as text pieces; `tail`: only its last N lines first; `follow`: until it ends."""
    name = OutputStream.parse(stream).name
    page = api.task_output(uuid, stream=name)
    if not page["running"]:
        kept = _from_artifact(api, uuid, name)
        if kept is not None:
            yield _last_lines(kept, tail)
            return
    text, page = _read_all(api, uuid, name, page)
    if not page["running"] and not text and page.get("next") is None:
        raise NoOutputKept(
            f"task {uuid} has ended ({page['state']}) and its output was not kept: "
            "submit with --terminal (terminal_output) to keep it as the std-log artifact"
        )
    if text:
        yield _last_lines(text, tail)
    while follow and page["running"]:
        page = api.task_output(uuid, after=page.get("next"), wait=FOLLOW_WAIT, stream=name)
        if page["chunks"]:
            yield _text(page["chunks"])


def _read_all(api: _Api, uuid: str, stream: str, page: Json) -> tuple[str, Json]:
    """Everything of the tail from `page` on, without waiting; the text and the last page."""
    pieces = [_text(page["chunks"])]
    while page["chunks"]:
        page = api.task_output(uuid, after=page.get("next"), stream=stream)
        pieces.append(_text(page["chunks"]))
    return "".join(pieces), page


def _text(chunks: list[dict[str, Any]]) -> str:
    return "".join((skip_marker(c["skipped"]) if c.get("skipped") else "") + c["data"] for c in chunks)


def _last_lines(text: str, tail: int | None) -> str:
    if tail is None:
        return text
    return "".join(text.splitlines(keepends=True)[-tail:]) if tail > 0 else ""


def _from_artifact(api: _Api, uuid: str, stream: str) -> str | None:
    """The stream's text from the task's std-log artifact, or None when it has none."""
    try:
        link = api.download_artifact(uuid, "std-log")
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    with tempfile.TemporaryDirectory(prefix="mito-logs-") as tmp:
        archive = Path(tmp) / "std-log.tar.gz"
        api.fetch_bytes(link["url"], archive, size=link.get("size"))
        with tarfile.open(archive, "r:gz") as tar:
            try:
                member = tar.extractfile(f"std-log/{stream}.log")
            except KeyError:
                return ""
            data = member.read() if member is not None else b""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace").read()
