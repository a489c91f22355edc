"""The notice listener: the coordinator's notices on this worker's Redis channel, passed to the control.

With Redis, a user's cancel reaches the running command within a moment instead of at the next heartbeat,
and a removed worker stops at once. The listener is only a shortcut: everything it hears is also learnt
without it (the heartbeat's cancel list, the 401 of a removed worker), so a lost subscription is retried
with backoff and never stops the agent.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import redis

from mito.vocab import Notice, NoticeKind, WorkerRemoval, worker_channel
from worker_agent.control import Control

log = logging.getLogger("mito.worker")


class NoticeListener(threading.Thread):
    """Subscribe to `worker:{uuid}` until `done` is set, resubscribing after a Redis outage."""

    def __init__(self, client: redis.Redis, worker_uuid: str, control: Control, *, retry_cap: float = 10.0):
        super().__init__(name="notices", daemon=True)
        self.client = client
        self.channel = worker_channel(worker_uuid)
        self.control = control
        self.retry_cap = retry_cap
        self.done = threading.Event()
        self.subscribed = threading.Event()  # set while the subscription is active (tests wait on it)

    def run(self) -> None:
        """The thread's loop."""
        delay = 0.5
        while not self.done.is_set():
            try:
                self._listen()
                return
            except (redis.RedisError, OSError) as exc:
                self.subscribed.clear()
                log.warning("notice subscription lost (%s); retrying in %.1fs", exc, delay)
            if self.done.wait(delay):
                return
            delay = min(delay * 2, self.retry_cap)

    def _listen(self) -> None:
        pubsub: Any = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(self.channel)
            while not self.done.is_set():
                message = pubsub.get_message(timeout=0.5)
                if not self.subscribed.is_set() and pubsub.subscribed:
                    self.subscribed.set()
                    log.info("listening for notices on %s", self.channel)
                if message and message.get("type") == "message":
                    self.handle(message.get("data"))
        finally:
            self.subscribed.clear()
            with contextlib.suppress(redis.RedisError, OSError):
                pubsub.close()

    def handle(self, data: Any) -> None:
        """Act on one message: cancel or drop a task, or stop because the worker was removed."""
        notice = Notice.decode(data) if isinstance(data, bytes | str) else None
        if notice is None:
            log.warning("ignoring a notice this agent does not understand: %r", data)
            return
        log.info("notice: %s %s", notice.kind.value, notice.value)
        match notice.kind:
            case NoticeKind.Cancel:
                self.control.cancel(notice.value)
            case NoticeKind.Drop:
                self.control.drop(notice.value)
            case NoticeKind.Removed:
                self.control.on_gone("notice", WorkerRemoval.parse(notice.value))
