"""Live output: ship what the running command writes to the coordinator, without ever slowing it down.

The command writes to plain files in its workspace (std/stdout.log, std/stderr.log), never to a pipe this
process must drain, so a command printing 100 MB/s runs as fast as its disk lets it. A thread reads the
files' new bytes every SHIP_INTERVAL and posts them in one request: at most CHUNK_MAX characters per stream
each time. A stream that grew by more than that is skipped ahead to its newest CHUNK_MAX bytes (from a
line start when there is one): the chunk says how many bytes were skipped, and readers show a marker
there. Shipping is progress information, like exec states: a failed post is logged once and its bytes are
counted as skipped in the next chunk; nothing is retried and nothing waits for the coordinator.
"""

from __future__ import annotations

import codecs
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client.http import ApiError
from client.worker_api import WorkerApi
from mito.vocab.output import CHUNK_MAX, SHIP_INTERVAL, OutputStream

log = logging.getLogger("mito.worker")

POST_TIMEOUT = 5.0  # seconds one shipment may take before it counts as lost


@dataclass
class _Tail:
    """How far one output file has been shipped."""

    path: Path
    position: int = 0
    skipped: int = 0  # bytes not shipped since the last chunk that went out
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )

    def take(self, chunk_max: int) -> tuple[str, int] | None:
        """The new text of the file (at most `chunk_max` bytes of it) and the bytes skipped before it."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return None
        if size <= self.position:
            return None
        start = self.position
        if size - start > chunk_max:  # more than one chunk behind: skip to the newest output
            start = size - chunk_max
        with self.path.open("rb") as fh:
            fh.seek(start)
            data = fh.read(size - start)
        if start > self.position:
            cut = data.find(b"\n")
            if 0 <= cut < len(data) - 1:  # begin at a line when one begins in the chunk
                data, start = data[cut + 1 :], start + cut + 1
            self.skipped += start - self.position
            self.decoder.reset()
        self.position = start + len(data)
        text = self.decoder.decode(data)
        skipped, self.skipped = self.skipped, 0
        return text, skipped


class OutputShipper:
    """Ships a task's stdout and stderr files while it runs; `stop()` ships the last bytes and ends."""

    def __init__(
        self,
        api: WorkerApi,
        task_id: int,
        files: dict[OutputStream, Path],
        *,
        interval: float = SHIP_INTERVAL,
        chunk_max: int = CHUNK_MAX,
    ):
        self.api = api
        self.task_id = task_id
        self.tails = {stream: _Tail(path) for stream, path in files.items()}
        self.interval = interval
        self.chunk_max = chunk_max
        self._stop = threading.Event()
        self._warned = False
        self._thread: threading.Thread | None = None

    def start(self) -> OutputShipper:
        """Begin shipping in the background."""
        self._thread = threading.Thread(target=self._loop, name=f"mito-output-{self.task_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop shipping, after one last shipment of what the command wrote since the previous one (made
        here when shipping never started: a command that ended before the agent started its thread)."""
        if self._thread is None:
            self.ship_once()
            return
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.ship_once()
        self.ship_once()

    def ship_once(self) -> None:
        """Post the new output of every stream (one request), if there is any."""
        taken: list[tuple[_Tail, dict[str, Any]]] = []
        for stream, tail in self.tails.items():
            got = tail.take(self.chunk_max)
            if got is not None and (got[0] or got[1]):
                taken.append((tail, {"stream": stream.name, "data": got[0], "skipped": got[1]}))
        if not taken:
            return
        try:
            self.api.ship_output(self.task_id, [chunk for _, chunk in taken], timeout=POST_TIMEOUT)
        except ApiError as exc:
            if not self._warned:
                log.warning("task %d: live output not shipped (%s); the task runs on", self.task_id, exc)
                self._warned = True
            for tail, chunk in taken:  # lost: readers see them as skipped bytes
                tail.skipped += len(chunk["data"].encode()) + chunk["skipped"]
