"""Waiting for a watched task to reach an exec state: woken by Redis pub/sub, checked by polling.

With Redis the agent subscribes to the watched task's channel and still polls, rarely, as a safety net;
without it (or once the subscription fails) it polls the coordinator at the polling interval.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import redis

from client.http import ApiError
from mito.vocab import ExecState
from worker_agent.announce import redis_key
from worker_agent.config import WorkerConfig
from worker_agent.link import Link
from worker_agent.states import exec_state_reaches, watched_task_reaches
from worker_agent.task import TaskRun

log = logging.getLogger("mito.worker")


def wait_for_watched(
    link: Link, client: redis.Redis | None, config: WorkerConfig, run: TaskRun, *, deadline: float
) -> bool:
    """True once the watched task reached its exec state (or the run was cancelled); False: it never will."""
    watch = run.spec["watch"]
    uuid, target = str(watch[0]), ExecState.parse(watch[1])
    log.info("task %s: waiting for task %s to reach %s", run.uuid, uuid, target.name)
    pubsub = _subscribe(client, uuid)
    poll_every = config.watch_poll_interval if pubsub else config.polling_interval
    next_poll = 0.0
    try:
        while time.monotonic() < deadline:
            if run.cancel.is_set():
                return True
            if pubsub is not None:
                try:
                    msg = pubsub.get_message(timeout=0.2)
                except redis.RedisError as exc:
                    log.warning("Redis subscription lost (%s); polling the coordinator", exc)
                    pubsub, poll_every, msg = None, config.polling_interval, None
                if msg and msg.get("type") == "message" and _reaches(msg.get("data"), target):
                    return True
            else:
                run.cancel.wait(min(0.2, poll_every))
            if time.monotonic() < next_poll:
                continue
            next_poll = time.monotonic() + poll_every
            verdict = _poll(link, client, uuid, target)
            if verdict is not None:
                return verdict
        return False
    finally:
        if pubsub is not None:
            with contextlib.suppress(redis.RedisError):
                pubsub.close()


def _subscribe(client: redis.Redis | None, uuid: str) -> Any:
    if client is None:
        return None
    try:
        pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        pubsub.subscribe(redis_key(uuid))
    except redis.RedisError as exc:
        log.warning("cannot subscribe on Redis (%s); polling the coordinator", exc)
        return None
    return pubsub


def _poll(link: Link, client: redis.Redis | None, uuid: str, target: ExecState) -> bool | None:
    """True: reached; False: it never will (gone or ended elsewhere); None: not yet."""
    if client is not None:
        try:
            if _reaches(client.get(redis_key(uuid)), target):
                return True
        except redis.RedisError as exc:
            log.warning("cannot read the watched task's state on Redis: %s", exc)
    try:
        info = link.call(f"get task {uuid}", lambda: link.api.get_task(uuid), deadline=time.monotonic())
    except ApiError as exc:
        if exc.status == 404:
            log.warning("watched task %s does not exist", uuid)
            return False
        return None  # unreachable or refused for now: poll again later
    return watched_task_reaches(info, target)


def _reaches(value: Any, target: ExecState) -> bool:
    return value is not None and exec_state_reaches(ExecState.parse(value), target)
