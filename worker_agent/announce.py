"""Where exec states leave the agent: SET + PUBLISH on Redis (when the coordinator offers it) and the
ExecState report op.

Exec states are progress information: they never block the task. On Redis they are published at once by
a thread of their own, in order (a slow or hung Redis delays the announcements, never the task; past
PUBLISH_QUEUE_MAX waiting ones the newest are dropped with a warning); to the coordinator they go through
the outbox (worker_agent/outbox.py): batched and carried by the
task's next report when the coordinator offers it, else one best-effort report each. TaskCommitted and
WorkerExited go to Redis only (the coordinator learns them from the commit, or from the worker's absence).
"""

from __future__ import annotations

import logging
import queue
import threading

import redis

from client.worker_api import exec_state_op
from mito.vocab import ExecState
from worker_agent import metrics
from worker_agent.outbox import Outbox
from worker_agent.task import TaskRun

log = logging.getLogger("mito.worker")
S = ExecState

# Redis key TTLs per announced state in seconds (upstream 8); None: no expiry; not listed: 60 s.
_TTL: dict[ExecState, int | None] = {
    S.FetchResource: 360, S.ExecSpawned: None, S.Watch: None, S.ExecFinished: 660, S.UploadResult: 660,
    S.UploadFinishedResult: 660, S.UploadCancelledResult: 660,
}  # fmt: skip
_REDIS_ONLY = {S.TaskCommitted, S.WorkerExited}
PUBLISH_QUEUE_MAX = 1000  # announcements waiting for Redis; beyond, the newest are dropped
CLOSE_TIMEOUT = 2.0  # seconds an exiting agent gives Redis to take what is still queued


def connect_redis(url: str | None, *, skip: bool) -> redis.Redis | None:
    """A Redis client for the URL the coordinator handed out, or None (no URL, skipped, or unreachable)."""
    if not url or skip:
        log.info("no Redis: exec states go to the coordinator only, watches poll it")
        return None
    try:
        client = redis.Redis.from_url(
            url.replace("protocol=resp3", "protocol=3"), socket_timeout=5, socket_connect_timeout=5
        )
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        log.warning("cannot use Redis at %s (%s); falling back to polling", url, exc)
        return None
    log.info("connected to Redis for exec-state pub/sub")
    return client


def redis_key(uuid: str) -> str:
    """The Redis key and channel of a task's exec state."""
    return f"task:{uuid}"


class _Publisher:
    """SET + PUBLISH pairs sent to Redis from a thread of their own, in the order they were put."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self.queue: queue.Queue[tuple[str, int, int | None] | threading.Event | None] = queue.Queue(
            maxsize=PUBLISH_QUEUE_MAX
        )
        self.thread = threading.Thread(target=self._run, name="mito-redis-publisher", daemon=True)
        self.thread.start()

    def put(self, key: str, value: int, ttl: int | None) -> None:
        try:
            self.queue.put_nowait((key, value, ttl))
        except queue.Full:
            log.warning("Redis is behind: exec state %s of %s not published", value, key)

    def flush(self, timeout: float) -> bool:
        """Wait until what was put before is sent (or failed); False when `timeout` ran out first."""
        sent = threading.Event()
        try:
            self.queue.put(sent, timeout=timeout)
        except queue.Full:
            return False
        return sent.wait(timeout)

    def close(self, timeout: float) -> None:
        """Send what is queued (for at most `timeout`), then end the thread."""
        try:
            self.queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self.thread.join(timeout)

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if isinstance(item, threading.Event):
                item.set()
                continue
            key, value, ttl = item
            try:
                both = self.client.pipeline(transaction=False)  # one round trip for the two commands
                both.set(key, value, ex=ttl)
                both.publish(key, value)
                both.execute()
            except redis.RedisError as exc:  # Redis is optional; the coordinator has the state
                log.warning("cannot publish exec state %s of %s on Redis: %s", value, key, exc)


class Announcer:
    """Announce a task's exec state to Redis and the coordinator."""

    def __init__(self, outbox: Outbox):
        self.outbox = outbox
        self._redis: redis.Redis | None = None
        self._publisher: _Publisher | None = None

    @property
    def redis(self) -> redis.Redis | None:
        """The Redis client exec states are published on (None: the coordinator only)."""
        return self._redis

    @redis.setter
    def redis(self, client: redis.Redis | None) -> None:
        self.close(0)
        self._redis = client
        self._publisher = _Publisher(client) if client is not None else None

    def announce(self, run: TaskRun, state: ExecState) -> None:
        """Record an exec state: SET + PUBLISH on Redis (queued), and the ExecState report op (the outbox)."""
        log.debug("task %s: %s", run.uuid, state.name)  # per state: the coordinator records each
        metrics.STATE.state(state.name)
        if self._publisher is not None:
            ttl = int(run.timeout) + 60 if state is S.ExecPending else _TTL.get(state, 60)
            self._publisher.put(redis_key(run.uuid), int(state), ttl)
        if state not in _REDIS_ONLY:
            self.outbox.put(run, exec_state_op(state))

    def flush(self, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Wait until every state announced so far reached Redis (True also without Redis)."""
        return self._publisher.flush(timeout) if self._publisher is not None else True

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Publish what is still queued (for at most `timeout`) and stop the publishing thread."""
        if self._publisher is not None:
            self._publisher.close(timeout)
            self._publisher = None
