"""A lean keep-alive connection pool (urllib3) for the agent's own requests to a plain-http coordinator.

httpx spends about 1 ms of CPU on each request in its client, httpcore and h11 layers (cookies, auth and
redirect hooks, event objects); urllib3's pool over http.client does the same exchange for about 0.8 ms
less (docs/benchmarks.md, sections A and lead). An agent sends one request per no-op task, so that was a
fifth of its CPU per task. The pool serves plain `http://` coordinators that no proxy setting covers
(`fits`); anything else (https, a proxy, an injected httpx transport) stays with httpx, which knows about
certificates and proxies.

urllib3 checks an idle connection before reusing it (a server that closed it, e.g. gunicorn's keep-alive
timeout, is connected afresh) and, with `retries=False`, never retries a request itself: an error is
raised for the caller's retry rule (worker_agent/backoff.py). On top of that the pool closes a connection
idle longer than IDLE_EXPIRY_S itself, as httpx's pool does.
"""

from __future__ import annotations

import json as jsonlib
import time
import urllib.parse
import urllib.request
from typing import Any

import httpx
import urllib3

_USER_AGENT = "mito-agent"
POOL_SIZE = 8  # connections kept idle at most (one per concurrent request: task slots, heartbeat)

# An idle connection is closed by the client after this long, as httpx's pool does (keepalive_expiry): the
# coordinator keeps one open for 30 s (app/server.py; a load balancer in front, above 5 s), so the client
# ends it, never the server just as a request goes out on it. urllib3's check of an idle connection does not
# cover that race, and the agent's heartbeat comes every 30 s (MITO_HEARTBEAT_INTERVAL), when the
# coordinator closes.
IDLE_EXPIRY_S = 5.0


def fits(base_url: str) -> bool:
    """Whether the pool can serve `base_url`: plain http, and no proxy from the environment applies."""
    url = urllib.parse.urlsplit(base_url)
    if url.scheme != "http" or not url.hostname:
        return False
    proxies = urllib.request.getproxies()
    if proxies.get("http") or proxies.get("all"):
        return bool(urllib.request.proxy_bypass(url.hostname))
    return True


class _ExpiringPool(urllib3.HTTPConnectionPool):
    """urllib3's pool, closing a connection that went idle more than IDLE_EXPIRY_S ago before its reuse
    (a closed connection connects afresh on its next request)."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        idle_since = getattr(conn, "mito_idle_since", None)
        if idle_since is not None and time.monotonic() - idle_since > IDLE_EXPIRY_S:
            conn.close()
        return conn

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            conn.mito_idle_since = time.monotonic()
        super()._put_conn(conn)


class KeepAlivePool:
    """Keep-alive connections to one `http://host:port`, each taken by one request at a time (thread-safe)."""

    def __init__(self, base_url: str, timeout: float):
        url = urllib.parse.urlsplit(base_url)
        self.prefix = url.path.rstrip("/")
        self.timeout = timeout
        self._pool = _ExpiringPool(
            url.hostname or "", url.port or 80, maxsize=POOL_SIZE, retries=False, timeout=timeout
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one request and read its whole answer; urllib3.exceptions.HTTPError or OSError on failure."""
        send = {"User-Agent": _USER_AGENT, **(headers or {})}
        body = None
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
            send["Content-Type"] = "application/json"
        resp = self._pool.urlopen(
            method,
            self.prefix + path,
            body=body,
            headers=send,
            timeout=self.timeout if timeout is None else timeout,
            redirect=False,
        )
        return httpx.Response(resp.status, headers=list(resp.headers.items()), content=resp.data)

    def close(self) -> None:
        """Close every idle connection."""
        self._pool.close()
