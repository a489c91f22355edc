"""A lean HTTP/1.1 keep-alive pool over the standard library's http.client, for the agent's own requests.

httpx spends about 1 ms of CPU on each request in its client, httpcore and h11 layers (cookies, auth and
redirect hooks, event objects); http.client does the same exchange in about a third of that. An agent
sends one request per no-op task, so that millisecond was a fifth of its CPU per task (docs/benchmarks.md,
section A). The pool serves plain `http://` coordinators that no proxy setting covers (`fits`); anything
else (https, a proxy, an injected httpx transport) stays with httpx, which knows about certificates and
proxies.

Like httpcore it checks an idle connection before reusing it (a server that closed it, e.g. gunicorn's
keep-alive timeout, left it readable), closes one idle longer than IDLE_EXPIRY_S itself, and never retries
a request itself: a connection that fails is closed and the error raised, for the caller's retry rule
(worker_agent/backoff.py).
"""

from __future__ import annotations

import http.client
import json as jsonlib
import select
import threading
import time
import urllib.parse
import urllib.request
from typing import Any

import httpx

_USER_AGENT = "mito-agent"

# An idle connection is closed by the client after this long, as httpx's pool does (keepalive_expiry): the
# coordinator keeps one open for 30 s (app/server.py; a load balancer in front, above 5 s), so the client
# ends it, never the server just as a request goes out on it. The readable check alone does not cover that
# race, and the agent's heartbeat comes every 30 s (MITO_HEARTBEAT_INTERVAL), when the coordinator closes.
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


class KeepAlivePool:
    """Idle keep-alive connections to one `http://host:port`, taken by one request at a time (thread-safe)."""

    def __init__(self, base_url: str, timeout: float):
        url = urllib.parse.urlsplit(base_url)
        self.host = url.hostname or ""
        self.port = url.port or 80
        self.prefix = url.path.rstrip("/")
        self.timeout = timeout
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []  # and when each went idle
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one request and read its whole answer; OSError or http.client.HTTPException on failure."""
        send = {"User-Agent": _USER_AGENT, **(headers or {})}
        body = None
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
            send["Content-Type"] = "application/json"
        conn = self._take()
        try:
            conn.timeout = self.timeout if timeout is None else timeout
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)
            conn.request(method, self.prefix + path, body=body, headers=send)
            resp = conn.getresponse()
            content = resp.read()
        except BaseException:
            conn.close()
            raise
        if resp.will_close:
            conn.close()  # the next request on it connects afresh
        self._give_back(conn)
        return httpx.Response(resp.status, headers=resp.getheaders(), content=content)

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    def _take(self) -> http.client.HTTPConnection:
        with self._lock:
            conn, since = self._idle.pop() if self._idle else (None, 0.0)
        if conn is None:
            return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        if time.monotonic() - since > IDLE_EXPIRY_S:
            conn.close()  # idle too long: a new connection (http.client connects it at the request)
        elif conn.sock is not None and _readable(conn.sock):
            conn.close()  # the server closed it while idle (or sent what no request asked for)
        return conn

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.append((conn, time.monotonic()))


def _readable(sock: Any) -> bool:
    """An idle connection with something to read has been closed by the server."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
