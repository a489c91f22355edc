"""Service health: "ok", or "degraded" naming each configured dependency that does not answer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import redis
from flask import current_app

log = logging.getLogger(__name__)

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def check() -> dict[str, str]:
    """Report the coordinator's health (Redis and the broker are checked only when configured)."""
    health = {"status": "ok"}
    for name, url in _redis_dependencies(current_app.config):
        if not _answers(url):
            health[name] = "unreachable"
            health["status"] = "degraded"
    return health


def _redis_dependencies(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    deps = []
    if config.get("REDIS_URL"):
        deps.append(("redis", config["REDIS_URL"]))
    broker = config.get("BROKER_URL")
    if broker and broker.startswith("redis") and broker != config.get("REDIS_URL"):
        deps.append(("broker", broker))
    return deps


def _answers(url: str) -> bool:
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
            _clients[url] = client
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError) as exc:
        log.warning("health: %s does not answer: %s", url.split("@")[-1], exc)
        return False
