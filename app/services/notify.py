"""Notices to agents on their Redis channel, sent once the change they announce is committed.

A user's cancel of a running task, a task taken from its worker and a removed worker reach the agent
within a moment when Redis is configured (MITO_REDIS_URL); the agent also learns each of them without
Redis, from its next heartbeat (the `cancel` list) or its next call (401), so a notice lost to a Redis
outage only costs time. Publishing never fails a request: a Redis error is logged and dropped.
"""

from __future__ import annotations

import logging
import os
import threading

import redis
import sqlalchemy as sa
from flask import current_app

from app import db
from app.models import Worker
from mito.vocab import Notice, worker_channel

log = logging.getLogger(__name__)

_clients: dict[tuple[int, str], redis.Redis] = {}
_clients_lock = threading.Lock()


def send(worker_uuid: object, notice: Notice) -> None:
    """Publish `notice` on the worker's channel after the current transaction commits (no Redis: nothing)."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return
    channel, message = worker_channel(worker_uuid), notice.encode()
    db.after_commit(lambda: _publish(url, channel, message))


def send_to_holder(worker_id: int, notice: Notice, known: Worker | None = None) -> None:
    """`send` to the worker with this id (`known`, when it is that worker, spares looking its uuid up)."""
    worker_uuid = known.uuid if known is not None and known.id == worker_id else None
    if worker_uuid is None:
        worker_uuid = db.session.scalar(sa.select(Worker.uuid).where(Worker.id == worker_id))
    if worker_uuid is not None:
        send(worker_uuid, notice)


def _publish(url: str, channel: str, message: str) -> None:
    try:
        _client(url).publish(channel, message)
    except (redis.RedisError, OSError) as exc:
        log.warning("cannot publish %s on %s (left to the heartbeat): %s", message, channel, exc)


def _client(url: str) -> redis.Redis:
    # One client per URL per process (a forked gunicorn worker makes its own), with short timeouts so that
    # an unreachable Redis delays a request by half a second at most.
    key = (os.getpid(), url)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        return client
