"""Login throttling: failed logins are counted per user and per client address; over a limit, 429.

Only failures count (a wrong password, an unknown user), so a fleet of agents logging in at once is never
throttled. While either count is over its limit (MITO_LOGIN_FAILURES_PER_USER, _PER_ADDRESS, moving
windows) every login for that user or from that address is refused with 429 and Retry-After before any
password is checked, the right one included, so a brute force learns nothing more until the window moves.

The counts live in Redis when MITO_REDIS_URL (or a redis:// broker) is set, shared by every coordinator
process; otherwise in the process (each gunicorn worker counts on its own). An unreachable Redis lets
logins through (logged) rather than failing them.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from flask import current_app
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.config import ConfigError
from app.errors import Throttled

log = logging.getLogger(__name__)

_limiters: dict[tuple[int, str], MovingWindowRateLimiter] = {}
_limiters_lock = threading.Lock()


def storage_uri(settings: Mapping[str, Any]) -> str:
    """Redis when one is configured (MITO_REDIS_URL, else a redis:// broker), else this process's memory."""
    for url in (settings.get("REDIS_URL"), settings.get("BROKER_URL")):
        if url and str(url).startswith(("redis://", "rediss://")):
            return str(url)
    return "memory://"


def limits(settings: Mapping[str, Any]) -> tuple[RateLimitItem, RateLimitItem]:
    """The per-user and per-address limits; ConfigError for a value `limits` cannot parse ("10/minute")."""
    parsed = []
    for key in ("LOGIN_FAILURES_PER_USER", "LOGIN_FAILURES_PER_ADDRESS"):
        try:
            parsed.append(parse(str(settings[key])))
        except ValueError:
            raise ConfigError(f"MITO_{key}={settings[key]!r}: expected e.g. 10/minute") from None
    return parsed[0], parsed[1]


def check(*, username: str, address: str | None) -> None:
    """Throttled (429) if the user's or the address's failed logins are over their limit."""
    limiter, per_user, per_address = _current()
    for item, identity in ((per_user, ("user", username)), (per_address, ("address", address or "-"))):
        try:
            if limiter.test(item, "login", *identity):
                continue
            reset = limiter.get_window_stats(item, "login", *identity).reset_time
        except StorageError as exc:
            log.warning("login throttle unavailable, login let through: %s", exc)
            return
        raise Throttled(
            f"Too many failed logins for this {identity[0]}: retry later",
            retry_after=math.ceil(reset - time.time()),
        )


def record_failure(*, username: str, address: str | None) -> None:
    """Count one failed login for the user and for the address."""
    limiter, per_user, per_address = _current()
    try:
        limiter.hit(per_user, "login", "user", username)
        limiter.hit(per_address, "login", "address", address or "-")
    except StorageError as exc:
        log.warning("login throttle unavailable, failure not counted: %s", exc)


def _current() -> tuple[MovingWindowRateLimiter, RateLimitItem, RateLimitItem]:
    cfg = current_app.config
    uri = storage_uri(cfg)
    key = (os.getpid(), uri)  # one per process: a forked gunicorn worker makes its own connections
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            # Short timeouts: an unreachable Redis delays a login by half a second at most.
            storage = storage_from_string(
                uri, wrap_exceptions=True, key_prefix="mito", socket_connect_timeout=0.5, socket_timeout=0.5
            )
            limiter = _limiters[key] = MovingWindowRateLimiter(storage)
    per_user, per_address = limits(cfg)
    return limiter, per_user, per_address


def reset() -> None:
    """Forget every count of this process's memory store (tests)."""
    with _limiters_lock:
        for (_pid, uri), limiter in _limiters.items():
            if uri == "memory://":
                limiter.storage.reset()
