"""A lean HTTP/1.1 keep-alive pool over plain sockets, for the agent's own requests.

httpx spends about 1 ms of CPU on each request in its client, httpcore and h11 layers (cookies, auth and
redirect hooks, event objects); http.client still spends half a millisecond (header checks, the email
parser for the response's headers). An agent sends one request per no-op task, so that was a fifth of its
CPU per task (docs/benchmarks.md, section A). This pool writes the request in one `sendall` and reads the
answer's status line, headers and body (Content-Length, chunked, or until the server closes) itself: a
third of http.client's CPU. It serves plain `http://` coordinators that no proxy setting covers (`fits`);
anything else (https, a proxy, an injected httpx transport) stays with httpx, which knows about
certificates and proxies.

Like httpcore it checks an idle connection before reusing it (a server that closed it, e.g. gunicorn's
keep-alive timeout, left it readable), closes one idle longer than IDLE_EXPIRY_S itself, and never retries
a request itself: a connection that fails is closed and the error (an OSError) raised, for the caller's
retry rule (worker_agent/backoff.py).
"""

from __future__ import annotations

import json as jsonlib
import select
import socket
import threading
import time
import urllib.parse
import urllib.request
from typing import Any, BinaryIO

import httpx

_USER_AGENT = "mito-agent"
_LINE_MAX = 65536  # bytes of a status or header line, as http.client allows
_HEADERS_MAX = 100

# An idle connection is closed by the client after this long, as httpx's pool does (keepalive_expiry): the
# coordinator keeps one open for 30 s (app/server.py; a load balancer in front, above 5 s), so the client
# ends it, never the server just as a request goes out on it. The readable check alone does not cover that
# race, and the agent's heartbeat comes every 30 s (MITO_HEARTBEAT_INTERVAL), when the coordinator closes.
IDLE_EXPIRY_S = 5.0


class ProtocolError(ConnectionError):
    """The server answered something that is not an HTTP/1.1 response this pool can read."""


def fits(base_url: str) -> bool:
    """Whether the pool can serve `base_url`: plain http, and no proxy from the environment applies."""
    url = urllib.parse.urlsplit(base_url)
    if url.scheme != "http" or not url.hostname:
        return False
    proxies = urllib.request.getproxies()
    if proxies.get("http") or proxies.get("all"):
        return bool(urllib.request.proxy_bypass(url.hostname))
    return True


class _Connection:
    """One socket to the server and its buffered reader."""

    def __init__(self, host: str, port: int, timeout: float):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader: BinaryIO = self.sock.makefile("rb")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def stale(self) -> bool:
        """An idle connection with something to read has been closed by the server."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))


class KeepAlivePool:
    """Idle keep-alive connections to one `http://host:port`, one request on each at a time (thread-safe)."""

    def __init__(self, base_url: str, timeout: float):
        url = urllib.parse.urlsplit(base_url)
        self.host = url.hostname or ""
        self.port = url.port or 80
        self.netloc = url.netloc.rpartition("@")[2]
        self.prefix = url.path.rstrip("/")
        self.timeout = timeout
        self._idle: list[tuple[_Connection, float]] = []  # and when each went idle
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
        """Send one request and read its whole answer; OSError (ProtocolError among them) on failure."""
        body = b"" if json is None else jsonlib.dumps(json, separators=(",", ":")).encode()
        if any("\r" in f or "\n" in f for pair in (headers or {}).items() for f in pair):
            raise ValueError("a request header carries a line break")
        lines = [
            f"{method} {self.prefix}{path} HTTP/1.1",
            f"Host: {self.netloc}",
            f"User-Agent: {_USER_AGENT}",
        ]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if json is not None:
            lines.append("Content-Type: application/json")
        if body or method not in ("GET", "HEAD"):
            lines.append(f"Content-Length: {len(body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        wait = self.timeout if timeout is None else timeout
        conn = self._take(wait)
        try:
            conn.sock.settimeout(wait)
            conn.sock.sendall(head.encode("latin-1") + body)
            status, fields, content, reusable = _read_response(conn.reader, method)
        except BaseException:
            conn.close()
            raise
        if reusable:
            self._give_back(conn)
        else:
            conn.close()
        return httpx.Response(status, headers=fields, content=content)

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    def _take(self, timeout: float) -> _Connection:
        while True:
            with self._lock:
                conn, since = self._idle.pop() if self._idle else (None, 0.0)
            if conn is None:
                return _Connection(self.host, self.port, timeout)
            if time.monotonic() - since <= IDLE_EXPIRY_S and not conn.stale():
                return conn
            conn.close()  # idle too long, or the server closed it while idle (or sent what no one asked for)

    def _give_back(self, conn: _Connection) -> None:
        with self._lock:
            self._idle.append((conn, time.monotonic()))


def _line(reader: BinaryIO) -> bytes:
    line = reader.readline(_LINE_MAX + 1)
    if len(line) > _LINE_MAX:
        raise ProtocolError("a response line is too long")
    return line


def _read_response(reader: BinaryIO, method: str) -> tuple[int, list[tuple[str, str]], bytes, bool]:
    """Read one response: its status, headers, body, and whether the connection may carry another."""
    while True:
        status_line = _line(reader)
        if not status_line:
            raise ProtocolError("the server closed the connection without answering")
        version, _, rest = status_line.decode("latin-1").partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
        status = int(code)
        fields: list[tuple[str, str]] = []
        while (line := _line(reader)) not in (b"\r\n", b"\n"):
            if not line:
                raise ProtocolError("the server closed the connection in the response's headers")
            if len(fields) >= _HEADERS_MAX:
                raise ProtocolError("too many response headers")
            name, _, value = line.decode("latin-1").partition(":")
            fields.append((name.strip(), value.strip()))
        if not 100 <= status < 200:
            break  # an interim 1xx answer is followed by the real one
    found = {name.lower(): value for name, value in fields}
    connection = found.get("connection", "").lower()
    reusable = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
    if method == "HEAD" or status in (204, 304):
        return status, fields, b"", reusable
    if "chunked" in found.get("transfer-encoding", "").lower():
        return status, fields, _read_chunked(reader), reusable
    if "content-length" in found:
        try:
            length = int(found["content-length"])
        except ValueError:
            raise ProtocolError(f"a bad Content-Length: {found['content-length']!r}") from None
        content = reader.read(length)
        if len(content) < length:
            raise ProtocolError("the server closed the connection in the response's body")
        return status, fields, content, reusable
    return status, fields, reader.read(), False  # the body ends where the connection does


def _read_chunked(reader: BinaryIO) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = _line(reader).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise ProtocolError(f"a bad chunk size: {size_line[:20]!r}") from None
        if size == 0:
            while _line(reader) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        chunk = reader.read(size)
        if len(chunk) < size:
            raise ProtocolError("the server closed the connection in a chunk")
        parts.append(chunk)
        _line(reader)  # the chunk's CRLF
