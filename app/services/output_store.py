"""Where live output is kept: a Redis stream per task, or the `output_chunks` table (see output.py).

Cursors are the stream entry ids (Redis) or the row ids (table). Redis errors become 503 OutputUnavailable.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid as uuid_mod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import redis
import sqlalchemy as sa
from flask import current_app

from app import db
from app.errors import DomainError
from app.models import ActiveTask, OutputChunk
from mito.vocab.output import TAIL_CHUNKS, WAIT_MAX, OutputStream

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.25  # seconds between two reads of the table while a follower waits
FORGET_AFTER = 30  # seconds an archived task's tail stays readable
PAGE_MAX = TAIL_CHUNKS  # chunks one read returns at most: a whole tail


class OutputUnavailable(DomainError):
    """Redis, where the tails are kept, does not answer."""

    status = 503
    default_message = "Live output is unavailable: its store (Redis) does not answer"


class InvalidCursor(DomainError):
    status = 400

    def __init__(self, cursor: str):
        super().__init__(f"Invalid output cursor {cursor!r}: pass the `next` of a previous answer")


@dataclass(frozen=True)
class Chunk:
    """A piece of one stream; `skipped` bytes of it came too fast and were not shipped before it."""

    stream: OutputStream
    data: str
    skipped: int = 0


class Store(Protocol):
    """A tail store: add chunks, read after a cursor, wait for more, forget a task's tail."""

    def append(self, task_uuid: uuid_mod.UUID, chunks: Sequence[Chunk], ttl: int) -> None: ...
    def read(self, task_uuid: uuid_mod.UUID, after: str | None) -> tuple[list[Chunk], str | None]: ...
    def wait(self, task_uuid: uuid_mod.UUID, after: str | None, seconds: float) -> None: ...
    def forget(self, task_uuid: uuid_mod.UUID) -> None: ...
    def clear(self, task_uuid: uuid_mod.UUID) -> None: ...


def clear(task_uuid: uuid_mod.UUID) -> None:
    """The task is re-run: its new attempt starts with an empty tail (lifecycle calls this). The old
    attempt's output lives on in its std-log artifact; ids only grow, so a follower's cursor reads on."""
    store().clear(task_uuid)


def forget(task_uuid: uuid_mod.UUID) -> None:
    """The task was archived: its tail goes FORGET_AFTER seconds after the commit (lifecycle calls this)."""
    kept = store()
    db.after_commit(lambda: kept.forget(task_uuid))


@db.transactional
def prune(*, now: datetime | None = None, limit: int = 10_000) -> int:
    """Delete table chunks of tasks no longer active, written more than FORGET_AFTER seconds ago."""
    cutoff = (now or db.utcnow()) - timedelta(seconds=FORGET_AFTER)
    ended = (
        sa.select(OutputChunk.id)
        .where(OutputChunk.created_at < cutoff, ~sa.exists().where(ActiveTask.uuid == OutputChunk.task_uuid))
        .limit(limit)
    )
    ids = list(db.session.scalars(ended))
    if ids:
        db.session.execute(sa.delete(OutputChunk).where(OutputChunk.id.in_(ids)))
    return len(ids)


# ---------------------------------------------------------------- the stores


def store() -> Store:
    url = current_app.config.get("REDIS_URL")
    return _RedisStore(url) if url else _TableStore()


class _TableStore:
    """The tail in `output_chunks` (no Redis): cursors are row ids."""

    def append(self, task_uuid: uuid_mod.UUID, chunks: Sequence[Chunk], ttl: int) -> None:
        db.session.add_all(  # PostgreSQL text holds no NUL: shown as the replacement character
            OutputChunk(
                task_uuid=task_uuid, stream=c.stream, data=c.data.replace("\x00", "\ufffd"), skipped=c.skipped
            )
            for c in chunks
        )
        db.session.flush()
        oldest_kept = (
            sa.select(OutputChunk.id)
            .where(OutputChunk.task_uuid == task_uuid)
            .order_by(OutputChunk.id.desc())
            .offset(TAIL_CHUNKS - 1)
            .limit(1)
            .scalar_subquery()
        )
        db.session.execute(
            sa.delete(OutputChunk).where(OutputChunk.task_uuid == task_uuid, OutputChunk.id < oldest_kept)
        )

    def read(self, task_uuid: uuid_mod.UUID, after: str | None) -> tuple[list[Chunk], str | None]:
        stmt = sa.select(OutputChunk).where(OutputChunk.task_uuid == task_uuid)
        if after is not None:
            stmt = stmt.where(OutputChunk.id > _row_id(after))
        rows = db.session.scalars(stmt.order_by(OutputChunk.id).limit(PAGE_MAX)).all()
        chunks = [Chunk(stream=r.stream, data=r.data, skipped=r.skipped) for r in rows]
        return chunks, str(rows[-1].id) if rows else None

    def wait(self, task_uuid: uuid_mod.UUID, after: str | None, seconds: float) -> None:
        time.sleep(min(seconds, POLL_INTERVAL))

    def forget(self, task_uuid: uuid_mod.UUID) -> None:
        return None  # jobs.output.prune deletes the rows once FORGET_AFTER has passed

    def clear(self, task_uuid: uuid_mod.UUID) -> None:
        db.session.execute(sa.delete(OutputChunk).where(OutputChunk.task_uuid == task_uuid))


def _row_id(cursor: str) -> int:
    if not cursor.isdigit() or int(cursor) >= 2**63:
        raise InvalidCursor(cursor)
    return int(cursor)


class _RedisStore:
    """The tail in a Redis stream per task: cursors are stream entry ids."""

    def __init__(self, url: str):
        self.client = _redis(url)

    @staticmethod
    def key(task_uuid: uuid_mod.UUID) -> str:
        return f"mito:output:{task_uuid}"

    def append(self, task_uuid: uuid_mod.UUID, chunks: Sequence[Chunk], ttl: int) -> None:
        key = self.key(task_uuid)
        try:
            pipe = self.client.pipeline(transaction=False)
            for c in chunks:
                fields = {"s": int(c.stream), "d": c.data, "k": c.skipped}
                pipe.xadd(key, fields, maxlen=TAIL_CHUNKS, approximate=True)  # type: ignore[arg-type]
            pipe.expire(key, ttl)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("cannot keep output of task %s: %s", task_uuid, exc)
            raise OutputUnavailable() from exc

    def read(self, task_uuid: uuid_mod.UUID, after: str | None) -> tuple[list[Chunk], str | None]:
        start = "-" if after is None else f"({_entry_id(after)}"
        try:
            entries: list[tuple[bytes, dict[bytes, bytes]]] = self.client.xrange(  # type: ignore[assignment]
                self.key(task_uuid), min=start, max="+", count=PAGE_MAX
            )
        except redis.ResponseError as exc:
            raise InvalidCursor(str(after)) from exc
        except redis.RedisError as exc:
            raise OutputUnavailable() from exc
        chunks = [
            Chunk(stream=OutputStream(int(f[b"s"])), data=f[b"d"].decode(), skipped=int(f[b"k"]))
            for _, f in entries
        ]
        return chunks, entries[-1][0].decode() if entries else None

    def wait(self, task_uuid: uuid_mod.UUID, after: str | None, seconds: float) -> None:
        try:
            self.client.xread(
                {self.key(task_uuid): after or "0-0"}, count=1, block=max(1, int(seconds * 1000))
            )
        except redis.RedisError as exc:
            raise OutputUnavailable() from exc

    def forget(self, task_uuid: uuid_mod.UUID) -> None:
        try:
            self.client.expire(self.key(task_uuid), FORGET_AFTER)
        except redis.RedisError as exc:  # the stream still expires an hour after the task's timeout
            log.warning("cannot shorten the output tail of task %s: %s", task_uuid, exc)

    def clear(self, task_uuid: uuid_mod.UUID) -> None:
        # Right after the re-run commits (no Redis call under its row locks), before an agent can have
        # claimed, started and shipped for the new attempt. Its entry ids (milliseconds) pass the old ones.
        db.after_commit(lambda: self._delete(task_uuid))

    def _delete(self, task_uuid: uuid_mod.UUID) -> None:
        try:
            self.client.delete(self.key(task_uuid))
        except redis.RedisError as exc:  # the re-run stands; its followers see the old lines first
            log.warning("cannot clear the output tail of task %s: %s", task_uuid, exc)


def _entry_id(cursor: str) -> str:
    ms, _, seq = cursor.partition("-")
    if not (ms.isdigit() and seq.isdigit()):
        raise InvalidCursor(cursor)
    return cursor


_clients: dict[tuple[int, str], redis.Redis] = {}
_clients_lock = threading.Lock()


def _redis(url: str) -> redis.Redis:
    # One client per URL per process (forked workers make their own); its socket timeout outlasts the
    # longest blocking read of a follower.
    key = (os.getpid(), url)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = redis.Redis.from_url(
                url, socket_connect_timeout=1.0, socket_timeout=WAIT_MAX + 5
            )
        return client
